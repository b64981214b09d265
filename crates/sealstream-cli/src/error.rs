//! Failure classes, exit codes and error messages.
//!
//! Every error the command reports has a [`Class`], which picks the exit
//! code, a message that names what failed and where, and usually a hint
//! saying what to do. Messages never hold key bytes, plaintext, credentials
//! or a presigned URL's signature: everything printed passes through
//! [`crate::redact::redact`].

use std::fmt;
use std::io;
use std::path::Path;

/// What kind of failure ended the command; each has its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// A bug or an unclassified failure.
    Internal,
    /// Bad arguments, options, configuration or environment.
    Usage,
    /// A file, object, bucket or store that does not exist.
    NotFound,
    /// The object failed authentication: tampered, truncated, corrupted,
    /// not a sealstream object, or sealed with another encryption context.
    Auth,
    /// No configured key can open the object, or a key is unusable.
    Key,
    /// S3, KMS or the network failed (unreachable, throttled, denied).
    Service,
    /// Reading or writing a local file failed (permissions, disk full).
    Io,
    /// Interrupted by Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
    /// The reader of the output went away (`sealstream cat big | head`):
    /// reported by exit code only, as `cat` is.
    BrokenPipe,
}

impl Class {
    /// The process exit code for this class (for `Interrupted`, 128 plus
    /// the number of the signal that interrupted it).
    pub(crate) fn code(self) -> u8 {
        match self {
            Class::Internal => 1,
            Class::Usage => 2,
            Class::NotFound => 3,
            Class::Auth => 4,
            Class::Key => 5,
            Class::Service => 6,
            Class::Io => 7,
            Class::Interrupted => crate::cancel::exit_code(),
            // 128 + SIGPIPE, what a shell shows for `cat` killed by it.
            Class::BrokenPipe => 141,
        }
    }

    /// A short stable name, used in `--json` error objects.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Internal => "internal",
            Class::Usage => "usage",
            Class::NotFound => "not-found",
            Class::Auth => "authentication-failed",
            Class::Key => "key-unavailable",
            Class::Service => "service",
            Class::Io => "local-io",
            Class::Interrupted => "interrupted",
            Class::BrokenPipe => "broken-pipe",
        }
    }
}

/// The exit code table for `sealstream --help` and docs/CLI.md.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    internal error (a bug; please report it)
  2    usage: bad arguments, options, configuration or environment
  3    not found: no such file, object, bucket or store
  4    authentication failed: the object was tampered with, truncated or corrupted,
       is not a sealstream object, or was sealed with another encryption context
  5    key unavailable: no configured key can open the object, or a key is unusable
  6    network or service: S3, KMS or an HTTP endpoint failed or refused
  7    local I/O: reading or writing a local file failed
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; 129 by SIGHUP: partial uploads
       were aborted and temporary files removed
  141  the output's reader went away (`sealstream cat OBJ | head`); no message, like cat

Configuration: --config FILE, $SEALSTREAM_CONFIG, or $SEALSTREAM_HOME/config.toml,
$XDG_CONFIG_HOME/sealstream/config.toml (see `sealstream config show`).";

/// An error to report to the user: its class, what failed and where, and
/// what to do about it.
#[derive(Debug)]
pub(crate) struct CliError {
    class: Class,
    message: String,
    hint: Option<String>,
}

