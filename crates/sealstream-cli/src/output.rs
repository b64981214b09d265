//! What the command prints: results (human text or one JSON object each),
//! notes on stderr, and errors.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::Value;

use crate::error::CliError;

/// The version of the JSON output (docs/JSON.md): the `schema` field of
/// every JSON object the command prints, results and errors. Raised when a
/// field is removed, renamed or changes meaning; new fields keep it.
pub(crate) const JSON_SCHEMA: u64 = 1;

/// `value` with the `schema` field (objects only).
pub(crate) fn with_schema(value: &Value) -> Value {
    let mut v = value.clone();
    if let Value::Object(m) = &mut v {
        m.insert("schema".to_owned(), Value::from(JSON_SCHEMA));
    }
    v
}

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
            let line = with_schema(value).to_string();
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

    /// One failed item of a run that goes on: its JSON object on stdout
    /// with `--json`, else its line on stderr (even with `--quiet`).
    pub(crate) fn failure(&self, value: &Value, human: &str) {
        if self.json {
            let _ = writeln!(io::stdout().lock(), "{}", with_schema(value));
        } else {
            let _ = writeln!(io::stderr().lock(), "{human}");
        }
    }

    /// A note for people on stderr (where things were created, what to do
    /// next), unless `--quiet`.
    pub(crate) fn note(&self, text: &str) {
        if !self.quiet && !text.is_empty() {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    /// A note that `--quiet` does not silence (a new secret to back up).
    pub(crate) fn warn(&self, text: &str) {
        if !text.is_empty() {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    /// Prints an error on stderr: `error: ...` and a hint, or a JSON object
    /// with `error`, `class`, `exit_code` and `hint`.
    pub(crate) fn error(&self, e: &CliError) {
        let mut err = io::stderr().lock();
        if self.json {
            let v = serde_json::json!({
                "schema": JSON_SCHEMA,
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

/// Untrusted text (header strings, object and link names) made safe for a
/// terminal: control characters (C0, DEL, C1: newlines, carriage returns,
/// ANSI escapes) and backslashes are written as Rust-style escapes (`\n`,
/// `\u{1b}`, `\\`), everything else as it is. JSON output never uses this:
/// JSON escaping is exact already.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` as one POSIX shell word, for commands the CLI suggests: as it is
/// when it holds only characters no shell treats specially, otherwise in
/// single quotes (a `'` inside written as `'\''`). Callers must not suggest
/// a command for text holding control characters (see [`escape`]): a
/// quoted newline is still a newline on the terminal.
pub(crate) fn shell_quote(s: &str) -> Cow<'_, str> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b);
    if !s.is_empty() && s.bytes().all(plain) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(format!("'{}'", s.replace('\'', "'\\''")))
}

#[cfg(test)]
mod tests {
    use super::{escape, shell_quote};

    #[test]
    fn shell_quote_words() {
        assert_eq!(shell_quote("team=a"), "team=a");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(id)`id`"), "'$(id)`id`'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn escape_control_characters() {
        assert_eq!(escape("plain ü"), "plain ü");
        assert_eq!(escape("a\nb\r\u{1b}[31m\\"), "a\\nb\\r\\u{1b}[31m\\\\");
        assert_eq!(escape("\u{0}\u{7f}\u{9b}"), "\\u{0}\\u{7f}\\u{9b}");
    }
}
