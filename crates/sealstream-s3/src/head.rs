//! One header read as the single source of an operation that makes several
//! requests (a ranged read, a download, a share link, a rewrap).
//!
//! ```text
//!  GET bytes=0-(64 KiB + 56 + extra)   -> ObjectHead { header, body prefix, ETag,
//!                                          object length, the bytes read }
//!  checks (context, keys to use)       <- on head.header()
//!  every later request                 -> If-Match the ETag; its ETag and total
//!                                          length must be the head's; any header
//!                                          and prefix bytes read again must equal
//!                                          the head's byte for byte
//!  data key                            <- unwrapped from the head's own bytes
//! ```
//!
//! A storage operator (or anything between the client and S3) could answer
//! the second request of an operation with another object. What was checked
//! must be what is used: the key is unwrapped from the very header and body
//! prefix that the caller checked, and every later response must be of the
//! same version of the same object, or the operation fails with
//! [`Error::ObjectChanged`] before any key is used, returned or wrapped
//! again.

use std::fmt;

use sealstream_format::{BODY_PREFIX_LEN, BodyPrefix, Header, HeaderParse, PEEK_LEN, layout};

use sealstream_kms::RetryPolicy;

use crate::client::SealClient;
use crate::config::Config;
use crate::download::{Fetcher, Version, first_fetch_len};
use crate::error::{Error, Result, object_name};
use crate::sse::Sse;

/// What one ranged GET of an object's start established: its header, body
/// prefix (salt and key commitment), ETag and total length, and the bytes
/// read. Nothing in it is authenticated yet (the commitment is checked when
/// a key is unwrapped from it); it is the one source that the later
/// requests of an operation are checked against.
///
/// Read it with [`ObjectHead::read`] (no keys needed) or
/// [`SealClient::head`](crate::SealClient::head), check what you need on
/// [`ObjectHead::header`], then pass it to
/// [`SealClient::read_range`](crate::SealClient::read_range),
/// [`download_head`](crate::SealClient::download_head),
/// [`share_head`](crate::SealClient::share_head) or
/// [`rewrap_head`](crate::SealClient::rewrap_head).
pub struct ObjectHead {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) object: String,
    pub(crate) header: Header,
    pub(crate) header_len: u64,
    pub(crate) object_len: u64,
    pub(crate) etag: Option<String>,
    /// The bytes read, from object offset 0: at least the header and the
    /// body prefix.
    pub(crate) first: Vec<u8>,
}

impl fmt::Debug for ObjectHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectHead")
            .field("object", &self.object)
            .field("header", &self.header)
            .field("header_len", &self.header_len)
            .field("object_len", &self.object_len)
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

/// Chunks read with the header by [`ObjectHead::read`].
pub(crate) const HEAD_CHUNKS: u64 = 4;

impl ObjectHead {
    /// Reads the header and body prefix of `s3://bucket/key` (and its first
    /// few chunks) with one ranged GET; no key is needed. `sse` is needed
    /// only for SSE-C objects.
    pub async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, sse: &Sse) -> Result<Self> {
        Self::read_with(s3, bucket, key, sse, &RetryPolicy::default()).await
    }

    /// [`ObjectHead::read`] with the re-fetches of a cut body retried by
    /// `retry`.
    pub(crate) async fn read_with(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        sse: &Sse,
        retry: &RetryPolicy,
    ) -> Result<Self> {
        let fetcher = Fetcher {
            s3: s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: object_name(bucket, key),
            sse: sse.clone(),
            retry: retry.clone(),
        };
        fetcher.read_head(first_fetch_len(HEAD_CHUNKS)).await
    }

    /// The header (not authenticated until a key is unwrapped from it).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header's encoded length (the body prefix's offset).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// The object's length as the server reported it.
    pub fn object_len(&self) -> u64 {
        self.object_len
    }

    /// The plaintext length that the object length implies, if it fits a
    /// valid body; proven only when the final chunk authenticates.
    pub fn claimed_plaintext_len(&self) -> Option<u64> {
        layout::plaintext_len(self.object_len.checked_sub(self.header_len)?).ok()
    }

    /// The ETag of the response, which every later request is pinned to.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// `s3://bucket/key`.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// The header and body prefix bytes exactly as read.
    pub(crate) fn sealed_start(&self) -> &[u8] {
        let end = usize::try_from(self.header_len).map_or(0, |n| n + BODY_PREFIX_LEN);
        self.first.get(..end).unwrap_or(&[])
    }

    /// The body prefix as read.
    pub(crate) fn prefix(&self) -> Result<BodyPrefix> {
        let start = usize::try_from(self.header_len).unwrap_or(usize::MAX);
        let prefix: &[u8; BODY_PREFIX_LEN] = self
            .first
            .get(start..start.saturating_add(BODY_PREFIX_LEN))
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| Error::Truncated {
                object: self.object.clone(),
                detail: "it ends inside its salt and commitment".into(),
            })?;
        Ok(BodyPrefix::from_bytes(prefix))
    }

    /// The version later requests are pinned to.
    pub(crate) fn version(&self) -> Version {
        Version {
            etag: self.etag.clone(),
            object_len: self.object_len,
        }
    }

    /// Fails with [`Error::ObjectChanged`] unless `bytes` (a header and body
    /// prefix read again) equal this head's byte for byte.
    pub(crate) fn check_sealed_start(&self, bytes: &[u8]) -> Result<()> {
        if bytes != self.sealed_start() {
            return Err(Error::ObjectChanged {
                object: self.object.clone(),
            });
        }
        Ok(())
    }

    /// The fetcher for later requests on this object.
    pub(crate) fn fetcher(&self, s3: &aws_sdk_s3::Client, config: &Config) -> Fetcher {
        Fetcher {
            s3: s3.clone(),
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            object: self.object.clone(),
            sse: config.sse.clone(),
            retry: config.retry.clone(),
        }
    }
}

