//! The multipart-target layer, the lowest of the upload path: what a
//! sealed object is sent to ([`Target`], [`Multipart`]), the target for
//! credentialed uploads through the AWS SDK ([`S3Target`]), and the user
//! metadata written on every object. It imports nothing of the upload
//! (`pipeline`), journal (`resume`) or client layers above it.
//!
//! The S3 target's checksums follow the pattern that works on every server tried: the
//! upload is created with `ChecksumAlgorithm::Crc32`, every part carries its
//! CRC32 (computed while sealing) and the completion echoes each part's
//! CRC32 back, so the server verifies every part.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64ct::{Base64, Encoding};
use bytes::Bytes;
use sealstream_format::{FORMAT_VERSION, Suite};

use sealstream_kms::RetryPolicy;

use crate::error::{Error, Result};
use crate::sse::{self, Sse};

/// User metadata (`x-amz-meta-…`) sealstream writes on every object. The
/// object stays self-describing through its header; these are hints for
/// listings and for [`SealClient::share`](crate::SealClient::share). They are not authenticated.
pub mod metadata {
    /// The format version (`1`).
    pub const VERSION: &str = "sealstream-version";
    /// The suite name (`aes-256-gcm`, `xchacha20-poly1305`).
    pub const SUITE: &str = "sealstream-suite";
    /// The plaintext length in bytes, when known at upload time (always
    /// for files and single-request uploads; for a stream of unknown
    /// length it is derived from the object length instead).
    pub const PLAINTEXT_LENGTH: &str = "sealstream-plaintext-length";
}

/// The metadata written on a new object.
pub(crate) fn object_metadata(suite: Suite, plaintext_len: Option<u64>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert(metadata::VERSION.to_owned(), FORMAT_VERSION.to_string());
    m.insert(metadata::SUITE.to_owned(), suite.name().to_owned());
    if let Some(n) = plaintext_len {
        m.insert(metadata::PLAINTEXT_LENGTH.to_owned(), n.to_string());
    }
    m
}

/// One uploaded part, as CompleteMultipartUpload needs it.
#[derive(Clone, Debug)]
pub(crate) struct PartDone {
    /// 1-based part number.
    pub(crate) number: i32,
    /// The part's ETag.
    pub(crate) etag: String,
    /// The part's CRC32 (base64), echoed back on completion.
    pub(crate) crc32: String,
}

/// A started multipart upload.
pub(crate) trait Multipart: Clone + Send + Sync + 'static {
    /// Uploads part `number` (the same bytes on every retry).
    fn upload_part(
        &self,
        number: i32,
        body: Bytes,
        crc32: u32,
    ) -> impl Future<Output = Result<PartDone>> + Send + 'static;
    /// Completes the upload; returns the object's ETag.
    fn complete(&self, parts: Vec<PartDone>)
    -> impl Future<Output = Result<Option<String>>> + Send;
    /// Aborts the upload (succeeds if it is already gone).
    fn abort(&self) -> impl Future<Output = Result<()>> + Send + 'static;
    /// The upload id, for messages.
    fn upload_id(&self) -> &str;
    /// How its abort is retried (the upload layer's `spawn_abort`).
    fn retry(&self) -> RetryPolicy;
}

/// Where a sealed object goes.
pub(crate) trait Target: Send + Sync {
    /// The multipart upload type.
    type Upload: Multipart;
    /// Uploads a whole object that fits one part, in one request.
    fn put_single(
        &self,
        body: Bytes,
        crc32: u32,
        plaintext_len: u64,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Starts a multipart upload.
    fn start(&self) -> impl Future<Output = Result<Self::Upload>> + Send;
    /// `s3://bucket/key`, for messages.
    fn object(&self) -> &str;
}

/// Aborts multipart upload `upload_id` of `s3://bucket/key`; an upload
/// already gone (NoSuchUpload) counts as aborted.
pub(crate) async fn abort_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<()> {
    match s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
        Err(e) => Err(Error::s3(
            "AbortMultipartUpload",
            &crate::error::object_name(bucket, key),
            e,
        )),
    }
}

/// The base64 of a CRC32 as S3's `x-amz-checksum-crc32` wants it.
pub(crate) fn crc32_b64(crc: u32) -> String {
    Base64::encode_string(&crc.to_be_bytes())
}

pub(crate) struct S3Target {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) object: String,
    pub(crate) sse: Sse,
    pub(crate) retry: RetryPolicy,
    pub(crate) metadata: HashMap<String, String>,
    pub(crate) content_type: Option<String>,
}

#[derive(Clone)]
pub(crate) struct S3Upload(Arc<S3UploadInner>);

pub(crate) struct S3UploadInner {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    object: String,
    upload_id: String,
    sse: Sse,
    retry: RetryPolicy,
}

const CONTENT_TYPE: &str = "application/octet-stream";

impl Target for S3Target {
    type Upload = S3Upload;

