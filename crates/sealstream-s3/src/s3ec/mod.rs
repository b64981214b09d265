//! Reading and migrating Amazon S3 Encryption Client (S3EC) objects.
//!
//! The S3EC (Java, Go, Python, .NET, C++, PHP, Ruby) stores each object as
//! one AES-256-GCM message, with the wrapped data key and the algorithm in
//! the object's metadata or in a `KEY.instruction` object. What is read and
//! what is refused is in docs/S3EC.md; the specification is
//! awslabs/aws-encryption-sdk-specification, folder `s3-encryption`.
//!
//! | job | use |
//! |---|---|
//! | is it an S3EC object, and what is it (no key needed) | [`S3ecObject::head`], [`S3ecObject::envelope`] |
//! | open it into a file (renamed only after the tag verified) | [`S3ecObject::download_to_file`] |
//! | open it into any writer (spooled to a private temporary file first) | [`S3ecObject::download_to_writer`] |
//! | turn it into a sealstream object (completed only after the tag verified) | [`SealClient::migrate_s3ec`](crate::SealClient::migrate_s3ec) |
//!
//! No plaintext of an S3EC object is released before its GCM tag (and,
//! for V3, its key commitment) verified.

mod gcm;
mod keys;
mod metadata;
mod migrate;
mod object;

pub use keys::S3ecKeys;
pub use metadata::{
    Envelope, Format, MAX_INSTRUCTION_FILE_LEN, MetadataError, Storage, Wrapping, looks_like_s3ec,
    needs_instruction_file, parse, parse_instruction_file,
};
pub use migrate::MigrateOutcome;
pub use object::{INSTRUCTION_SUFFIX, S3ecObject};

/// Everything that can go wrong opening an S3EC object. No variant holds
/// key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A legacy or unsupported S3EC format or wrapping, named.
    #[error("{object}: {detail}")]
    Refused {
        /// `s3://bucket/key`.
        object: String,
        /// Which format, and why it is refused.
        detail: String,
    },
    /// The S3EC metadata or instruction file is malformed.
    #[error("{object} has malformed S3 Encryption Client metadata: {detail}")]
    Malformed {
        /// `s3://bucket/key`.
        object: String,
        /// Which field, and what is wrong.
        detail: String,
    },
    /// The object has no S3EC metadata.
    #[error(
        "{object} is not an Amazon S3 Encryption Client object (no x-amz-meta-x-amz-* key metadata)"
    )]
    NotS3ec {
        /// `s3://bucket/key`.
        object: String,
    },
    /// The object's metadata names no data key and it has no instruction
    /// file (only returned by the detection's internals; callers see
    /// `Malformed` or "not an S3EC object").
    #[doc(hidden)]
    #[error("{object}: {detail}")]
    InstructionMissing {
        /// `s3://bucket/key`.
        object: String,
        /// What is missing.
        detail: String,
    },
    /// The caller's encryption context is not the stored one.
    #[error(
        "encryption context mismatch for {object}: {detail} (an S3 Encryption Client object \
         opens only with exactly the context it was written with, without aws:x-amz-cek-alg)"
    )]
    ContextMismatch {
        /// `s3://bucket/key`.
        object: String,
        /// What differs.
        detail: String,
    },
    /// KMS refused the wrapped key with its stored context: the key blob or
    /// the context in the metadata was changed.
    #[error(
        "KMS refused to decrypt the data key of {object} ({detail}): its wrapped key or its \
         stored KMS encryption context was modified, or it was wrapped under another KMS key"
    )]
    KmsRefused {
        /// `s3://bucket/key`.
        object: String,
        /// What KMS said.
        detail: String,
    },
    /// No configured key can unwrap the data key.
    #[error("cannot unwrap the data key of {object}: {detail}")]
    NoKey {
        /// `s3://bucket/key`.
        object: String,
        /// Why, and what to do.
        detail: String,
    },
    /// The V3 key commitment (`x-amz-d`) does not match the data key.
    #[error(
        "the key commitment (x-amz-d) of {object} does not match its data key: the metadata or \
         instruction file was modified or swapped; nothing was decrypted"
    )]
    CommitmentMismatch {
        /// `s3://bucket/key`.
        object: String,
    },
    /// The GCM tag does not verify.
    #[error(
        "{object} failed authentication: its AES-GCM tag does not match (the ciphertext, tag, \
         IV or metadata was modified); no plaintext was released"
    )]
    TagMismatch {
        /// `s3://bucket/key`.
        object: String,
    },
    /// The object is shorter than its tag, or its body was cut short.
    #[error("{object} is truncated: {detail}; no plaintext was released")]
    Truncated {
        /// `s3://bucket/key`.
        object: String,
        /// What was cut.
        detail: String,
    },
    /// An S3 request, or the sealstream upload of a migration, failed.
    #[error(transparent)]
    S3(#[from] crate::Error),
    /// A KMS request failed for another reason than the key.
    #[error("KMS Decrypt for {object} failed: {detail}")]
    Kms {
        /// `s3://bucket/key`.
        object: String,
        /// The error code and message, or the transport failure.
        detail: String,
    },
    /// A local file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether this error means "the object or its metadata is not
    /// authentic" (as opposed to a key, transport or usage problem).
    pub fn is_integrity_failure(&self) -> bool {
        match self {
            Error::Malformed { .. }
            | Error::ContextMismatch { .. }
            | Error::KmsRefused { .. }
            | Error::CommitmentMismatch { .. }
            | Error::TagMismatch { .. }
            | Error::Truncated { .. } => true,
            Error::S3(e) => e.is_integrity_failure(),
            _ => false,
        }
    }

    pub(crate) fn metadata(object: &str, e: MetadataError) -> Self {
        let object = object.to_owned();
        match e {
            MetadataError::NotS3ec => Error::NotS3ec { object },
            MetadataError::NeedsInstructionFile => Error::Malformed {
                object,
                detail: "the metadata names no data key and no instruction file was found".into(),
            },
            MetadataError::Refused(detail) => Error::Refused { object, detail },
            MetadataError::Malformed(detail) => Error::Malformed { object, detail },
        }
    }
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Hidden entry point of the `s3ec_metadata` fuzz target. Input: the
/// object's metadata as a JSON object, optionally a 0 byte and an
/// instruction file. Parsing never panics; what it accepts is consistent
/// (a second parse gives the same envelope, the storage matches, a KMS
/// context names its content algorithm).
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn fuzz_metadata(data: &[u8]) {
    let (meta_part, inst_part) = match data.iter().position(|b| *b == 0) {
        Some(i) => (data.get(..i).unwrap_or(&[]), data.get(i + 1..)),
        None => (data, None),
    };
    let _ = inst_part.map(parse_instruction_file);
    let Ok(meta) = parse_instruction_file(meta_part) else {
        return;
    };
    let inst = inst_part.and_then(|b| parse_instruction_file(b).ok());
    let first = parse(&meta, inst.as_ref());
    assert_eq!(first, parse(&meta, inst.as_ref()));
    if let Ok(e) = first {
        assert!(e.context.len() <= metadata::MAX_CONTEXT_PAIRS);
        assert!(e.wrapped_key.len() <= metadata::MAX_WRAPPED_KEY_LEN);
        assert_eq!(
            e.storage == Storage::InstructionFile,
            needs_instruction_file(&meta)
        );
        if e.wrapping == Wrapping::KmsContext {
            assert!(e.context.contains_key(metadata::CEK_ALG_CONTEXT_KEY));
        }
    }
}
