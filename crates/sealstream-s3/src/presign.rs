//! Presigned URLs for the credentialed side: GET of the ciphertext, PUT of
//! a whole sealed object, and a multipart flow where an uncredentialed
//! client seals locally, uploads each part and completes with plain HTTP
//! ([`PlainHttp`](crate::PlainHttp)).
//!
//! ```text
//!  credentialed side                          uncredentialed side (no AWS credentials)
//!  presign_multipart(len) ── plan ──────────▶ upload_presigned_multipart(plan, key, reader)
//!    CreateMultipartUpload (metadata fixed)     seal part 1..n locally, PUT each to its URL
//!    presign UploadPart 1..n, Complete, Abort   POST the completion (or DELETE: abort)
//! ```
//!
//! Every expiry is at most 7 days (S3's limit for SigV4), enforced here
//! with a clear error. A [`PresignedRequest`] never prints its signature.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::presigning::{PresignedRequest as SdkPresigned, PresigningConfig};

use crate::client::SealClient;
use crate::config::{effective_part_size, part_count};
use crate::error::{Error, Result, object_name};
use crate::pipeline::spawn_abort;
use crate::s3target::{Multipart, S3Target, object_metadata};
use crate::sse;

/// The longest expiry S3 accepts for a presigned URL: 7 days.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A presigned HTTP request: method, URL and the headers that were signed
/// (the client must send every one of them).
///
/// The URL carries a signature that grants access until it expires:
/// `Debug` prints it with the signature and credential redacted, and
/// [`PresignedRequest::expose_url`] is the only way to the full URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

impl PresignedRequest {
    /// A request from its parts (for example, read back from wherever the
    /// credentialed side stored it).
    pub fn new(
        method: impl Into<String>,
        url: impl Into<String>,
        headers: Vec<(String, String)>,
    ) -> Self {
        PresignedRequest {
            method: method.into(),
            url: url.into(),
            headers,
        }
    }

    fn from_sdk(p: &SdkPresigned) -> Self {
        PresignedRequest {
            method: p.method().to_owned(),
            url: p.uri().to_owned(),
            headers: p
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// **The full URL, signature included**: whoever holds it can use it
    /// until it expires. Do not log it.
    pub fn expose_url(&self) -> &str {
        &self.url
    }

    /// The URL with its signature, credential and session token redacted,
    /// for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Headers that must be sent with the request (they are signed). An
    /// SSE-C key, if any, is among them: treat them as secret too.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

impl fmt::Debug for PresignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("PresignedRequest")
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field("headers", &names)
            .finish()
    }
}

/// Replaces the values of the query parameters that grant access, and the
/// fragment ([`crate::redact::redact_url`], the workspace's one redaction).
pub(crate) fn redact_url(url: &str) -> String {
    crate::redact::redact_url(url)
}

/// Checks an expiry against S3's limits.
pub(crate) fn presigning_config(expires_in: Duration) -> Result<PresigningConfig> {
    if expires_in > MAX_PRESIGN_EXPIRY {
        return Err(Error::InvalidArgument(format!(
            "a presigned URL may be valid for at most 7 days (604800 s); {} s was asked for",
            expires_in.as_secs()
        )));
    }
    if expires_in.is_zero() {
        return Err(Error::InvalidArgument(
            "a presigned URL needs a positive expiry".into(),
        ));
    }
    PresigningConfig::expires_in(expires_in)
        .map_err(|e| Error::InvalidArgument(format!("presigning: {e}")))
}

/// Everything an uncredentialed client needs to upload one sealed object
/// in parts: a presigned UploadPart for each part, the completion and the
/// abort.
///
/// Made by [`SealClient::presign_multipart`] for a declared plaintext
/// length; the client must seal exactly that many bytes with
/// [`PlainHttp::upload_presigned_multipart`](crate::PlainHttp::upload_presigned_multipart),
/// using a fresh [`sealstream_kms::SealKey`] (bound to the object's key as
/// its name, so that [`SealClient`] downloads accept it).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PresignedMultipart {
    /// `s3://bucket/key`.
    pub object: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// Plaintext bytes per part.
    pub part_size: u64,
    /// The plaintext length the parts were planned for.
    pub plaintext_len: u64,
    /// One presigned `PUT` per part, part 1 first.
    pub parts: Vec<PresignedRequest>,
    /// The presigned `POST` that completes the upload.
    pub complete: PresignedRequest,
    /// The presigned `DELETE` that aborts it.
    pub abort: PresignedRequest,
}