    async fn put_single(
        &self,
        body: Bytes,
        crc32: u32,
        plaintext_len: u64,
    ) -> Result<Option<String>> {
        let mut metadata = self.metadata.clone();
        metadata.insert(
            metadata::PLAINTEXT_LENGTH.to_owned(),
            plaintext_len.to_string(),
        );
        let len = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let req = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_length(len)
            .content_type(self.content_type.as_deref().unwrap_or(CONTENT_TYPE))
            .checksum_crc32(crc32_b64(crc32))
            .set_metadata(Some(metadata))
            .body(ByteStream::from(body));
        // UNSIGNED-PAYLOAD: the body carries its signed CRC32 and is sealed;
        // hashing it again for SigV4 cost 15% of `put -r`'s CPU (and the
        // server's too, which checks the hash).
        let out = sse::put_object(req, &self.sse)
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| Error::s3("PutObject", &self.object, e))?;
        Ok(out.e_tag)
    }

    async fn start(&self) -> Result<S3Upload> {
        self.create(true).await
    }

    fn object(&self) -> &str {
        &self.object
    }
}

impl S3Target {
    /// A multipart upload for presigned parts, which cannot carry a
    /// flexible checksum (its value is unknown when the URL is signed).
    pub(crate) async fn start_without_checksums(&self) -> Result<S3Upload> {
        self.create(false).await
    }

    /// The multipart upload `upload_id`, started earlier by
    /// [`Target::start`] (to resume it).
    pub(crate) fn existing(&self, upload_id: String) -> S3Upload {
        S3Upload(Arc::new(S3UploadInner {
            s3: self.s3.clone(),
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            object: self.object.clone(),
            upload_id,
            sse: self.sse.clone(),
            retry: self.retry.clone(),
        }))
    }

    async fn create(&self, checksums: bool) -> Result<S3Upload> {
        let req = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type(self.content_type.as_deref().unwrap_or(CONTENT_TYPE))
            .set_checksum_algorithm(checksums.then_some(ChecksumAlgorithm::Crc32))
            .set_metadata(Some(self.metadata.clone()));
        let out = sse::create_multipart(req, &self.sse)
            .send()
            .await
            .map_err(|e| Error::s3("CreateMultipartUpload", &self.object, e))?;
        let upload_id = out.upload_id.ok_or_else(|| Error::S3 {
            object: self.object.clone(),
            operation: "CreateMultipartUpload",
            detail: "the response has no upload id".into(),
            source: None,
        })?;
        Ok(S3Upload(Arc::new(S3UploadInner {
            s3: self.s3.clone(),
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            object: self.object.clone(),
            upload_id,
            sse: self.sse.clone(),
            retry: self.retry.clone(),
        })))
    }
}

impl Multipart for S3Upload {
    fn upload_part(
        &self,
        number: i32,
        body: Bytes,
        crc32: u32,
    ) -> impl Future<Output = Result<PartDone>> + Send + 'static {
        let inner = self.0.clone();
        async move {
            let crc = crc32_b64(crc32);
            let len = i64::try_from(body.len()).unwrap_or(i64::MAX);
            // The body is `Bytes`: the SDK's retries re-send these same
            // sealed bytes; nothing is ever sealed twice under one nonce.
            let req = inner
                .s3
                .upload_part()
                .bucket(&inner.bucket)
                .key(&inner.key)
                .upload_id(&inner.upload_id)
                .part_number(number)
                .content_length(len)
                .checksum_crc32(&crc)
                .body(ByteStream::from(body));
            let out = sse::upload_part(req, &inner.sse)
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| Error::s3("UploadPart", &inner.object, e))?;
            let etag = out.e_tag.ok_or_else(|| Error::S3 {
                object: inner.object.clone(),
                operation: "UploadPart",
                detail: format!("part {number}: the response has no ETag"),
                source: None,
            })?;
            Ok(PartDone {
                number,
                etag,
                crc32: crc,
            })
        }
    }

    async fn complete(&self, parts: Vec<PartDone>) -> Result<Option<String>> {
        let inner = &self.0;
        let parts = parts
            .into_iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(p.etag)
                    .set_checksum_crc32((!p.crc32.is_empty()).then_some(p.crc32))
                    .build()
            })
            .collect();
        let req = inner
            .s3
            .complete_multipart_upload()
            .bucket(&inner.bucket)
            .key(&inner.key)
            .upload_id(&inner.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        let out = sse::complete_multipart(req, &inner.sse)
            .send()
            .await
            .map_err(|e| Error::s3("CompleteMultipartUpload", &inner.object, e))?;
        Ok(out.e_tag)
    }

    fn abort(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let inner = self.0.clone();
        async move { abort_multipart(&inner.s3, &inner.bucket, &inner.key, &inner.upload_id).await }
    }

    fn upload_id(&self) -> &str {
        &self.0.upload_id
    }

    fn retry(&self) -> RetryPolicy {
        self.0.retry.clone()
    }
}
