//! Store administration: list, head and delete sealed objects, list and
//! abort multipart uploads.
//!
//! None of these calls needs a key: a listing shows what the storage
//! operator sees too (names, stored sizes, times, ETags), and the plaintext
//! size is derived from the stored size (every header is 4096 bytes,
//! docs/FORMAT.md "Object layout"). That size is a claim until the object
//! is opened: a reader authenticates the final chunk before trusting it.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use sealstream_format::layout::plaintext_len_from_object_len;

use crate::client::SealClient;
use crate::error::{Error, Result, object_name};
use crate::s3target::abort_multipart;
use crate::sse;

/// The most keys one DeleteObjects request takes (an S3 limit).
pub const MAX_DELETE_BATCH: usize = 1000;

/// One stored object, as [`SealClient::list`] and [`SealClient::stat`] see it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectEntry {
    /// The object's key in the bucket.
    pub key: String,
    /// The stored (ciphertext) size in bytes.
    pub size: u64,
    /// The plaintext size the stored size implies, or `None` when no valid
    /// object has that size (truncated, extended, not a sealstream object).
    /// Not authenticated.
    pub plaintext_size: Option<u64>,
    /// Last-modified time, seconds since the Unix epoch.
    pub last_modified: Option<i64>,
    /// The ETag, quotes included, as the server sent it.
    pub etag: Option<String>,
}

impl ObjectEntry {
    fn new(key: String, size: Option<i64>, modified: Option<i64>, etag: Option<&str>) -> Self {
        let size = size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        ObjectEntry {
            key,
            size,
            plaintext_size: plaintext_len_from_object_len(size).ok(),
            last_modified: modified,
            etag: etag.map(str::to_owned),
        }
    }
}

/// What [`SealClient::delete_many`] did with each key.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DeleteOutcome {
    /// Keys the server confirmed deleted (S3 also confirms keys that did
    /// not exist).
    pub deleted: Vec<String>,
    /// Keys it refused, each with the server's code and message.
    pub failed: Vec<(String, String)>,
}

/// One in-progress multipart upload, as [`SealClient::list_uploads`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingUpload {
    /// The object key it will complete as.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// When it was started, seconds since the Unix epoch.
    pub initiated: Option<i64>,
}

/// How far before a given start time [`SealClient::abort_uploads_since`]
/// looks (server and client clocks differ).
const CLOCK_SLACK: Duration = Duration::from_secs(60);

impl SealClient {
    /// Whether `s3://bucket/key` exists: one HeadObject without SSE
    /// headers. An object that refuses the request (HTTP 400, as SSE-C
    /// objects do without their key) exists.
    pub async fn exists(&self, bucket: &str, key: &str) -> Result<bool> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 400) => Ok(true),
            Err(e) => Err(Error::s3("HeadObject", &object_name(bucket, key), e)),
        }
    }

    /// Every in-progress multipart upload under `prefix` (all pages).
    pub async fn list_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>> {
        let shown = object_name(bucket, prefix);
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let resp = self
                .s3
                .list_multipart_uploads()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| Error::s3("ListMultipartUploads", &shown, e))?;
            for u in resp.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                out.push(PendingUpload {
                    key: key.to_owned(),
                    upload_id: id.to_owned(),
                    initiated: u.initiated().map(|t| t.secs()),
                });
            }
            if resp.is_truncated() != Some(true) {
                break;
            }
            key_marker = resp.next_key_marker().map(str::to_owned);
            id_marker = resp.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Aborts multipart upload `upload_id` of `s3://bucket/key`; one that
    /// is already gone counts as aborted.
    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        abort_multipart(&self.s3, bucket, key, upload_id).await
    }

    /// Aborts the multipart uploads of exactly `key` started at or after
    /// `since` (less a minute of clock slack); returns how many. For making
    /// certain, after an interrupted upload, that nothing of it remains
    /// (a dropped upload also aborts itself, in the background).
    pub async fn abort_uploads_since(
        &self,
        bucket: &str,
        key: &str,
        since: SystemTime,
    ) -> Result<usize> {
        let since = since
            .checked_sub(CLOCK_SLACK)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0);
        let mut n = 0;
        for u in self.list_uploads(bucket, key).await? {
            if u.key == key && u.initiated.is_none_or(|t| t >= since) {
                self.abort_upload(bucket, key, &u.upload_id).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every object under `prefix` in `bucket`, in key order (all pages).
    ///
    /// Objects of any kind are listed; [`ObjectEntry::plaintext_size`] is
    /// `None` for those whose size fits no sealstream object.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectEntry>> {
        let shown = object_name(bucket, prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| Error::s3("ListObjectsV2", &shown, e))?;
            for o in resp.contents() {
                let Some(key) = o.key() else { continue };
                out.push(ObjectEntry::new(
                    key.to_owned(),
                    o.size(),
                    o.last_modified().map(|t| t.secs()),
                    o.e_tag(),
                ));
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The stored size, time and ETag of `s3://bucket/key` (one HeadObject,
    /// with the configured SSE-C key if any). A missing object is
    /// [`Error::NotFound`].
    pub async fn stat(&self, bucket: &str, key: &str) -> Result<ObjectEntry> {
        let object = object_name(bucket, key);
        let resp = sse::head_object(
            self.s3.head_object().bucket(bucket).key(key),
            &self.config.sse,
        )
        .customize()
        .interceptor(crate::compat::SseHeaderCompat)
        .send()
        .await
        .map_err(|e| Error::s3("HeadObject", &object, e))?;
        Ok(ObjectEntry::new(
            key.to_owned(),
            resp.content_length(),
            resp.last_modified().map(|t| t.secs()),
            resp.e_tag(),
        ))
    }

    /// Deletes `s3://bucket/key`. S3 answers a delete of a missing key with
    /// success; call [`SealClient::stat`] first to tell them apart.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let object = object_name(bucket, key);
        self.s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Error::s3("DeleteObject", &object, e))?;
        Ok(())
    }

    /// Deletes `keys` with DeleteObjects, [`MAX_DELETE_BATCH`] per request.
    /// A request that fails as a whole is an error; keys the server refuses
    /// one by one are in [`DeleteOutcome::failed`].
    pub async fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<DeleteOutcome> {
        let mut outcome = DeleteOutcome::default();
        for batch in keys.chunks(MAX_DELETE_BATCH) {
            let ids = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::InvalidArgument(format!("a key to delete: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(false)
                .build()
                .map_err(|e| Error::InvalidArgument(format!("a delete request: {e}")))?;
            let resp = self
                .s3
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| Error::s3("DeleteObjects", &object_name(bucket, ""), e))?;
            for d in resp.deleted() {
                if let Some(k) = d.key() {
                    outcome.deleted.push(k.to_owned());
                }
            }
            for e in resp.errors() {
                outcome.failed.push((
                    e.key().unwrap_or_default().to_owned(),
                    format!(
                        "{}: {}",
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or("")
                    ),
                ));
            }
        }
        Ok(outcome)
    }
}
