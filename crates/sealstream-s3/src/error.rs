//! The S3 adapter's error type.

use std::io;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;

/// Everything that can go wrong while sealing to or opening from S3.
///
/// Messages name the object (`s3://bucket/key`) and say what happened and,
/// where there is something to do, what to do. No variant carries key
/// bytes, plaintext, credentials or a presigned URL's signature.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The object (or the bucket) does not exist.
    #[error("{object} not found: {detail}")]
    NotFound {
        /// `s3://bucket/key`.
        object: String,
        /// What the server said.
        detail: String,
    },

    /// The credentials in use may not perform this operation.
    #[error("access to {object} denied during {operation}: {detail}")]
    AccessDenied {
        /// `s3://bucket/key`.
        object: String,
        /// The S3 operation.
        operation: &'static str,
        /// What the server said.
        detail: String,
    },

    /// The object does not start with the sealstream magic bytes.
    #[error(
        "{object} is not a sealstream object: its first bytes are not the sealstream magic \
         (was it uploaded without sealstream, or by another tool?)"
    )]
    NotSealstream {
        /// `s3://bucket/key`.
        object: String,
    },

    /// No configured key could unwrap the object's data key.
    #[error("cannot open {object}: {source}")]
    NoKey {
        /// `s3://bucket/key`.
        object: String,
        /// What the key providers said.
        #[source]
        source: sealstream_kms::Error,
    },

    /// A data key was obtained but it does not match the object's key
    /// commitment: the key is wrong, or the header or salt was modified.
    #[error(
        "wrong key for {object}: the data key does not match the object's key commitment \
         (a wrong key or share link, or the object's header or salt was modified)"
    )]
    WrongKey {
        /// `s3://bucket/key`.
        object: String,
    },

    /// A chunk failed authentication: the object was modified or corrupted.
    #[error(
        "chunk {index}{final_note} of {object} failed authentication: the object was modified \
         or corrupted; no plaintext of that chunk was released and the whole read must be \
         treated as failed"
    )]
    ChunkAuthentication {
        /// `s3://bucket/key`.
        object: String,
        /// Zero-based chunk index.
        index: u64,
        /// " (the final chunk)" or empty.
        final_note: &'static str,
    },

    /// The object ends before its final chunk (or inside its header).
    #[error("{object} is truncated: {detail}")]
    Truncated {
        /// `s3://bucket/key`.
        object: String,
        /// Which part was cut short.
        detail: String,
    },

    /// Bytes follow the object's final chunk.
    #[error(
        "{object} has trailing data after its final chunk: it was modified or two objects were \
         concatenated"
    )]
    TrailingData {
        /// `s3://bucket/key`.
        object: String,
    },

    /// Any other format-level problem (malformed header, limits, unsupported
    /// version or suite).
    #[error("{object}: {source}")]
    Format {
        /// `s3://bucket/key`, or what was being sealed.
        object: String,
        /// The format crate's error.
        #[source]
        source: sealstream_format::Error,
    },

    /// A key provider failed while sealing (generating or wrapping the key).
    #[error("cannot seal {object}: {source}")]
    Seal {
        /// `s3://bucket/key`.
        object: String,
        /// What the key provider said.
        #[source]
        source: sealstream_kms::Error,
    },

    /// A plaintext range starts past the end of the object.
    #[error(
        "range start {start} is past the end of {object}, whose plaintext is {len} bytes \
         (ranges that start before the end and run past it are clamped)"
    )]
    InvalidRange {
        /// `s3://bucket/key`.
        object: String,
        /// The requested start.
        start: u64,
        /// The authenticated plaintext length.
        len: u64,
    },

    /// The object is encrypted with SSE-C and the request did not carry the
    /// right customer key.
    #[error(
        "{object} is encrypted with a customer-provided key (SSE-C): {detail}; configure the \
         same SSE-C key that was used to upload it"
    )]
    SseCustomerKey {
        /// `s3://bucket/key`.
        object: String,
        /// What the server said.
        detail: String,
    },

    /// The object changed between two requests of one read (its ETag no
    /// longer matches).
    #[error("{object} changed while it was being read; retry the read")]
    ObjectChanged {
        /// `s3://bucket/key`.
        object: String,
    },

    /// Any other S3 failure.
    #[error("S3 {operation} on {object} failed: {detail}")]
    S3 {
        /// `s3://bucket/key`.
        object: String,
        /// The S3 operation.
        operation: &'static str,
        /// The error code and message, or the transport failure.
        detail: String,
        /// The SDK error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// An upload failed and was aborted; no object was written.
    #[error("upload of {object} failed and its multipart upload was aborted: {source}")]
    UploadAborted {
        /// `s3://bucket/key`.
        object: String,
        /// Why the upload failed.
        #[source]
        source: Box<Error>,
    },

    /// An upload failed and aborting its multipart upload failed too: parts
    /// may remain on the server until a lifecycle rule removes them.
    #[error(
        "upload of {object} failed ({source}), and aborting multipart upload {upload_id} failed \
         too ({abort_error}); remove it with AbortMultipartUpload or a lifecycle rule"
    )]
    AbortFailed {
        /// `s3://bucket/key`.
        object: String,
        /// The multipart upload id.
        upload_id: String,
        /// Why the abort failed.
        abort_error: String,
        /// Why the upload failed.
        #[source]
        source: Box<Error>,
    },

    /// A plain HTTP request (presigned URL) failed.
    #[error("{method} of {target} over a presigned URL failed: {detail}")]
    Http {
        /// The HTTP method.
        method: String,
        /// The object path or a description; never the URL's signature.
        target: String,
        /// The status and the server's error code, or the transport failure.
        detail: String,
        /// HTTP status, if a response came back.
        status: Option<u16>,
    },

    /// Sharing was refused (a reused data key, SSE-C, no sealstream metadata).
    #[error("refusing to share {object}: {reason}")]
    ShareRefused {
        /// `s3://bucket/key`.
        object: String,
        /// Why, and what to do.
        reason: String,
    },

    /// A share link could not be parsed.
    #[error("invalid share link: {0}")]
    InvalidShareLink(&'static str),

    /// An option or argument is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The local source or destination failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Resuming an upload found that its source no longer holds what the
    /// journal says was sealed. Sealing other plaintext under nonces that
    /// were already used is forbidden, so nothing more was sent.
    #[error(
        "the source of {object} changed since its upload started ({detail}); an interrupted \
         upload can only be resumed from the same, unchanged source: upload it again from the \
         start"
    )]
    SourceChanged {
        /// `s3://bucket/key`.
        object: String,
        /// What differs (the part number, the size).
        detail: String,
    },

    /// The journal of an interrupted upload does not describe what the
    /// server holds, or cannot be used with this source.
    #[error("cannot resume multipart upload {upload_id} of {object}: {detail}")]
    CannotResume {
        /// `s3://bucket/key`.
        object: String,
        /// The multipart upload id.
        upload_id: String,
        /// Why.
        detail: String,
    },

    /// The multipart upload to resume no longer exists on the server.
    #[error(
        "multipart upload {upload_id} of {object} no longer exists on the server (it was \
         aborted, completed or expired)"
    )]
    UploadGone {
        /// `s3://bucket/key`.
        object: String,
        /// The multipart upload id.
        upload_id: String,
    },

    /// The caller's upload journal could not record a step; the part it
    /// was about was not sent.
    #[error("the upload journal of {object} failed while recording {what}: {source}")]
    Journal {
        /// `s3://bucket/key`.
        object: String,
        /// Which record (`the upload id`, `part 7 (intent)`).
        what: String,
        /// The journal's error.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `s3://bucket/key`, the name used in messages.
pub(crate) fn object_name(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

impl Error {
    /// Finds this crate's error inside an `io::Error` returned by one of
    /// its `AsyncRead`/`AsyncWrite` adapters, if there is one.
    pub fn from_io(e: &io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    /// Whether this error means "the object was modified, truncated or is
    /// not authentic" (as opposed to a transport, key or usage problem).
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            Error::ChunkAuthentication { .. }
                | Error::Truncated { .. }
                | Error::TrailingData { .. }
                | Error::WrongKey { .. }
                | Error::NotSealstream { .. }
        )
    }

    /// Maps a format error about `object` to the matching variant.
    pub(crate) fn format(object: &str, e: sealstream_format::Error) -> Self {
        use sealstream_format::Error as F;
        let object = object.to_owned();
        match e {
            F::NotSealstream => Error::NotSealstream { object },
            F::CommitmentMismatch => Error::WrongKey { object },
            F::ChunkAuthentication { index, final_chunk } => Error::ChunkAuthentication {
                object,
                index,
                final_note: if final_chunk {
                    " (the final chunk)"
                } else {
                    ""
                },
            },
            F::Truncated { detail } => Error::Truncated {
                object,
                detail: detail.to_owned(),
            },
            F::TrailingData => Error::TrailingData { object },
            F::Io(source) => match Error::from_io_owned(source) {
                Ok(ours) => ours,
                Err(source) => Error::Io {
                    context: format!("reading {object}"),
                    source,
                },
            },
            other => Error::Format {
                object,
                source: other,
            },
        }
    }

    /// Takes our error back out of an `io::Error` that carries one.
    pub(crate) fn from_io_owned(e: io::Error) -> std::result::Result<Error, io::Error> {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(Ok(inner)) = e.into_inner().map(|i| i.downcast::<Error>()) {
                return Ok(*inner);
            }
            return Err(io::Error::other("unknown I/O error"));
        }
        Err(e)
    }

    /// An I/O error from the local side.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        match Error::from_io_owned(source) {
            Ok(ours) => ours,
            Err(source) => Error::Io {
                context: context.into(),
                source,
            },
        }
    }

    /// Classifies an SDK error.
    pub(crate) fn s3<E, R>(operation: &'static str, object: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static + HasStatus,
    {
        let object = object.to_owned();
        let status = raw_response(&err).map(HasStatus::status_code);
        let code = err.code().map(str::to_owned);
        let message = err.message().map(str::to_owned);
        let detail = match (&code, &message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => match status {
                Some(s) => format!("HTTP {s}"),
                None => transport_detail(&err),
            },
        };
        let code = code.as_deref().unwrap_or("");
        let msg_lower = message.as_deref().unwrap_or("").to_ascii_lowercase();
        // An SSE-C object names its algorithm even in a refusal.
        let sse_c_object = raw_response(&err).is_some_and(|r| r.has_sse_c_header());
        if sse_c_object && matches!(status, Some(400 | 403)) {
            return Error::SseCustomerKey { object, detail };
        }
        if matches!(
            code,
            "NoSuchKey" | "NoSuchBucket" | "NotFound" | "NoSuchUpload"
        ) || status == Some(404)
        {
            return Error::NotFound { object, detail };
        }
        if code == "PreconditionFailed" || status == Some(412) {
            return Error::ObjectChanged { object };
        }
        if msg_lower.contains("customer") || msg_lower.contains("server side encryption") {
            return Error::SseCustomerKey { object, detail };
        }
        if code == "AccessDenied" || status == Some(403) {
            return Error::AccessDenied {
                object,
                operation,
                detail,
            };
        }
        Error::S3 {
            object,
            operation,
            detail,
            source: Some(err.into_service_error_or_other()),
        }
    }
}

