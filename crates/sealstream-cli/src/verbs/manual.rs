//! `completions` and `man`: generated from the command line's definition
//! (clap_complete, clap_mangen), so they never disagree with `--help`.

use std::io::Write;
use std::path::Path;

use crate::cli::{CompletionsArgs, ManArgs};
use crate::error::{CliError, Result};
use crate::local::AtomicOutput;

use crate::cli::command;

pub(crate) fn completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "sealstream", &mut out);
    write_stdout(&out)
}

pub(crate) fn man(a: &ManArgs) -> Result<()> {
    let cmd = command();
    let Some(dir) = &a.out else {
        return write_stdout(&render(&cmd)?);
    };
    if !dir.is_dir() {
        return Err(
            CliError::usage(format!("{} is not a folder", dir.display()))
                .hint("create it first (`mkdir -p DIR`)"),
        );
    }
    write_page(dir, "sealstream.1", &render(&cmd)?)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        // A verb's page is named and titled sealstream-VERB.
        let name = format!("sealstream-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("sealstream {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        write_page(dir, &format!("{name}.1"), &render(&page)?)?;
    }
    Ok(())
}

fn render(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| {
            CliError::new(
                crate::error::Class::Internal,
                format!("rendering a man page: {e}"),
            )
        })?;
    Ok(out)
}

/// Writes one page under a temporary name and renames it into place.
fn write_page(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let dest = dir.join(name);
    let out = AtomicOutput::create(&dest, true)?;
    out.file()
        .write_all(bytes)
        .map_err(|e| CliError::io("writing", &dest, &e))?;
    out.commit()
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("writing", Path::new("stdout"), &e))
}