/// Bytes fetched first by a header-only read ([`SealClient::read_header`]):
/// most headers are far smaller; a larger one costs a second request.
const FIRST_HEADER_FETCH: u64 = 4096;

/// An object's header as a header-only read found it
/// ([`SealClient::read_header`]): for listings and inspection, where no key
/// is unwrapped. Not authenticated; nothing later is pinned to it (use
/// [`ObjectHead`] for that).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoredHeader {
    /// The header.
    pub header: Header,
    /// Its encoded length (the body prefix's offset).
    pub header_len: u64,
    /// The object's length as the server reported it.
    pub object_len: u64,
}

impl SealClient {
    fn fetcher(&self, bucket: &str, key: &str) -> Fetcher {
        Fetcher {
            s3: self.s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: object_name(bucket, key),
            sse: self.config.sse.clone(),
            retry: self.config.retry.clone(),
        }
    }

    /// Reads only the header of `s3://bucket/key` (one ranged GET of 4 KiB,
    /// a second one for a larger header); no key is used and the object may
    /// end right after its header. With this client's SSE-C key, if any.
    pub async fn read_header(&self, bucket: &str, key: &str) -> Result<StoredHeader> {
        let fetcher = self.fetcher(bucket, key);
        fetcher.read_header_only().await
    }

    /// The stored bytes `start..start + len` of `s3://bucket/key` (clamped
    /// to the object; at least one byte is asked for) and the object's total
    /// length: raw, unopened bytes, for copying an object as it is stored.
    pub async fn get_stored_bytes(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        len: u64,
    ) -> Result<(Vec<u8>, u64)> {
        let fetcher = self.fetcher(bucket, key);
        let last = start.saturating_add(len.max(1) - 1);
        let f = fetcher.fetch(start, last, None, "the stored bytes").await?;
        Ok((f.data, f.total_len))
    }
}

impl Fetcher {
    /// Reads the header only: [`FIRST_HEADER_FETCH`] bytes, then as many as
    /// the header says it needs.
    pub(crate) async fn read_header_only(&self) -> Result<StoredHeader> {
        let object = &self.object;
        let truncated = || Error::Truncated {
            object: object.clone(),
            detail: "the object ends inside its header".to_owned(),
        };
        let first = self
            .fetch(0, FIRST_HEADER_FETCH - 1, None, "the header")
            .await?;
        let total = first.total_len;
        match Header::parse_prefix(&first.data).map_err(|e| Error::format(object, e))? {
            HeaderParse::Complete { header, len } => Ok(StoredHeader {
                header,
                header_len: len as u64,
                object_len: total,
            }),
            HeaderParse::NeedMore { needed } => {
                if (needed as u64) > total || (first.data.len() as u64) >= total {
                    return Err(truncated());
                }
                let all = self
                    .fetch(0, needed as u64 - 1, first.etag.as_deref(), "the header")
                    .await?;
                let bytes = all.data.get(..needed).ok_or_else(truncated)?;
                let header = Header::parse(bytes).map_err(|e| Error::format(object, e))?;
                Ok(StoredHeader {
                    header,
                    header_len: needed as u64,
                    object_len: all.total_len,
                })
            }
        }
    }

    /// Reads the header and body prefix with one ranged GET of
    /// `first_len` bytes from offset 0.
    pub(crate) async fn read_head(&self, first_len: u64) -> Result<ObjectHead> {
        let object = &self.object;
        let fetched = self.fetch(0, first_len - 1, None, "the header").await?;
        let buf = fetched.data;
        let truncated = |detail: &str| Error::Truncated {
            object: object.clone(),
            detail: detail.to_owned(),
        };
        let peek = buf.get(..PEEK_LEN.min(buf.len())).unwrap_or(&[]);
        let header_len = match Header::peek_len(peek).map_err(|e| Error::format(object, e))? {
            Some(n) if buf.len() >= PEEK_LEN => n,
            _ => return Err(truncated("it ends inside its header")),
        };
        let header_bytes = buf
            .get(..header_len)
            .ok_or_else(|| truncated("it ends inside its header"))?;
        let header = Header::parse(header_bytes).map_err(|e| Error::format(object, e))?;
        if buf.len() < header_len + BODY_PREFIX_LEN {
            return Err(truncated("it ends inside its salt and commitment"));
        }
        Ok(ObjectHead {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            object: object.clone(),
            header,
            header_len: header_len as u64,
            object_len: fetched.total_len,
            etag: fetched.etag,
            first: buf,
        })
    }
}
