//! `sealstream`: client-side encryption for files, folders of objects and
//! S3. See docs/CLI.md for the command reference.

#![forbid(unsafe_code)]

mod app;
mod aws;
// Shared with benches/examples/bench_cli.rs, which includes it by path.
#[allow(dead_code)]
mod bench;
mod cancel;
mod cli;
mod config;
mod error;
mod journal;
mod keys;
mod local;
mod location;
mod output;
mod progress;
mod redact;
mod s3;
mod store;
mod testhook;
mod util;
mod verbs;

use std::process::ExitCode;
use std::time::Duration;

use clap::FromArgMatches;

use crate::app::App;
use crate::cli::Cli;
use crate::error::{Class, CliError};
use crate::output::Output;

/// How long cleanup (aborting an upload, removing a temporary file) may
/// take after Ctrl-C before the process exits anyway.
const CLEANUP_GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    // A panic is a bug: say so in one line (never a backtrace), remove
    // temporary outputs and exit with the internal-error code.
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{place}: {}; please report it",
            redact::redact(&panic_message(info))
        );
        local::remove_temp_files();
        std::process::exit(i32::from(Class::Internal.code()));
    }));
    let parsed = cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => return parse_error(&e),
    };
    let out = Output {
        json: cli.global.json,
        quiet: cli.global.quiet,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            out.error(&CliError::new(
                Class::Internal,
                format!("cannot start the async runtime: {e}"),
            ));
            return ExitCode::from(Class::Internal.code());
        }
    };
    let result = runtime.block_on(run_with_ctrl_c(cli, out));
    // Blocking workers that are still reading stdin must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Like `cat | head`: the reader left; nothing to say.
        Err(e) if e.class() == Class::BrokenPipe => ExitCode::from(e.class().code()),
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.class().code())
        }
    }
}

/// Reports a command-line parse error. clap prints help and version to
/// stdout (exit 0) and usage errors to stderr (exit 2); with `--json`
/// anywhere on the command line a usage error is one JSON error object on
/// stderr like every other error.
fn parse_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    if informational || !json {
        let _ = e.print();
        return ExitCode::from(code);
    }
    // The message is what precedes clap's `Usage:` line; the rest (tips,
    // usage, where to look) is the hint.
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let split = lines
        .iter()
        .position(|l| l.starts_with("Usage:") || l.starts_with("tip:"))
        .unwrap_or(lines.len());
    let (message, rest) = lines.split_at(split);
    let message = message.join(" ");
    let message = message.trim_start_matches("error: ");
    let err = CliError::usage(redact::redact(message)).hint(redact::redact(&rest.join("; ")));
    Output {
        json: true,
        quiet: false,
    }
    .error(&err);
    ExitCode::from(code)
}

/// Runs the command; on Ctrl-C (SIGINT), SIGTERM or SIGHUP, signals it to
/// stop, waits (bounded) for it to clean up (abort the upload, remove the
/// temporary file), and reports the interruption. The exit code is 128 plus
/// the signal's number (130, 143, 129), as a shell reports a process killed
/// by that signal.
async fn run_with_ctrl_c(cli: Cli, out: Output) -> Result<(), CliError> {
    let work = run(cli, out);
    tokio::pin!(work);
    let mut signals = cancel::Signals::new();
    let first = tokio::select! {
        r = &mut work => return r,
        s = signals.next() => s,
    };
    cancel::cancel_by(first);
    out.note(&format!(
        "sealstream: interrupted by {}; cleaning up (send it again to quit at once)",
        first.name()
    ));
    tokio::select! {
        _ = &mut work => {}
        _ = tokio::time::sleep(CLEANUP_GRACE) => {}
        _ = signals.next() => {}
    }
    local::remove_temp_files();
    Err(CliError::new(
        Class::Interrupted,
        format!("interrupted by {}", first.name()),
    ))
}

async fn run(cli: Cli, out: Output) -> Result<(), CliError> {
    let app = App::new(cli.global, out)?;
    verbs::dispatch(&app, cli.command).await
}

fn panic_message(info: &std::panic::PanicHookInfo<'_>) -> String {
    if let Some(s) = info.payload().downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}