/// Shorthand for the command's results.
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An error of `class` with `message`.
    pub(crate) fn new(class: Class, message: impl Into<String>) -> Self {
        CliError {
            class,
            message: message.into(),
            hint: None,
        }
    }

    /// A usage error.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Class::Usage, message)
    }

    /// Adds (or replaces) the hint saying what to do.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The failure class.
    pub(crate) fn class(&self) -> Class {
        self.class
    }

    /// The message, redacted.
    pub(crate) fn message(&self) -> String {
        crate::redact::redact(&self.message)
    }

    /// The hint, redacted.
    pub(crate) fn hint_text(&self) -> Option<String> {
        self.hint.as_deref().map(crate::redact::redact)
    }

    /// Prefixes the message with where it happened (`reading backups/db.tar`).
    pub(crate) fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The error for a failed local file operation on `path`.
    pub(crate) fn io(what: &str, path: &Path, e: &io::Error) -> Self {
        let shown = path.display();
        match e.kind() {
            io::ErrorKind::NotFound => CliError::new(
                Class::NotFound,
                format!("{what} {shown}: no such file or folder"),
            )
            .hint("check the path"),
            io::ErrorKind::BrokenPipe => {
                CliError::new(Class::BrokenPipe, format!("{what} {shown}: broken pipe"))
            }
            io::ErrorKind::PermissionDenied => {
                CliError::new(Class::Io, format!("{what} {shown}: permission denied"))
                    .hint("check the file's owner and mode")
            }
            _ => CliError::new(Class::Io, format!("{what} {shown}: {e}")),
        }
    }

    /// The error for a format-crate failure while handling `object`.
    pub(crate) fn format(object: &str, e: &sealstream_format::Error) -> Self {
        use sealstream_format::Error as F;
        let message = format!("{object}: {e}");
        let (class, hint) = match e {
            F::NotSealstream => (
                Class::Auth,
                Some("check that this is a sealstream object (`sealstream inspect`)"),
            ),
            F::UnsupportedVersion(_) | F::UnsupportedSuite(_) => (Class::Auth, None),
            F::MalformedHeader { .. } | F::LimitExceeded { .. } => (
                Class::Auth,
                Some("the header is damaged; restore the object from another copy"),
            ),
            F::CommitmentMismatch
            | F::ChunkAuthentication { .. }
            | F::Truncated { .. }
            | F::TrailingData => (
                Class::Auth,
                Some(
                    "do not trust any output already written; restore the object from another copy",
                ),
            ),
            F::NameMismatch { .. } => (
                Class::Auth,
                Some(
                    "read the object under the name it is bound to; to rename an object, use \
                     `sealstream mv OLD NEW` (it re-binds the keys to the new name)",
                ),
            ),
            F::InvalidInput { .. } | F::OutOfRange { .. } | F::TooLarge => (Class::Usage, None),
            F::Io(inner) => return io_class(object, inner),
            _ => (Class::Internal, None),
        };
        let err = CliError::new(class, message);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }

    /// The error for a key-provider failure while handling `object`.
    pub(crate) fn kms(object: &str, e: &sealstream_kms::Error) -> Self {
        use sealstream_kms::Error as K;
        match e {
            K::Format(inner) => Self::format(object, inner),
            K::NoMatchingKey { .. } | K::UnwrapFailed { .. } => {
                CliError::new(Class::Key, format!("{object}: {e}")).hint(
                    "pass the key that sealed it (--key-file, --identity or --kms-key), \
                     or set it in the config file",
                )
            }
            K::MalformedRecord { .. } => CliError::new(Class::Auth, format!("{object}: {e}")),
            K::KeyFile { .. } => CliError::new(Class::Key, e.to_string()),
            K::Config(_) => CliError::usage(e.to_string()),
            K::Kms {
                retryable: true,
                kind,
                ..
            } => CliError::new(Class::Service, prefixed(object, e)).hint(match kind {
                sealstream_kms::KmsErrorKind::Unreachable => {
                    "the KMS endpoint is --kms-endpoint-url (not --endpoint-url); retry when it \
                     answers"
                }
                _ => "KMS is busy or failing: retry later",
            }),
            K::Kms { kind, .. } => {
                CliError::new(Class::Key, prefixed(object, e)).hint(match kind {
                    sealstream_kms::KmsErrorKind::NotFound => {
                        "list the keys the credentials see with `aws kms list-aliases` (same \
                     --region and --profile)"
                    }
                    sealstream_kms::KmsErrorKind::AccessDenied => {
                        "check the credentials (--profile) and the key policy"
                    }
                    _ => "check the key's state and that your credentials may use it",
                })
            }
            K::Io(inner) => io_class(object, inner),
            _ => CliError::new(Class::Internal, format!("{object}: {e}")),
        }
    }
}

/// `object: e`, or only `e` when it names `object` already (a KMS error
/// names its key: no doubled "AWS KMS key K: AWS KMS key K:").
fn prefixed(object: &str, e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    if object.is_empty() || text.starts_with(object) {
        text
    } else {
        format!("{object}: {text}")
    }
}

/// An I/O error reported while processing `object`, which may carry a
/// format error (the `Read`/`Write` adapters wrap them).
pub(crate) fn io_class(object: &str, e: &io::Error) -> CliError {
    if let Some(inner) = sealstream_format::Error::from_io(e) {
        return CliError::format(object, inner);
    }
    if crate::cancel::is_cancel_error(e) {
        return CliError::new(Class::Interrupted, "interrupted");
    }
    let class = match e.kind() {
        io::ErrorKind::NotFound => Class::NotFound,
        io::ErrorKind::BrokenPipe => Class::BrokenPipe,
        _ => Class::Io,
    };
    CliError::new(class, format!("{object}: {e}"))
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        if let Some(h) = self.hint_text() {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl From<sealstream_format::Error> for CliError {
    fn from(e: sealstream_format::Error) -> Self {
        CliError::format("object", &e)
    }
}
