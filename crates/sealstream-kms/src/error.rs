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
        /// The classified reason, for programs.
        kind: KmsErrorKind,
    },

    /// A local I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why an AWS KMS call failed, classified from the error code (or the
/// transport failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// The credentials may not use the key (`AccessDeniedException`), or the
    /// credentials themselves were rejected.
    AccessDenied,
    /// The key is disabled, pending deletion or pending import
    /// (`DisabledException`, `KMSInvalidStateException`).
    Disabled,
    /// No such key (`NotFoundException`): wrong ARN, Region or account.
    NotFound,
    /// The wrapped key does not authenticate under this key and encryption
    /// context (`InvalidCiphertextException`): the object's context was
    /// changed, or the record was modified.
    InvalidCiphertext,
    /// The record was wrapped under another key (`IncorrectKeyException`;
    /// some KMS-compatible servers say `AccessDeniedException` instead).
    IncorrectKey,
    /// The key cannot be used for this (`InvalidKeyUsageException`,
    /// `InvalidGrantTokenException`, `ValidationException`): a wrong key
    /// type, a bad grant token or a bad request.
    InvalidRequest,
    /// Rate limited (`ThrottlingException`), after every retry.
    Throttled,
    /// KMS could not be reached or did not answer in time, after every
    /// retry.
    Unreachable,
    /// KMS had an internal or dependency failure, after every retry.
    ServiceUnavailable,
    /// The answer broke an invariant (a plaintext of the wrong length, an
    /// unexpected key id) or the error was not recognised.
    Other,
}

impl Error {
    /// Whether retrying the same operation later may succeed (throttling,
    /// an unreachable or failing KMS).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Kms {
                retryable: true,
                ..
            }
        )
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
