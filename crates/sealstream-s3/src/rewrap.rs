//! Rewrapping in place: change who can open an object without
//! re-encrypting it (docs/FORMAT.md, "Rewrapping"). Only the header
//! changes; the body is copied server-side.
//!
//! ```text
//!  old object: [old header][salt|commitment|chunks ..................]
//!  new object: [new header][salt|commitment|chunks ..................]
//!              \__ part 1: uploaded ___/\__ parts 2..: UploadPartCopy
//!                  (new header + first        from the old object itself,
//!                   5 MiB of the body)        If-Match its ETag
//! ```
//!
//! Small objects (body under 5 MiB) are read and written back with one
//! PutObject. The old key records are dropped: the new header holds only
//! the records of the new keyring.

use bytes::Bytes;
use sealstream_format::{BODY_PREFIX_LEN, Header, SEALED_CHUNK_SIZE};
use sealstream_kms::{Keyring, WrapContext};
use zeroize::Zeroizing;

use crate::client::SealClient;
use crate::config::{MIN_PART_SIZE, copy_part_size};
use crate::download::Opened;
use crate::error::{Error, Result};
use crate::head::ObjectHead;
use crate::io::Unlock;
use crate::parts::blocking;
use crate::pipeline::abort_after;
use crate::s3target::{Multipart, PartDone, S3Target, Target};
use crate::sse;

/// What a rewrap did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapOutcome {
    /// `s3://bucket/key`.
    pub object: String,
    /// The header length before and after.
    pub header_len: (u64, u64),
    /// Body bytes copied server-side (0 when the object was small enough to
    /// be rewritten in one PutObject).
    pub copied: u64,
}

/// Percent-encodes a key for `x-amz-copy-source` (`/` kept).
fn encode_copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 8);
    out.push_str(bucket);
    out.push('/');
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The body bytes part 1 rewrites were read by this client, not copied by
/// the server: their chunks (object offsets up to `want`, whole chunks, the
/// final one too when `whole_object`) must open under the key just
/// unwrapped, so that bytes of another object (a swapped answer with a
/// forged ETag) are never written back. The plaintext is wiped.
async fn verify_rewritten(
    opened: &Opened,
    want: u64,
    whole_object: bool,
    object: &str,
) -> Result<()> {
    let start = usize::try_from(opened.header_len).unwrap_or(usize::MAX) + BODY_PREFIX_LEN;
    let end = usize::try_from(want).unwrap_or(usize::MAX);
    let run = opened
        .first
        .get(start..end)
        .ok_or_else(|| Error::Truncated {
            object: object.to_owned(),
            detail: "it ends inside the start of its body".into(),
        })?;
    let mut run = Zeroizing::new(run.to_vec());
    let cipher = opened.cipher.clone();
    blocking(move || {
        sealstream_format::codec::open_compact(&cipher, 0, &mut run, whole_object, 0).map(|_| ())
    })
    .await
    .map_err(|e| Error::io("opening chunks", e))?
    .map_err(|e| Error::format(object, e))
}

impl SealClient {
    /// Rewraps the data key of `s3://bucket/key` for `new_keys` (this
    /// client's keyring must open it) and rewrites the object in place with
    /// the new header; the body is not re-encrypted. The key is checked
    /// against the object's commitment before it is wrapped again.
    ///
    /// Large objects are rewritten with a multipart upload onto the same
    /// key whose later parts are server-side copies (UploadPartCopy, with
    /// the SSE-C key for both source and destination when configured), made
    /// only while the object still has the ETag that was read; on failure
    /// the upload is aborted and the old object stays as it was.
    ///
    /// Rewrapping does not revoke access for anyone who already holds the
    /// data key or an old copy of the object.
    pub async fn rewrap(
        &self,
        bucket: &str,
        key: &str,
        new_keys: &Keyring,
    ) -> Result<RewrapOutcome> {
        let head = self.head(bucket, key).await?;
        self.rewrap_head(&head, new_keys).await
    }

