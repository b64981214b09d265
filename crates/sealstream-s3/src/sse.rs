//! Server-side encryption layered under sealstream's client-side sealing.
//!
//! S3 never sees plaintext either way; SSE adds the server's own at-rest
//! encryption (and, for SSE-KMS, a KMS audit trail) on top.

use std::fmt;

use base64ct::{Base64, Encoding};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Which server-side encryption S3 applies to the (already sealed) bytes.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Sse {
    /// Whatever the bucket's default is.
    #[default]
    None,
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS: `aws:kms` with an optional key id and S3 Bucket Keys.
    Kms {
        /// KMS key id, ARN or alias; the account's `aws/s3` key if `None`.
        key_id: Option<String>,
        /// Use an S3 Bucket Key (fewer KMS calls).
        bucket_key: bool,
    },
    /// SSE-C: a customer-provided AES-256 key, sent with the upload, every
    /// later GET and HEAD, and UploadPartCopy.
    Customer(SseCustomerKey),
}

impl fmt::Debug for Sse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sse::None => f.write_str("None"),
            Sse::S3 => f.write_str("S3"),
            Sse::Kms { key_id, bucket_key } => f
                .debug_struct("Kms")
                .field("key_id", key_id)
                .field("bucket_key", bucket_key)
                .finish(),
            Sse::Customer(k) => f.debug_tuple("Customer").field(k).finish(),
        }
    }
}

/// An SSE-C customer key: 32 bytes, wiped on drop, never printed.
#[derive(Clone)]
pub struct SseCustomerKey {
    key: Zeroizing<[u8; 32]>,
}

impl SseCustomerKey {
    /// Takes a 32-byte key.
    pub fn new(key: [u8; 32]) -> Self {
        SseCustomerKey {
            key: Zeroizing::new(key),
        }
    }

    /// Decodes a standard base64 key (as `aws s3 --sse-c-key` takes it).
    pub fn from_base64(b64: &str) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        let decoded = Base64::decode(b64.trim().as_bytes(), &mut key[..]).map_err(|_| {
            Error::InvalidArgument("an SSE-C key is 32 bytes, base64-encoded".into())
        })?;
        if decoded.len() != 32 {
            return Err(Error::InvalidArgument(
                "an SSE-C key is 32 bytes, base64-encoded".into(),
            ));
        }
        Ok(SseCustomerKey { key })
    }

    /// `x-amz-server-side-encryption-customer-key`: the key, base64.
    pub(crate) fn key_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(Base64::encode_string(&self.key[..]))
    }

    /// `x-amz-server-side-encryption-customer-key-MD5`.
    pub(crate) fn key_md5_base64(&self) -> String {
        let digest = Md5::digest(&self.key[..]);
        Base64::encode_string(&digest)
    }
}

impl fmt::Debug for SseCustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SseCustomerKey(<redacted>)")
    }
}

/// The SSE-C algorithm name S3 accepts.
pub(crate) const SSE_C_ALGORITHM: &str = "AES256";

macro_rules! impl_sse_upload {
    ($name:ident, $builder:ty) => {
        /// Adds the upload-side SSE headers to a request builder.
        pub(crate) fn $name(b: $builder, sse: &Sse) -> $builder {
            use aws_sdk_s3::types::ServerSideEncryption;
            match sse {
                Sse::None => b,
                Sse::S3 => b.server_side_encryption(ServerSideEncryption::Aes256),
                Sse::Kms { key_id, bucket_key } => {
                    let b = b
                        .server_side_encryption(ServerSideEncryption::AwsKms)
                        .bucket_key_enabled(*bucket_key);
                    match key_id {
                        Some(id) => b.ssekms_key_id(id),
                        None => b,
                    }
                }
                Sse::Customer(k) => b
                    .sse_customer_algorithm(SSE_C_ALGORITHM)
                    .sse_customer_key(k.key_base64().as_str())
                    .sse_customer_key_md5(k.key_md5_base64()),
            }
        }
    };
}

macro_rules! impl_sse_c_only {
    ($name:ident, $builder:ty) => {
        /// Adds the SSE-C headers (the only SSE headers this request takes).
        pub(crate) fn $name(b: $builder, sse: &Sse) -> $builder {
            match sse {
                Sse::Customer(k) => b
                    .sse_customer_algorithm(SSE_C_ALGORITHM)
                    .sse_customer_key(k.key_base64().as_str())
                    .sse_customer_key_md5(k.key_md5_base64()),
                _ => b,
            }
        }
    };
}

impl_sse_upload!(
    put_object,
    aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder
);
impl_sse_upload!(
    create_multipart,
    aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder
);
impl_sse_c_only!(
    upload_part,
    aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder
);
impl_sse_c_only!(
    complete_multipart,
    aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder
);
impl_sse_c_only!(
    get_object,
    aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder
);
impl_sse_c_only!(
    head_object,
    aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder
);
impl_sse_c_only!(
    upload_part_copy_dest,
    aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyFluentBuilder
);

/// Adds the copy-source SSE-C headers to an UploadPartCopy.
pub(crate) fn upload_part_copy_source(
    b: aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyFluentBuilder,
    sse: &Sse,
) -> aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyFluentBuilder {
    match sse {
        Sse::Customer(k) => b
            .copy_source_sse_customer_algorithm(SSE_C_ALGORITHM)
            .copy_source_sse_customer_key(k.key_base64().as_str())
            .copy_source_sse_customer_key_md5(k.key_md5_base64()),
        _ => b,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    #[test]
    fn customer_key_md5_matches_known_value() {
        // md5 of 32 zero bytes, base64 (checked with `openssl md5 -binary | base64`).
        let k = SseCustomerKey::new([0u8; 32]);
        assert_eq!(k.key_md5_base64(), "cLyPS3KoaSFGi/joRB3OUQ==");
        assert_eq!(
            k.key_base64().as_str(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
        assert!(!format!("{:?}", Sse::Customer(k)).contains("AAAA"));
    }

    #[test]
    fn customer_key_from_base64_checks_length() {
        assert!(SseCustomerKey::from_base64("AAAA").is_err());
        assert!(
            SseCustomerKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok()
        );
    }
}