/// The HTTP status of a raw response (lets [`Error::s3`] stay generic).
pub(crate) trait HasStatus {
    /// The status code.
    fn status_code(&self) -> u16;
    /// Whether the response names an SSE-C algorithm.
    fn has_sse_c_header(&self) -> bool;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
    fn has_sse_c_header(&self) -> bool {
        self.headers()
            .get("x-amz-server-side-encryption-customer-algorithm")
            .is_some()
    }
}

fn raw_response<E, R>(err: &SdkError<E, R>) -> Option<&R> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw()),
        SdkError::ResponseError(re) => Some(re.raw()),
        _ => None,
    }
}

impl Error {
    /// Classifies a failed AWS SDK S3 call on `object` (`s3://bucket/key`)
    /// the way this crate's own calls are: [`Error::NotFound`],
    /// [`Error::AccessDenied`], [`Error::SseCustomerKey`],
    /// [`Error::ObjectChanged`] (a failed precondition), or [`Error::S3`]
    /// with the code and message, or the transport failure.
    pub fn from_sdk<E>(
        operation: &'static str,
        object: &str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        Error::s3(operation, object, err)
    }
}

trait IntoServiceOrOther {
    fn into_service_error_or_other(self) -> Box<dyn std::error::Error + Send + Sync>;
}

impl<E, R> IntoServiceOrOther for SdkError<E, R>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn into_service_error_or_other(self) -> Box<dyn std::error::Error + Send + Sync> {
        match self {
            SdkError::ServiceError(se) => Box::new(se.into_err()),
            other => Box::new(other),
        }
    }
}

fn transport_detail<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    // The SDK's summary and the innermost cause (`connection refused`,
    // `timed out`): the causes in between repeat one another, and the
    // SDK's `DisplayErrorContext` would add a `Debug` dump.
    let mut inner: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let top = err.to_string();
    let root = inner.to_string();
    if root == top || top.contains(&root) {
        top
    } else {
        format!("{top}: {root}")
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            Error::InvalidArgument(_) | Error::InvalidRange { .. } => io::ErrorKind::InvalidInput,
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::AccessDenied { .. } => io::ErrorKind::PermissionDenied,
            Error::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}
