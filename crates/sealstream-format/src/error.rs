//! The format crate's error type.

use std::fmt;
use std::io;

/// Everything that can go wrong while sealing or opening a sealstream object.
///
/// Every message says what is wrong, where (chunk index, header field) and,
/// where there is something to do, what to do. No variant ever carries key
/// bytes or plaintext.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The input does not start with the sealstream magic bytes.
    NotSealstream,
    /// The header declares a format version this library does not implement.
    UnsupportedVersion(u8),
    /// The header declares a suite id this library does not implement.
    UnsupportedSuite(u8),
    /// A header field is not encoded canonically or holds an invalid value.
    MalformedHeader {
        /// The field, named as in docs/FORMAT.md.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A count or length is above the limit docs/FORMAT.md sets for it.
    LimitExceeded {
        /// What was counted or measured.
        what: &'static str,
        /// The value found (or requested).
        actual: u64,
        /// The largest allowed value.
        limit: u64,
    },
    /// An argument given by the caller is invalid (for example a context key
    /// in the reserved `sealstream:` namespace).
    InvalidInput {
        /// What was given.
        what: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The object is bound to another name than the one it was read under
    /// (it was moved or copied without re-wrapping, or is the wrong object).
    NameMismatch {
        /// The name the caller expected (the object's key in its store).
        expected: String,
        /// The name the header is bound to (`""`: bound to no name).
        found: String,
    },
    /// The key commitment does not match: the data key is wrong, or the
    /// header's bound section (version, suite, context) or the salt was modified.
    CommitmentMismatch,
    /// Chunk `index` failed authentication: the object was modified or corrupted.
    ChunkAuthentication {
        /// Zero-based chunk index.
        index: u64,
        /// Whether it was read as the final chunk (whose failure can also
        /// mean the object was truncated or extended).
        final_chunk: bool,
    },
    /// The object ends before its final chunk.
    Truncated {
        /// Which part was cut short.
        detail: &'static str,
    },
    /// Bytes follow the final chunk.
    TrailingData,
    /// The object would exceed 2^38 chunks, the C2SP limit.
    TooLarge,
    /// A range or offset is outside the object.
    OutOfRange {
        /// The requested offset.
        offset: u64,
        /// The plaintext length of the object.
        len: u64,
    },
    /// The system random number generator failed.
    Random,
    /// An invariant of this library did not hold (key derivation or AEAD
    /// set-up refused a value it always accepts, a buffer shorter than its
    /// chunks): a bug, never a property of the input.
    Internal(&'static str),
    /// The underlying reader or writer failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotSealstream => f.write_str(
                "not a sealstream object: the magic bytes at offset 0 do not match \
                 (was it sealed by another tool, or is this the plaintext?)",
            ),
            Error::UnsupportedVersion(1) => f.write_str(
                "unsupported sealstream format version 1: format version 1 was a pre-release \
                 format whose key records were not bound to their object; this build reads \
                 version 2 only (decrypt it with the pre-release build that wrote it and \
                 encrypt it again)",
            ),
            Error::UnsupportedVersion(v) => write!(
                f,
                "unsupported sealstream format version {v}: this build reads version 2; \
                 upgrade sealstream to open it"
            ),
            Error::UnsupportedSuite(s) => write!(
                f,
                "unsupported suite id {s}: this build knows suites 1 (AES-256-GCM) and \
                 2 (XChaCha20-Poly1305); upgrade sealstream to open it"
            ),
            Error::MalformedHeader { field, reason } => {
                write!(f, "malformed sealstream header: field `{field}` {reason}")
            }
            Error::LimitExceeded {
                what,
                actual,
                limit,
            } => write!(f, "{what} is {actual}, above the limit of {limit}"),
            Error::InvalidInput { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::NameMismatch { expected, found } if found.is_empty() => write!(
                f,
                "object name mismatch: expected an object bound to the name {expected:?}, but \
                 this object is bound to no name (it was encrypted outside a store): re-wrap it \
                 for its name, or read it without a name check"
            ),
            Error::NameMismatch { expected, found } => write!(
                f,
                "object name mismatch: expected an object bound to the name {expected:?}, but \
                 this object is bound to {found:?}: it was copied or renamed without re-wrapping its key \
                 records for the new name, or it is another object (read it under its bound \
                 name, or re-wrap it for the new one)"
            ),
            Error::CommitmentMismatch => f.write_str(
                "key commitment mismatch: the data key is wrong for this object, or its header \
                 (version, suite, encryption context) or salt was modified",
            ),
            Error::ChunkAuthentication {
                index,
                final_chunk: false,
            } => write!(
                f,
                "chunk {index} failed authentication: the object was modified or corrupted; \
                 no plaintext of it was released"
            ),
            Error::ChunkAuthentication {
                index,
                final_chunk: true,
            } => write!(
                f,
                "chunk {index} (the final chunk) failed authentication: the object was modified, \
                 truncated or extended; no plaintext of it was released"
            ),
            Error::Truncated { detail } => write!(
                f,
                "truncated object: {detail}; it was cut short in transfer or storage \
                 (re-fetch it, or restore it from another copy)"
            ),
            Error::TrailingData => f.write_str(
                "trailing data after the final chunk: the object was modified or two objects \
                 were concatenated",
            ),
            Error::TooLarge => f.write_str(
                "object too large: the format allows at most 2^38 chunks (4 PiB - 1 byte)",
            ),
            Error::OutOfRange { offset, len } => write!(
                f,
                "offset {offset} is past the end of the plaintext ({len} bytes)"
            ),
            Error::Random => f.write_str("the system random number generator failed"),
            Error::Internal(what) => write!(
                f,
                "internal error: {what} (a bug in sealstream, not a problem with the data; \
                 please report it)"
            ),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    /// Unwraps an `io::Error` that carries a format [`Error`] (as the `Read`
    /// and `Write` adapters produce) back into that error.
    fn from(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(inner)) => return *inner,
                Some(Err(other)) => return Error::Io(io::Error::other(other)),
                None => return Error::Io(io::Error::other("unknown I/O error")),
            }
        }
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io(inner) => return io::Error::new(inner.kind(), e),
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            Error::InvalidInput { .. } | Error::OutOfRange { .. } => io::ErrorKind::InvalidInput,
            Error::Internal(_) => io::ErrorKind::Other,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

impl Error {
    /// Finds the format error inside an `io::Error` returned by one of this
    /// crate's `Read`/`Write` adapters, if there is one.
    pub fn from_io(e: &io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    pub(crate) fn malformed(field: &'static str, reason: &'static str) -> Self {
        Error::MalformedHeader { field, reason }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