    /// Like [`SealClient::rewrap`], for the object version `head` read: the
    /// data key wrapped for `new_keys` is unwrapped from `head`'s own
    /// header and body prefix (the bytes the caller checked), and every
    /// later read and server-side copy is pinned to `head`'s ETag and
    /// length (a different answer is [`Error::ObjectChanged`], before any
    /// key is wrapped). A server that sends no ETag is refused: the copies
    /// could not be pinned.
    pub async fn rewrap_head(
        &self,
        head: &ObjectHead,
        new_keys: &Keyring,
    ) -> Result<RewrapOutcome> {
        let (bucket, key) = (head.bucket.as_str(), head.key.as_str());
        let object = head.object.clone();
        if head.etag.is_none() {
            return Err(Error::S3 {
                object,
                operation: "GetObject",
                detail: "the response has no ETag, so the server-side copies of a rewrap \
                         could not be pinned to the version that was read"
                    .into(),
                source: None,
            });
        }
        let fetcher = head.fetcher(&self.s3, &self.config);
        let mut opened = Opened::from_head(head, Unlock::Keyring(&self.keyring)).await?;
        // Part 1 carries up to 5 MiB of the body: read what the head does
        // not hold yet (to the end of the chunk that 5 MiB ends in), pinned
        // to its version.
        let sealed = SEALED_CHUNK_SIZE as u64;
        let chunks = MIN_PART_SIZE.div_ceil(sealed);
        let whole_object =
            opened.header_len + BODY_PREFIX_LEN as u64 + chunks * sealed >= opened.object_len;
        let want = opened
            .object_len
            .min(opened.header_len + BODY_PREFIX_LEN as u64 + chunks * sealed);
        let have = opened.first.len() as u64;
        if have < want {
            let more = fetcher
                .fetch_pinned(&opened.version(), have, want - 1, "the start of the body")
                .await?;
            opened.first.extend_from_slice(&more.data);
        }
        verify_rewritten(&opened, want, whole_object, &object).await?;
        // Bound to the same object: bound section, salt and (kept) name.
        let ctx = WrapContext {
            suite: opened.header.suite(),
            context: opened.header.context(),
            bound: opened.header.bound_section(),
            salt: &opened.prefix.salt,
            name: opened.header.name(),
        };
        let records = new_keys
            .wrap_all(&opened.key, ctx)
            .await
            .map_err(|source| Error::Seal {
                object: object.clone(),
                source,
            })?;
        let new_header: Header = opened
            .header
            .with_records(records)
            .map_err(|e| Error::format(&object, e))?;
        let new_header_bytes = new_header.encode();
        let old_hl = opened.header_len;
        let body_len = opened.object_len - old_hl;

        let meta = sse::head_object(
            self.s3
                .head_object()
                .bucket(bucket)
                .key(key)
                .set_if_match(opened.etag.clone()),
            &self.config.sse,
        )
        .customize()
        .interceptor(crate::compat::SseHeaderCompat)
        .send()
        .await
        .map_err(|e| Error::s3("HeadObject", &object, e))?;
        opened.version().check(
            &object,
            meta.e_tag(),
            meta.content_length().and_then(|n| u64::try_from(n).ok()),
        )?;
        let target = S3Target {
            s3: self.s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: object.clone(),
            sse: self.config.sse.clone(),
            retry: self.config.retry.clone(),
            metadata: meta.metadata().cloned().unwrap_or_default(),
            content_type: meta.content_type().map(str::to_owned),
        };
        let new_hl = new_header_bytes.len() as u64;

        // Part 1: the new header and the start of the body, from the bytes
        // already read (the first fetch holds 5 MiB of body when there is).
        let body_start = usize::try_from(old_hl).unwrap_or(usize::MAX);
        let have = opened.first.get(body_start..).unwrap_or(&[]);
        let first_body = u64::try_from(have.len()).unwrap_or(0).min(MIN_PART_SIZE);
        let mut part1 = new_header_bytes;
        part1.extend_from_slice(
            have.get(..usize::try_from(first_body).unwrap_or(0))
                .unwrap_or(&[]),
        );

        if first_body == body_len {
            let crc = crc32fast::hash(&part1);
            target
                .put_single(Bytes::from(part1), crc, opened.plaintext_len)
                .await?;
            return Ok(RewrapOutcome {
                object,
                header_len: (old_hl, new_hl),
                copied: 0,
            });
        }

        let upload = target.start().await?;
        let result = async {
            let crc = crc32fast::hash(&part1);
            let p1 = upload.upload_part(1, Bytes::from(part1), crc).await?;
            let mut parts = vec![p1];
            let rest = body_len - first_body;
            let piece = copy_part_size(rest, self.config.part_size);
            let mut off = first_body;
            let mut number = 1i32;
            let source = encode_copy_source(bucket, key);
            while off < body_len {
                number += 1;
                let end = (off + piece).min(body_len);
                let (a, b) = (old_hl + off, old_hl + end - 1);
                let req = self
                    .s3
                    .upload_part_copy()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload.upload_id())
                    .part_number(number)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={a}-{b}"))
                    .set_copy_source_if_match(opened.etag.clone());
                let req = sse::upload_part_copy_dest(req, &self.config.sse);
                let req = sse::upload_part_copy_source(req, &self.config.sse);
                let out = req
                    .customize()
                    .interceptor(crate::compat::SseHeaderCompat)
                    .send()
                    .await
                    .map_err(|e| Error::s3("UploadPartCopy", &object, e))?;
                let result = out.copy_part_result.ok_or_else(|| Error::S3 {
                    object: object.clone(),
                    operation: "UploadPartCopy",
                    detail: format!("part {number}: the response has no CopyPartResult"),
                    source: None,
                })?;
                parts.push(PartDone {
                    number,
                    etag: result.e_tag.unwrap_or_default(),
                    crc32: result.checksum_crc32.unwrap_or_default(),
                });
                off = end;
            }
            Ok::<_, Error>(parts)
        }
        .await;
        let result = match result {
            Ok(parts) => upload.complete(parts).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => Ok(RewrapOutcome {
                object,
                header_len: (old_hl, new_hl),
                copied: body_len - first_body,
            }),
            Err(e) => Err(abort_after(&upload, &object, e).await),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_encoded() {
        assert_eq!(encode_copy_source("b", "a b/c+d"), "b/a%20b/c%2Bd");
    }
}