/// Options of a presigned whole-object PUT.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PresignPutOptions {
    /// The plaintext length, recorded in metadata if given.
    pub plaintext_len: Option<u64>,
}

impl SealClient {
    /// A presigned GET of the object's ciphertext. Opening it needs a key
    /// that can unwrap the object's data key (see
    /// [`PlainHttp::download_presigned`](crate::PlainHttp::download_presigned)),
    /// or a [`ShareLink`](crate::ShareLink).
    pub async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest> {
        let cfg = presigning_config(expires_in)?;
        let req = self.s3.get_object().bucket(bucket).key(key);
        let p = sse::get_object(req, &self.config.sse)
            .presigned(cfg)
            .await
            .map_err(|e| Error::s3("GetObject (presign)", &object_name(bucket, key), e))?;
        Ok(PresignedRequest::from_sdk(&p))
    }

    /// A presigned PUT for one whole sealed object (up to 5 GiB). The
    /// sealstream metadata (version, suite, and the plaintext length if
    /// given) is signed into it, so the uploader must send the returned
    /// headers.
    pub async fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        expires_in: Duration,
        opts: PresignPutOptions,
    ) -> Result<PresignedRequest> {
        let cfg = presigning_config(expires_in)?;
        let req = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/octet-stream")
            .set_metadata(Some(object_metadata(self.config.suite, opts.plaintext_len)));
        let p = sse::put_object(req, &self.config.sse)
            .presigned(cfg)
            .await
            .map_err(|e| Error::s3("PutObject (presign)", &object_name(bucket, key), e))?;
        Ok(PresignedRequest::from_sdk(&p))
    }

    /// Starts a multipart upload of `plaintext_len` plaintext bytes and
    /// presigns its parts, completion and abort (see
    /// [`PresignedMultipart`]). If presigning fails the upload is aborted.
    ///
    /// Parts uploaded over presigned URLs carry no flexible checksum (their
    /// value is not known when signing); the plain HTTP client sends a
    /// `Content-MD5` instead, which S3 verifies.
    pub async fn presign_multipart(
        &self,
        bucket: &str,
        key: &str,
        plaintext_len: u64,
        expires_in: Duration,
    ) -> Result<PresignedMultipart> {
        self.presign_multipart_with(bucket, key, plaintext_len, true, expires_in)
            .await
    }

    /// Like [`presign_multipart`](Self::presign_multipart), for a source of
    /// **up to** `max_len` plaintext bytes (a browser upload whose file is
    /// not chosen yet): parts for `max_len` are presigned, the uploader uses
    /// the first `ceil(len / part_size)` (at least one) and completes with
    /// those; no plaintext length goes into the object's metadata.
    pub async fn presign_multipart_up_to(
        &self,
        bucket: &str,
        key: &str,
        max_len: u64,
        expires_in: Duration,
    ) -> Result<PresignedMultipart> {
        self.presign_multipart_with(bucket, key, max_len, false, expires_in)
            .await
    }

    async fn presign_multipart_with(
        &self,
        bucket: &str,
        key: &str,
        plaintext_len: u64,
        exact: bool,
        expires_in: Duration,
    ) -> Result<PresignedMultipart> {
        let cfg = presigning_config(expires_in)?;
        let object = object_name(bucket, key);
        let part_size = effective_part_size(self.config.part_size, Some(plaintext_len))?;
        let count = part_count(plaintext_len, part_size);
        let target = S3Target {
            s3: self.s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: object.clone(),
            sse: self.config.sse.clone(),
            retry: self.config.retry.clone(),
            metadata: object_metadata(self.config.suite, exact.then_some(plaintext_len)),
            content_type: None,
        };
        let upload = target.start_without_checksums().await?;
        let presign = async {
            let mut parts = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            for n in 1..=count {
                let number = i32::try_from(n)
                    .map_err(|_| Error::InvalidArgument("more parts than S3 allows".into()))?;
                let req = self
                    .s3
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload.upload_id())
                    .part_number(number);
                let p = sse::upload_part(req, &self.config.sse)
                    .presigned(cfg.clone())
                    .await
                    .map_err(|e| Error::s3("UploadPart (presign)", &object, e))?;
                parts.push(PresignedRequest::from_sdk(&p));
            }
            // The SDK presigns neither CompleteMultipartUpload nor
            // AbortMultipartUpload. Both are `/key?uploadId=ID` like
            // UploadPart, so an UploadPart request is turned into them
            // before signing (same credentials, Region and endpoint).
            let complete = self
                .presign_upload_op(bucket, key, upload.upload_id(), "POST", cfg.clone(), true)
                .await
                .map_err(|e| Error::s3("CompleteMultipartUpload (presign)", &object, e))?;
            let abort = self
                .presign_upload_op(
                    bucket,
                    key,
                    upload.upload_id(),
                    "DELETE",
                    cfg.clone(),
                    false,
                )
                .await
                .map_err(|e| Error::s3("AbortMultipartUpload (presign)", &object, e))?;
            Ok::<_, Error>((parts, complete, abort))
        };
        match presign.await {
            Ok((parts, complete, abort)) => Ok(PresignedMultipart {
                object,
                upload_id: upload.upload_id().to_owned(),
                part_size,
                plaintext_len,
                parts,
                complete,
                abort,
            }),
            Err(e) => {
                spawn_abort(upload);
                Err(e)
            }
        }
    }
}

