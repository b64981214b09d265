//! An S3EC object on S3: detection (HEAD, then the instruction file) and
//! the streaming open.
//!
//! ```text
//!  HEAD key ─▶ S3EC metadata? ─(no data key)─▶ GET key.instruction (≤ 64 KiB)
//!  ─▶ Envelope ─▶ context check ─▶ KMS Decrypt ─▶ V3: HKDF, commitment (ct)
//!  ─▶ GET key (If-Match ETag) ─▶ GHASH + CTR per body piece, last 16 bytes = tag
//!  ─▶ the last plaintext piece is held back until the tag verified
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::gcm::{GcmError, GcmOpener, TAG_LEN};
use super::keys::{S3ecKeys, check_context, content_key};
use super::metadata::{self, Envelope, MAX_INSTRUCTION_FILE_LEN, MetadataError};
use super::{Error, Result};
use crate::error::object_name;

/// The default instruction file suffix (metadata-strategy.md).
pub const INSTRUCTION_SUFFIX: &str = ".instruction";

/// An S3EC object found on S3: its parsed metadata, length and ETag.
#[derive(Clone, Debug)]
pub struct S3ecObject {
    bucket: String,
    key: String,
    envelope: Envelope,
    len: u64,
    etag: Option<String>,
}

/// Where a failure of the plaintext stream is kept for its caller (the
/// stream's own error type is the crate's, which has no S3EC variant).
pub(crate) type FailureSlot = Arc<Mutex<Option<Error>>>;

pub(crate) fn take_failure(slot: &FailureSlot) -> Option<Error> {
    slot.lock().ok().and_then(|mut g| g.take())
}

impl S3ecObject {
    /// HEADs `s3://bucket/key` and, if its metadata is an S3EC object's,
    /// parses it (fetching its instruction file when the metadata names no
    /// data key). `Ok(None)`: not an S3EC object. Legacy formats are
    /// returned as [`Error::Refused`].
    pub async fn head(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<Self>> {
        let object = object_name(bucket, key);
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| crate::Error::s3("HeadObject", &object, e))?;
        let meta: HashMap<String, String> = head.metadata().cloned().unwrap_or_default();
        let len = head
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let etag = head.e_tag().map(str::to_owned);
        Self::from_metadata(s3, bucket, key, &meta, len, etag).await
    }

