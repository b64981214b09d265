//! What the command prints: results (human text or one JSON object each),
//! notes on stderr, and errors.

use std::io::{self, Write};

use serde_json::Value;

use crate::error::CliError;

/// How to print.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    /// One JSON object per result.
    pub(crate) json: bool,
    /// No notes on stderr.
    pub(crate) quiet: bool,
}

impl Output {
    /// Prints one result. `data_on_stdout` says that stdout carries the
    /// command's data (plaintext or a sealed object), so the result goes to
    /// stderr instead; human text is then printed only as a note.
    pub(crate) fn result(&self, value: &Value, human: &str, data_on_stdout: bool) {
        if self.json {
            let line = value.to_string();
            if data_on_stdout {
                let _ = writeln!(io::stderr().lock(), "{line}");
            } else {
                let _ = writeln!(io::stdout().lock(), "{line}");
            }
        } else if data_on_stdout {
            self.note(human);
        } else if !human.is_empty() {
            let _ = writeln!(io::stdout().lock(), "{human}");
        }
    }

    /// A note for people on stderr (where things were created, what to do
    /// next), unless `--quiet`.
    pub(crate) fn note(&self, text: &str) {
        if !self.quiet && !text.is_empty() {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    /// Prints an error on stderr: `error: ...` and a hint, or a JSON object
    /// with `error`, `class`, `exit_code` and `hint`.
    pub(crate) fn error(&self, e: &CliError) {
        let mut err = io::stderr().lock();
        if self.json {
            let v = serde_json::json!({
                "error": e.message(),
                "class": e.class().name(),
                "exit_code": e.class().code(),
                "hint": e.hint_text(),
            });
            let _ = writeln!(err, "{v}");
        } else {
            let _ = writeln!(err, "error: {}", e.message());
            if let Some(h) = e.hint_text() {
                let _ = writeln!(err, "  hint: {h}");
            }
        }
    }
}