/// Keeps only the `uploadId` query parameter of an UploadPart URI.
fn upload_id_only(uri: &str) -> String {
    let Some((base, query)) = uri.split_once('?') else {
        return uri.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| kv.starts_with("uploadId="))
        .collect();
    format!("{base}?{}", kept.join("&"))
}

impl SealClient {
    /// Presigns `method /key?uploadId=ID` by rewriting an UploadPart
    /// request before it is signed.
    async fn presign_upload_op(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        method: &'static str,
        cfg: PresigningConfig,
        with_sse_c: bool,
    ) -> std::result::Result<
        PresignedRequest,
        aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::upload_part::UploadPartError>,
    > {
        let req = self
            .s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(1);
        let req = if with_sse_c {
            sse::upload_part(req, &self.config.sse)
        } else {
            req
        };
        let p = req
            .customize()
            .mutate_request(move |r| {
                let _ = r.set_method(method);
                let uri = upload_id_only(r.uri());
                let _ = r.set_uri(uri);
                r.headers_mut().remove("content-length");
                r.headers_mut().remove("content-type");
            })
            .presigned(cfg)
            .await?;
        Ok(PresignedRequest::from_sdk(&p))
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
    fn redaction_hides_signature_and_fragment() {
        let url = "http://127.0.0.1:9000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&\
                   X-Amz-Credential=AKID%2F2026&X-Amz-Signature=deadbeef&x-id=GetObject#k=SECRET";
        let r = redact_url(url);
        assert!(
            !r.contains("deadbeef") && !r.contains("SECRET") && !r.contains("AKID"),
            "{r}"
        );
        assert!(r.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"));
        let p = PresignedRequest::new("GET", url, vec![]);
        assert!(!format!("{p:?}").contains("deadbeef"));
    }

    #[test]
    fn expiry_limits() {
        assert!(presigning_config(MAX_PRESIGN_EXPIRY).is_ok());
        let err = presigning_config(MAX_PRESIGN_EXPIRY + Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("7 days"), "{err}");
        assert!(presigning_config(Duration::ZERO).is_err());
    }
}