    /// Like [`head`](Self::head) from metadata already fetched.
    pub async fn from_metadata(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        meta: &HashMap<String, String>,
        len: u64,
        etag: Option<String>,
    ) -> Result<Option<Self>> {
        let object = object_name(bucket, key);
        // content-metadata.md: an object that matches no format in its own
        // metadata (none at all included) may have an instruction file.
        let instruction = if metadata::needs_instruction_file(meta) {
            match fetch_instruction(s3, bucket, key).await {
                Ok(i) => Some(i),
                Err(Error::InstructionMissing { .. }) if !metadata::looks_like_s3ec(meta) => {
                    return Ok(None);
                }
                Err(Error::InstructionMissing { object, detail }) => {
                    return Err(Error::Malformed { object, detail });
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let envelope = match metadata::parse(meta, instruction.as_ref()) {
            Ok(e) => e,
            Err(MetadataError::NotS3ec) => return Ok(None),
            Err(e) => return Err(Error::metadata(&object, e)),
        };
        if len < TAG_LEN as u64 {
            return Err(Error::Truncated {
                object,
                detail: format!("it is {len} bytes, shorter than its 16-byte GCM tag"),
            });
        }
        Ok(Some(S3ecObject {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            envelope,
            len,
            etag,
        }))
    }

    /// The parsed metadata (format, wrapping, context); no key needed.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The stored object's length (ciphertext and tag).
    pub fn object_len(&self) -> u64 {
        self.len
    }

    /// The plaintext length (the object length less the 16-byte tag; it
    /// is authenticated only once the tag verifies).
    pub fn plaintext_len(&self) -> u64 {
        self.len - TAG_LEN as u64
    }

    /// `s3://bucket/key`.
    pub fn name(&self) -> String {
        object_name(&self.bucket, &self.key)
    }

    /// Opens the object into `path`: the plaintext goes to a temporary
    /// file beside it (mode 0600), renamed to `path` only after the GCM
    /// tag verified; on any failure nothing is left. `context` is the
    /// caller's encryption context, checked against the stored one
    /// (without `aws:x-amz-cek-alg`).
    pub async fn download_to_file(
        &self,
        s3: &aws_sdk_s3::Client,
        keys: &S3ecKeys,
        context: &BTreeMap<String, String>,
        path: &Path,
    ) -> Result<u64> {
        let (stream, slot) = self.plaintext_stream(s3, keys, Some(context)).await?;
        match crate::download::write_file_atomically(path, Box::pin(stream)).await {
            Ok(n) => Ok(n),
            Err(e) => Err(take_failure(&slot).unwrap_or(Error::S3(e))),
        }
    }

    /// Opens the object into `writer`. An S3EC object is one GCM message,
    /// so the plaintext is **spooled** to a private temporary file in
    /// `spool_dir` (mode 0600, removed afterwards) and copied to `writer`
    /// only after the tag verified: memory stays bounded and nothing
    /// unauthenticated reaches `writer`.
    pub async fn download_to_writer<W>(
        &self,
        s3: &aws_sdk_s3::Client,
        keys: &S3ecKeys,
        context: &BTreeMap<String, String>,
        writer: &mut W,
        spool_dir: &Path,
    ) -> Result<u64>
    where
        W: AsyncWrite + Unpin,
    {
        let spool = spool_path(spool_dir);
        let _guard = RemoveOnDrop(spool.clone());
        let n = self.download_to_file(s3, keys, context, &spool).await?;
        let ctx = |what: &str| format!("{what} the spool file {}", spool.display());
        let mut f = tokio::fs::File::open(&spool).await.map_err(|e| Error::Io {
            context: ctx("opening"),
            source: e,
        })?;
        // The open descriptor keeps the data; the name goes at once.
        let _ = tokio::fs::remove_file(&spool).await;
        let copied = tokio::io::copy(&mut f, writer)
            .await
            .map_err(|e| Error::Io {
                context: "writing the plaintext".into(),
                source: e,
            })?;
        writer.flush().await.map_err(|e| Error::Io {
            context: "writing the plaintext".into(),
            source: e,
        })?;
        debug_assert_eq!(copied, n);
        Ok(copied)
    }

    /// The plaintext as it is decrypted. **Unauthenticated until the
    /// stream ends without an error**: the final piece is held back until
    /// the tag verified, and a failure is one `Err` item (its S3EC error
    /// in the returned slot). Only for consumers that discard everything
    /// on an error (a temporary file, a multipart upload that is aborted).
    pub(crate) async fn plaintext_stream(
        &self,
        s3: &aws_sdk_s3::Client,
        keys: &S3ecKeys,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<(
        impl Stream<Item = crate::Result<Bytes>> + Send + use<>,
        FailureSlot,
    )> {
        let object = self.name();
        check_context(&object, &self.envelope, context)?;
        let ck = content_key(&object, &self.envelope, keys).await?;
        let mut req = s3.get_object().bucket(&self.bucket).key(&self.key);
        if let Some(etag) = &self.etag {
            req = req.if_match(etag);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| crate::Error::s3("GetObject", &object, e))?;
        let got = resp
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        if got != self.len {
            return Err(crate::Error::ObjectChanged { object }.into());
        }
        let gcm = GcmOpener::new(&ck.key, &ck.iv, ck.aad);
        drop(ck);
        let slot: FailureSlot = Arc::new(Mutex::new(None));
        let state = Opening {
            body: resp.body,
            gcm: Some(gcm),
            hold: BytesMut::new(),
            received: 0,
            len: self.len,
            pending: None,
            done: false,
            object,
            slot: slot.clone(),
        };
        Ok((futures_util::stream::unfold(state, Opening::step), slot))
    }
}

struct Opening {
    body: aws_sdk_s3::primitives::ByteStream,
    gcm: Option<GcmOpener>,
    /// Bytes received but not yet decrypted: at most the last 16 (the tag).
    hold: BytesMut,
    received: u64,
    len: u64,
    /// Decrypted but not yet released (one piece behind the body).
    pending: Option<Bytes>,
    done: bool,
    object: String,
    slot: FailureSlot,
}

impl Opening {
    fn fail(mut self, e: Error) -> Option<(crate::Result<Bytes>, Self)> {
        self.done = true;
        self.pending = None;
        let shown = crate::Error::Truncated {
            object: self.object.clone(),
            detail: format!("S3 Encryption Client object not opened: {e}"),
        };
        if let Ok(mut g) = self.slot.lock() {
            *g = Some(e);
        }
        Some((Err(shown), self))
    }

    async fn step(mut self) -> Option<(crate::Result<Bytes>, Self)> {
        loop {
            if self.done {
                return self.pending.take().map(|p| (Ok(p), self));
            }
            match self.body.next().await {
                Some(Ok(piece)) => {
                    self.received += piece.len() as u64;
                    if self.received > self.len {
                        let object = self.object.clone();
                        return self.fail(Error::S3(crate::Error::ObjectChanged { object }));
                    }
                    self.hold.extend_from_slice(&piece);
                    if self.hold.len() <= TAG_LEN {
                        continue;
                    }
                    let mut ct = self.hold.split_to(self.hold.len() - TAG_LEN);
                    let gcm = self.gcm.as_mut()?;
                    if gcm.decrypt_in_place(&mut ct).is_err() {
                        let object = self.object.clone();
                        return self.fail(Error::Malformed {
                            object,
                            detail: "the ciphertext is longer than AES-GCM allows (64 GiB)".into(),
                        });
                    }
                    let new = ct.freeze();
                    if let Some(prev) = self.pending.replace(new) {
                        return Some((Ok(prev), self));
                    }
                }
                Some(Err(e)) => {
                    let object = self.object.clone();
                    let detail = format!("the response body failed at byte {}: {e}", self.received);
                    return self.fail(Error::Truncated { object, detail });
                }
                None => {
                    if self.received != self.len || self.hold.len() != TAG_LEN {
                        let object = self.object.clone();
                        let detail = format!(
                            "the body ended after {} of {} bytes",
                            self.received, self.len
                        );
                        return self.fail(Error::Truncated { object, detail });
                    }
                    let mut tag = [0u8; TAG_LEN];
                    tag.copy_from_slice(&self.hold);
                    let gcm = self.gcm.take()?;
                    match gcm.finish(&tag) {
                        Ok(_) => self.done = true,
                        Err(GcmError::TagMismatch | GcmError::TooLong) => {
                            let object = self.object.clone();
                            return self.fail(Error::TagMismatch { object });
                        }
                    }
                }
            }
        }
    }
}

async fn fetch_instruction(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<HashMap<String, String>> {
    let inst_key = format!("{key}{INSTRUCTION_SUFFIX}");
    let inst_name = object_name(bucket, &inst_key);
    let resp = s3
        .get_object()
        .bucket(bucket)
        .key(&inst_key)
        .range(format!("bytes=0-{}", MAX_INSTRUCTION_FILE_LEN))
        .send()
        .await
        .map_err(|e| match crate::Error::s3("GetObject", &inst_name, e) {
            crate::Error::NotFound { .. } => Error::InstructionMissing {
                object: object_name(bucket, key),
                detail: format!(
                    "its metadata names no data key, so it needs its instruction file \
                     {inst_name}, which does not exist"
                ),
            },
            other => Error::S3(other),
        })?;
    let body = resp
        .body
        .collect()
        .await
        .map_err(|e| Error::Truncated {
            object: inst_name.clone(),
            detail: format!("reading the instruction file failed: {e}"),
        })?
        .into_bytes();
    metadata::parse_instruction_file(&body).map_err(|e| Error::metadata(&inst_name, e))
}

fn spool_path(dir: &Path) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    dir.join(format!("sealstream-s3ec-spool-{:016x}", h.finish()))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
