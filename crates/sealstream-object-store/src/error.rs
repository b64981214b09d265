//! The crate's error type and its mapping onto `object_store::Error`.

/// What went wrong in the sealing layer. Every [`SealedStore`](crate::SealedStore)
/// method returns `object_store::Error`; errors of the sealing layer travel
/// as its `source` ([`Error::from_object_store`] finds them again):
///
/// | this error | `object_store::Error` variant |
/// |---|---|
/// | [`Error::WrongKey`] | `PermissionDenied` |
/// | every other | `Generic { store: "SealedStore", .. }` |
///
/// Errors of the inner store (`NotFound`, `Precondition`, `NotModified`,
/// `AlreadyExists`, …) are returned unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object failed authentication: it was modified, truncated,
    /// extended or is malformed. No plaintext of the failing chunk was
    /// released.
    #[error("{path}: {source}")]
    Tampered {
        /// The object's location.
        path: String,
        /// What the format layer found.
        #[source]
        source: sealstream_format::Error,
    },
    /// The object is bound to another name than its location (it was copied
    /// or renamed below this wrapper, without re-wrapping).
    #[error("{path}: {source}")]
    NameMismatch {
        /// The object's location.
        path: String,
        /// The format error naming both names.
        #[source]
        source: sealstream_format::Error,
    },
    /// The stored object is not a sealstream object (its stored size is no
    /// valid sealstream object length, or its magic bytes do not match).
    #[error(
        "{path}: not a sealstream object ({detail}); it was written to the inner store \
         without this wrapper: read it from the inner store directly, or seal it again"
    )]
    NotSealstream {
        /// The object's location.
        path: String,
        /// What gave it away.
        detail: String,
    },
    /// No configured key could unwrap the object's data key (or a record
    /// unwrapped to a key that fails the commitment).
    #[error("{path}: {source}")]
    WrongKey {
        /// The object's location.
        path: String,
        /// The key ring's error, listing what the object was sealed for.
        #[source]
        source: sealstream_kms::Error,
    },
    /// Sealing, wrapping or unwrapping failed for another reason (KMS
    /// unreachable or throttled, limits of the format).
    #[error("{path}: {source}")]
    Key {
        /// The object's location.
        path: String,
        /// The key ring's error.
        #[source]
        source: sealstream_kms::Error,
    },
    /// A multipart upload was used in a way the sealed layout cannot
    /// represent.
    #[error("{path}: {reason}")]
    Upload {
        /// The object's location.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Shorthand for results of this crate's internals.
pub(crate) type Result<T, E = object_store::Error> = std::result::Result<T, E>;

/// The `store` name in `object_store::Error::Generic`.
pub const STORE_NAME: &str = "SealedStore";

impl Error {
    /// The sealing-layer error carried by an `object_store::Error` that a
    /// [`SealedStore`](crate::SealedStore) returned, if any.
    pub fn from_object_store(e: &object_store::Error) -> Option<&Error> {
        use std::error::Error as _;
        e.source().and_then(|s| s.downcast_ref::<Error>())
    }

    /// True for every authentication failure of stored bytes (tampering,
    /// corruption, truncation, a renamed object, a foreign object).
    pub fn is_tampering(&self) -> bool {
        matches!(
            self,
            Error::Tampered { .. } | Error::NameMismatch { .. } | Error::NotSealstream { .. }
        )
    }

    /// True when no configured key opens the object.
    pub fn is_wrong_key(&self) -> bool {
        matches!(self, Error::WrongKey { .. })
    }

    pub(crate) fn format(path: &str, source: sealstream_format::Error) -> Self {
        match source {
            sealstream_format::Error::NameMismatch { .. } => Error::NameMismatch {
                path: path.to_owned(),
                source,
            },
            sealstream_format::Error::NotSealstream
            | sealstream_format::Error::UnsupportedVersion(_)
            | sealstream_format::Error::UnsupportedSuite(_) => Error::NotSealstream {
                path: path.to_owned(),
                detail: source.to_string(),
            },
            _ => Error::Tampered {
                path: path.to_owned(),
                source,
            },
        }
    }

    pub(crate) fn kms(path: &str, source: sealstream_kms::Error) -> Self {
        match source {
            sealstream_kms::Error::Format(f) => Error::format(path, f),
            e @ sealstream_kms::Error::NoMatchingKey { .. } => Error::WrongKey {
                path: path.to_owned(),
                source: e,
            },
            e => Error::Key {
                path: path.to_owned(),
                source: e,
            },
        }
    }
}

impl From<Error> for object_store::Error {
    fn from(e: Error) -> Self {
        match &e {
            Error::WrongKey { path, .. } => object_store::Error::PermissionDenied {
                path: path.clone(),
                source: Box::new(e),
            },
            _ => object_store::Error::Generic {
                store: STORE_NAME,
                source: Box::new(e),
            },
        }
    }
}

pub(crate) fn generic(
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE_NAME,
        source: source.into(),
    }
}
