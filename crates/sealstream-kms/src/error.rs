//! The key-provider error type.

use thiserror::Error;

/// Errors from making, wrapping and unwrapping data keys.
///
/// Messages name the key (ARN, key id, fingerprint) and the reason; they
/// never contain key material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the format crate (header limits, randomness).
    #[error(transparent)]
    Format(#[from] sealstream_format::Error),

    /// No configured provider could unwrap any of the object's key records.
    #[error("no configured key can unwrap this object (it was sealed for {sealed_for}){detail}")]
    NoMatchingKey {
        /// The providers and key ids the object's records name.
        sealed_for: String,
        /// What the tried providers said, if any were tried.
        detail: String,
    },

    /// The record was tried and the key material did not authenticate it:
    /// a wrong key, or the wrapped key or its context was modified.
    #[error("{provider} key {key_id} cannot unwrap this data key: {reason}")]
    UnwrapFailed {
        /// Provider id.
        provider: &'static str,
        /// The key that was tried.
        key_id: String,
        /// Why.
        reason: String,
    },

    /// A record of this provider is malformed (wrong length, bad version).
    #[error("malformed {provider} key record: {reason}")]
    MalformedRecord {
        /// Provider id.
        provider: &'static str,
        /// Why.
        reason: String,
    },

    /// A local key file or recipient key is unusable.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        reason: String,
    },

    /// The configuration is invalid (no providers, bad option).
    #[error("invalid key configuration: {0}")]
    Config(String),

    /// AWS KMS (or a KMS-compatible server) failed.
    #[error("AWS KMS key {key_id}: {reason}")]
    Kms {
        /// The key ARN or alias.
        key_id: String,
        /// What KMS said, classified (access denied, disabled, not found,
        /// wrong encryption context, throttled, unreachable).
        reason: String,
        /// Whether retrying later may help.
        retryable: bool,
    },

    /// A local I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
