//! Downloads: whole objects as a stream of authenticated plaintext, into an
//! `AsyncWrite` or a file, sequentially or with parallel ranged GETs.
//!
//! ```text
//!  parallel (download_concurrency > 1):
//!   GET bytes=0-(64 KiB + 56 + segment)   header, prefix, first chunks; total length from
//!                                         Content-Range; the key is unwrapped and the
//!                                         commitment checked before anything else is read
//!   GET segment 1 | GET segment 2 | ...   chunk-aligned ranges, If-Match the first ETag,
//!                                         up to N in flight, opened on all cores,
//!                                         yielded strictly in order
//!  sequential (download_concurrency = 1):
//!   GET (whole object) -> OpeningReader   one streaming request, one chunk of memory
//! ```

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sealstream_format::{
    BODY_PREFIX_LEN, BodyPrefix, ChunkOpener, HEADER_LEN, Header, SEALED_CHUNK_SIZE, layout,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use sealstream_kms::{GaveUp, RetryPolicy};

use crate::client::SealClient;
use crate::error::{Error, Result};
use crate::head::ObjectHead;
use crate::io::{OpeningReader, Unlock};
use crate::parts::blocking;
use crate::sse::{self, Sse};
use sealstream_atomic::{AtomicFile, Mode, Publish};

/// A plaintext download in progress: a `Stream` of authenticated plaintext
/// [`Bytes`], in order.
///
/// Every item has been authenticated, but the object as a whole is
/// authentic only once the stream has ended without error (the final
/// chunk proves the length). Treat an error at any point as a failure of
/// the whole download; [`SealClient::download_to_file`] does this for you.
pub struct Download {
    header: Header,
    object_len: Option<u64>,
    plaintext_len: Option<u64>,
    inner: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("header", &self.header)
            .field("object_len", &self.object_len)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// The object's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The plaintext length the object's length implies (proven only when
    /// the stream ends without error).
    pub fn plaintext_len(&self) -> Option<u64> {
        self.plaintext_len
    }
}

impl Download {
    /// A download over an opening reader (one streaming request).
    pub(crate) fn from_opening<R>(
        opening: OpeningReader<R>,
        object_len: Option<u64>,
        object: &str,
    ) -> Result<Self>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        let plaintext_len = match object_len {
            Some(len) => Some(
                layout::plaintext_len(len.saturating_sub(opening.header_len() as u64))
                    .map_err(|e| Error::format(object, e))?,
            ),
            None => None,
        };
        let header = opening.header().clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(opening, 1 << 20).map_err(|e| {
            Error::from_io_owned(e).unwrap_or_else(|e| Error::io("reading the download", e))
        });
        Ok(Download {
            header,
            object_len,
            plaintext_len,
            inner: Box::pin(stream),
        })
    }
}

impl Stream for Download {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// The result of one ranged GET.
pub(crate) struct Fetched {
    pub(crate) data: Vec<u8>,
    pub(crate) total_len: u64,
    pub(crate) etag: Option<String>,
}

/// What the first request of a ranged read establishes.
pub(crate) struct Opened {
    pub(crate) header: Header,
    pub(crate) header_len: u64,
    pub(crate) object_len: u64,
    /// Claimed until the final chunk is authenticated.
    pub(crate) plaintext_len: u64,
    pub(crate) cipher: Arc<ChunkOpener>,
    pub(crate) etag: Option<String>,
    /// The bytes fetched, from object offset 0.
    pub(crate) first: Vec<u8>,
    /// The body's salt and commitment.
    pub(crate) prefix: BodyPrefix,
    /// The data key (wiped on drop), for share links.
    pub(crate) key: sealstream_format::DataKey,
}

/// The detail of the [`Error::Truncated`] for a GET of `what` (bytes
/// `first..=last`) whose body was cut short on all its `attempts`.
fn cut_short(what: &str, first: u64, last: u64, attempts: u32, cause: &str) -> String {
    format!(
        "{what}: the response to a GET of bytes {first}-{last} was cut short {attempts} times \
         ({cause})"
    )
}

/// Bytes fetched by the first request of a ranged read: the largest header,
/// the body prefix, and `extra_chunks` chunks.
pub(crate) fn first_fetch_len(extra_chunks: u64) -> u64 {
    (HEADER_LEN + BODY_PREFIX_LEN) as u64 + extra_chunks * SEALED_CHUNK_SIZE as u64
}

/// The object's location and how to fetch its bytes.
#[derive(Clone)]
pub(crate) struct Fetcher {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) object: String,
    pub(crate) sse: Sse,
    /// Re-fetches of a body cut short.
    pub(crate) retry: RetryPolicy,
}

/// Why one GET of [`Fetcher::fetch`] failed.
enum BodyFailure {
    /// The body was cut short: fetched again.
    Cut(String),
    /// Anything else: returned as is.
    Final(Error),
}

impl Fetcher {
    /// Sends a GET of `range` (an HTTP `Range` value), optionally pinned
    /// to an ETag.
    async fn get(
        &self,
        range: String,
        if_match: Option<&str>,
        first: u64,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput> {
        let req = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .range(range)
            .set_if_match(if_match.map(str::to_owned));
        sse::get_object(req, &self.sse)
            .customize()
            .interceptor(crate::compat::SseHeaderCompat)
            .send()
            .await
            .map_err(|e| {
                let err = Error::s3("GetObject", &self.object, e);
                match err {
                    Error::S3 { ref detail, .. } if detail.starts_with("InvalidRange") => {
                        Error::Truncated {
                            object: self.object.clone(),
                            detail: if first == 0 {
                                "the object is empty".to_owned()
                            } else {
                                format!("it has no bytes at offset {first}")
                            },
                        }
                    }
                    other => other,
                }
            })
    }

    /// GETs `range` (inclusive `first..=last` object offsets), reading the
    /// body into one buffer. A response body cut short (a reset, a
    /// truncated transfer) is fetched again, pinned to the ETag, up to
    /// the retry policy's `max_attempts` times (with its backoff between
    /// them); after that it is a [`Error::Truncated`]
    /// naming `what` (the chunks or the header being read).
    pub(crate) async fn fetch(
        &self,
        first: u64,
        last: u64,
        if_match: Option<&str>,
        what: &str,
    ) -> Result<Fetched> {
        let want = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        // Re-read the same version of the object only: the first cut pins
        // the ETag its response carried.
        let pinned = std::sync::Mutex::new(if_match.map(str::to_owned));
        let outcome = self
            .retry
            .run(
                |_| {
                    let pinned = &pinned;
                    async move {
                        let pin = pinned.lock().map(|p| p.clone()).unwrap_or_default();
                        let out = self
                            .get(format!("bytes={first}-{last}"), pin.as_deref(), first)
                            .await
                            .map_err(BodyFailure::Final)?;
                        let content_len = out.content_length.and_then(|n| usize::try_from(n).ok());
                        let total_len = match out
                            .content_range
                            .as_deref()
                            .and_then(parse_content_range_total)
                        {
                            Some(t) => t,
                            // No Content-Range: the server sent the whole object.
                            None => content_len.map_or(0, |n| n as u64),
                        };
                        let expected = content_len.unwrap_or(want).min(want);
                        let etag = out.e_tag;
                        let mut data = Vec::with_capacity(expected);
                        let mut body = out.body;
                        let mut cut = None;
                        while let Some(piece) = body.next().await {
                            match piece {
                                Ok(piece) => data.extend_from_slice(&piece),
                                Err(e) => {
                                    cut = Some(e.to_string());
                                    break;
                                }
                            }
                            if data.len() > want {
                                return Err(BodyFailure::Final(Error::S3 {
                                    object: self.object.clone(),
                                    operation: "GetObject",
                                    detail: format!(
                                        "the server sent more than the {want} bytes asked for"
                                    ),
                                    source: None,
                                }));
                            }
                        }
                        if cut.is_none() && data.len() < expected {
                            cut = Some(format!(
                                "the body ended after {} of {expected} bytes",
                                data.len()
                            ));
                        }
                        let Some(cause) = cut else {
                            return Ok(Fetched {
                                data,
                                total_len,
                                etag,
                            });
                        };
                        if let Ok(mut p) = pinned.lock()
                            && p.is_none()
                        {
                            *p = etag;
                        }
                        Err(BodyFailure::Cut(cause))
                    }
                },
                |e| matches!(e, BodyFailure::Cut(_)),
            )
            .await;
        match outcome {
            Ok(fetched) => Ok(fetched),
            Err(GaveUp {
                error: BodyFailure::Final(e),
                ..
            }) => Err(e),
            Err(GaveUp {
                error: BodyFailure::Cut(cause),
                attempts,
                ..
            }) => Err(Error::Truncated {
                object: self.object.clone(),
                detail: cut_short(what, first, last, attempts, &cause),
            }),
        }
    }

    /// A streaming GET from object offset `from` to the end, pinned to
    /// `etag` (to resume a cut download).
    pub(crate) async fn stream_from(
        &self,
        from: u64,
        etag: Option<&str>,
    ) -> Result<aws_smithy_types::byte_stream::ByteStream> {
        let out = self.get(format!("bytes={from}-"), etag, from).await?;
        if etag.is_some() && out.e_tag.as_deref() != etag {
            return Err(Error::ObjectChanged {
                object: self.object.clone(),
            });
        }
        Ok(out.body)
    }

    /// GETs object offsets `first..=last` of the version `head` describes:
    /// If-Match its ETag, and the response's ETag and total length must be
    /// the head's ([`Error::ObjectChanged`] otherwise).
    pub(crate) async fn fetch_pinned(
        &self,
        version: &Version,
        first: u64,
        last: u64,
        what: &str,
    ) -> Result<Fetched> {
        let f = self
            .fetch(first, last, version.etag.as_deref(), what)
            .await?;
        version.check(&self.object, f.etag.as_deref(), Some(f.total_len))?;
        Ok(f)
    }
}

/// The object version later requests are pinned to.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    pub(crate) etag: Option<String>,
    pub(crate) object_len: u64,
}

impl Version {
    /// Fails with [`Error::ObjectChanged`] unless a response with `etag`
    /// and total length `total` is of this version: same ETag (a response
    /// without one, when the first had one, counts as changed), same
    /// length.
    pub(crate) fn check(&self, object: &str, etag: Option<&str>, total: Option<u64>) -> Result<()> {
        let etag_differs = match (self.etag.as_deref(), etag) {
            (Some(a), Some(b)) => a != b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if etag_differs || total.is_some_and(|t| t != self.object_len) {
            return Err(Error::ObjectChanged {
                object: object.to_owned(),
            });
        }
        Ok(())
    }
}

impl Opened {
    /// Unwraps the data key from `head`'s own header and body prefix (the
    /// bytes the caller checked) and checks the commitment.
    pub(crate) async fn from_head(head: &ObjectHead, unlock: Unlock<'_>) -> Result<Opened> {
        let object = &head.object;
        let prefix = head.prefix()?;
        let header = &head.header;
        let key = unlock
            .data_key(header, &prefix, object, Some(&head.key))
            .await?;
        let cipher = ChunkOpener::new(header.suite(), &key, &prefix, header.bound_section())
            .map_err(|e| Error::format(object, e))?;
        let total = head.object_len;
        let plaintext_len = layout::plaintext_len(total - head.header_len.min(total))
            .map_err(|e| Error::format(object, e))?;
        Ok(Opened {
            header: header.clone(),
            header_len: head.header_len,
            object_len: total,
            plaintext_len,
            cipher: Arc::new(cipher),
            etag: head.etag.clone(),
            first: head.first.clone(),
            prefix,
            key,
        })
    }

    /// The version later requests are pinned to.
    pub(crate) fn version(&self) -> Version {
        Version {
            etag: self.etag.clone(),
            object_len: self.object_len,
        }
    }
}

/// `bytes 0-99/1234` -> 1234.
fn parse_content_range_total(v: &str) -> Option<u64> {
    v.rsplit_once('/').and_then(|(_, t)| t.trim().parse().ok())
}

/// One run of chunks to open: `first` and `count` chunks, taken either from
/// an already fetched buffer at `offset` or by a ranged GET.
struct Segment {
    first: u64,
    count: u64,
    ends_with_final: bool,
    ready: Option<(Vec<u8>, usize)>,
}

struct SegmentCtx {
    fetcher: Fetcher,
    cipher: Arc<ChunkOpener>,
    header_len: u64,
    plaintext_len: u64,
    version: Version,
}

impl SegmentCtx {
    async fn run(self: Arc<Self>, seg: Segment) -> Result<Bytes> {
        let object = &self.fetcher.object;
        let start = layout::chunk_body_range(seg.first, self.plaintext_len)
            .map_err(|e| Error::format(object, e))?
            .start;
        let end = layout::chunk_body_range(seg.first + seg.count - 1, self.plaintext_len)
            .map_err(|e| Error::format(object, e))?
            .end;
        let run_len = usize::try_from(end - start).unwrap_or(usize::MAX);
        let (buf, offset) = match seg.ready {
            Some(r) => r,
            None => {
                let what = format!("chunks {}..={}", seg.first, seg.first + seg.count - 1);
                let f = self
                    .fetcher
                    .fetch_pinned(
                        &self.version,
                        self.header_len + start,
                        self.header_len + end - 1,
                        &what,
                    )
                    .await?;
                (f.data, 0)
            }
        };
        if buf.len() < offset + run_len {
            return Err(Error::Truncated {
                object: object.clone(),
                detail: format!(
                    "a ranged GET of chunks {}..={} returned {} of {run_len} bytes",
                    seg.first,
                    seg.first + seg.count - 1,
                    buf.len().saturating_sub(offset)
                ),
            });
        }
        let cipher = self.cipher.clone();
        let mut buf = buf;
        let (buf, plain) = blocking(move || {
            let run = buf.get_mut(offset..offset + run_len).unwrap_or(&mut []);
            sealstream_format::codec::open_compact(&cipher, seg.first, run, seg.ends_with_final, 0)
                .map(|n| (buf, n))
        })
        .await
        .map_err(|e| Error::io("opening a segment", e))?
        .map_err(|e| Error::format(object, e))?;
        Ok(Bytes::from(buf).slice(offset..offset + plain))
    }
}

impl SealClient {
    /// Reads the header of `s3://bucket/key` (see [`ObjectHead`]) with this
    /// client's SSE settings; no key is used.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead> {
        ObjectHead::read_with(&self.s3, bucket, key, &self.config.sse, &self.config.retry).await
    }

    /// Starts downloading `s3://bucket/key`; the returned [`Download`]
    /// yields its plaintext in order. The header is read, the data key
    /// unwrapped and the key commitment checked before this returns.
    ///
    /// With `download_concurrency > 1` the body is fetched with that many
    /// chunk-aligned ranged GETs in flight (pinned to the first response's
    /// ETag) and opened on all cores; with 1, in one streaming GET.
    pub async fn download(&self, bucket: &str, key: &str) -> Result<Download> {
        let head = self.head(bucket, key).await?;
        self.download_head(&head).await
    }

    /// Like [`SealClient::download`], for the object version `head` read:
    /// the data key is unwrapped from `head`'s header and body prefix, and
    /// every request is pinned to its ETag and length (a different answer
    /// is [`Error::ObjectChanged`]).
    pub async fn download_head(&self, head: &ObjectHead) -> Result<Download> {
        if self.config.download_concurrency > 1 {
            self.download_parallel(head).await
        } else {
            self.download_sequential(head).await
        }
    }

    async fn download_sequential(&self, head: &ObjectHead) -> Result<Download> {
        let f = head.fetcher(&self.s3, &self.config);
        let req = self
            .s3
            .get_object()
            .bucket(&head.bucket)
            .key(&head.key)
            .set_if_match(head.etag.clone());
        let out = sse::get_object(req, &f.sse)
            .customize()
            .interceptor(crate::compat::SseHeaderCompat)
            .send()
            .await
            .map_err(|e| Error::s3("GetObject", &f.object, e))?;
        let object_len = out.content_length.and_then(|n| u64::try_from(n).ok());
        head.version()
            .check(&f.object, out.e_tag.as_deref(), object_len)?;
        let reader = ResumingBody {
            fetcher: f.clone(),
            etag: out.e_tag.clone(),
            total: object_len,
            offset: 0,
            resumes_left: f.retry.max_attempts.max(1) - 1,
            state: BodyState::Reading(Box::pin(out.body.into_async_read())),
        };
        let opening = OpeningReader::open_labeled(
            reader,
            Unlock::Keyring(&self.keyring),
            &f.object,
            Some(&f.key),
            Some(head),
        )
        .await?;
        Download::from_opening(opening, object_len, &f.object)
    }

    async fn download_parallel(&self, head: &ObjectHead) -> Result<Download> {
        let fetcher = head.fetcher(&self.s3, &self.config);
        let seg_chunks = self.config.download_segment_chunks;
        let opened = Opened::from_head(head, Unlock::Keyring(&self.keyring)).await?;
        let version = opened.version();
        let Opened {
            header,
            header_len,
            object_len,
            plaintext_len,
            cipher,
            first,
            ..
        } = opened;
        let total_chunks = layout::final_chunk_index(plaintext_len) + 1;
        // Whole chunks already in the first response.
        let body_start = usize::try_from(header_len).unwrap_or(usize::MAX) + BODY_PREFIX_LEN;
        let have = first.len().saturating_sub(body_start) as u64;
        let first_count = if first.len() as u64 >= object_len {
            total_chunks
        } else {
            (have / SEALED_CHUNK_SIZE as u64).min(total_chunks - 1)
        };
        let mut segments = Vec::new();
        if first_count > 0 {
            segments.push(Segment {
                first: 0,
                count: first_count,
                ends_with_final: first_count == total_chunks,
                ready: Some((first, body_start)),
            });
        }
        let mut next = first_count;
        while next < total_chunks {
            let count = seg_chunks.min(total_chunks - next);
            segments.push(Segment {
                first: next,
                count,
                ends_with_final: next + count == total_chunks,
                ready: None,
            });
            next += count;
        }
        let ctx = Arc::new(SegmentCtx {
            fetcher,
            cipher,
            header_len,
            plaintext_len,
            version,
        });
        let stream = futures_util::stream::iter(segments)
            .map(move |seg| ctx.clone().run(seg))
            .buffered(self.config.download_concurrency);
        Ok(Download {
            header,
            object_len: Some(object_len),
            plaintext_len: Some(plaintext_len),
            inner: Box::pin(stream),
        })
    }

    /// Downloads and opens `s3://bucket/key` into `writer`; returns the
    /// plaintext length.
    ///
    /// Plaintext reaches `writer` chunk by chunk as it authenticates; if
    /// this returns an error, whatever was written must be discarded (the
    /// object may be truncated or modified). To get all-or-nothing, use
    /// [`SealClient::download_to_file`].
    pub async fn download_to_writer<W>(
        &self,
        bucket: &str,
        key: &str,
        writer: &mut W,
    ) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut dl = self.download(bucket, key).await?;
        let mut n = 0u64;
        while let Some(piece) = dl.next().await {
            let piece = piece?;
            writer
                .write_all(&piece)
                .await
                .map_err(|e| Error::io("writing the plaintext", e))?;
            n += piece.len() as u64;
        }
        writer
            .flush()
            .await
            .map_err(|e| Error::io("flushing the plaintext", e))?;
        Ok(n)
    }

    /// Downloads and opens `s3://bucket/key` into the file at `path`.
    ///
    /// The plaintext goes to a temporary file in the same folder
    /// (`.NAME.XXXXXX.sealstream-tmp`, mode 0600), which is flushed to disk
    /// and renamed to `path` only after the final chunk authenticated. On
    /// any failure, or if this future is dropped, the temporary file is
    /// removed: a failed or tampered download never leaves plaintext under
    /// `path` (an existing file there is left as it was).
    pub async fn download_to_file(
        &self,
        bucket: &str,
        key: &str,
        path: impl AsRef<Path>,
    ) -> Result<u64> {
        let path = path.as_ref();
        let dl = self.download(bucket, key).await?;
        write_file_atomically(path, dl).await
    }
}

type BoxRead = Pin<Box<dyn tokio::io::AsyncRead + Send>>;
type BoxReopen = Pin<
    Box<dyn std::future::Future<Output = Result<aws_smithy_types::byte_stream::ByteStream>> + Send>,
>;

enum BodyState {
    Reading(BoxRead),
    Reopening(BoxReopen),
}

/// The body of a streaming GET that resumes where it was cut (a reset, a
/// truncated transfer) with a ranged GET pinned to the first response's
/// ETag, up to the retry policy's `max_attempts` - 1 times (with its
/// backoff before each); after that reading fails with
/// [`Error::Truncated`].
struct ResumingBody {
    fetcher: Fetcher,
    etag: Option<String>,
    total: Option<u64>,
    offset: u64,
    resumes_left: u32,
    state: BodyState,
}

impl tokio::io::AsyncRead for ResumingBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            let this = &mut *self;
            let cause = match &mut this.state {
                BodyState::Reading(r) => {
                    let before = buf.filled().len();
                    match std::task::ready!(r.as_mut().poll_read(cx, buf)) {
                        Ok(()) => {
                            let n = buf.filled().len() - before;
                            this.offset += n as u64;
                            // End of data is real only at the announced length.
                            if n > 0 || this.total.is_none_or(|t| this.offset >= t) {
                                return Poll::Ready(Ok(()));
                            }
                            "the response ended early".to_owned()
                        }
                        Err(e) => e.to_string(),
                    }
                }
                BodyState::Reopening(f) => match std::task::ready!(f.as_mut().poll(cx)) {
                    Ok(body) => {
                        this.state = BodyState::Reading(Box::pin(body.into_async_read()));
                        continue;
                    }
                    Err(e) => return Poll::Ready(Err(e.into())),
                },
            };
            if this.resumes_left == 0 || this.etag.is_none() {
                return Poll::Ready(Err(Error::Truncated {
                    object: this.fetcher.object.clone(),
                    detail: format!(
                        "the response was cut at object offset {} ({cause}) after {} attempts",
                        this.offset,
                        this.fetcher.retry.max_attempts.max(1) - this.resumes_left
                    ),
                }
                .into()));
            }
            this.resumes_left -= 1;
            let fetcher = this.fetcher.clone();
            let failed = fetcher.retry.max_attempts.max(1) - 1 - this.resumes_left;
            let (from, etag) = (this.offset, this.etag.clone());
            this.state = BodyState::Reopening(Box::pin(async move {
                tokio::time::sleep(fetcher.retry.backoff(failed)).await;
                fetcher.stream_from(from, etag.as_deref()).await
            }));
        }
    }
}

/// Writes `stream` to a temporary file next to `path` (the workspace's one
/// writer, [`AtomicFile`]: `.NAME.XXXXXX.sealstream-tmp`, created new, mode
/// 0600), syncs it and renames it over `path` only if the whole stream
/// succeeded. On an error, or if this future is dropped, the temporary file
/// is removed.
pub(crate) async fn write_file_atomically<S>(path: &Path, mut stream: S) -> Result<u64>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    if path.file_name().is_none() {
        return Err(Error::InvalidArgument(format!(
            "{} has no file name",
            path.display()
        )));
    }
    let dest = path.to_path_buf();
    let tmp = blocking(move || AtomicFile::create(&dest, Mode::Private))
        .await
        .and_then(|r| r)
        .map_err(|e| {
            Error::io(
                format!("creating a temporary file beside {}", path.display()),
                e,
            )
        })?;
    let ctx = |what: &str| format!("{what} {}", tmp.temp_path().display());
    let file = tmp
        .file()
        .try_clone()
        .map_err(|e| Error::io(ctx("opening"), e))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut n = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        out.write_all(&piece)
            .await
            .map_err(|e| Error::io(ctx("writing"), e))?;
        n += piece.len() as u64;
    }
    out.flush()
        .await
        .map_err(|e| Error::io(ctx("writing"), e))?;
    drop(out.into_inner());
    let shown = format!(
        "renaming {} to {}",
        tmp.temp_path().display(),
        path.display()
    );
    blocking(move || tmp.commit(Publish::Replace))
        .await
        .and_then(|r| r)
        .map_err(|e| Error::io(shown, e))?;
    Ok(n)
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
    fn content_range_total() {
        assert_eq!(parse_content_range_total("bytes 0-99/1234"), Some(1234));
        assert_eq!(parse_content_range_total("bytes 0-99/*"), None);
    }

    /// One space between words: a string continuation that kept the next
    /// line's indentation once put a run of spaces into every such message.
    #[test]
    fn cut_short_message_has_no_stray_spaces() {
        let detail = cut_short("chunks 3-5", 100, 199, 3, "connection reset");
        assert_eq!(
            detail,
            "chunks 3-5: the response to a GET of bytes 100-199 was cut short 3 times \
             (connection reset)"
        );
        let e = Error::Truncated {
            object: "s3://b/k".into(),
            detail,
        };
        let msg = e.to_string();
        assert!(!msg.contains("  "), "{msg:?}");
        assert!(!msg.contains('\n'), "{msg:?}");
    }

    /// Downloads used to be written as `.NAME.sealstream-tmp-<16 hex>`, a
    /// name the sweep did not know. The temporary file seen mid-download is
    /// hidden, beside the destination, mode 0600, and has the one name.
    #[tokio::test]
    async fn temp_name_is_hidden_beside_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.pdf");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, s) = (dir.path().to_path_buf(), seen.clone());
        let items = futures_util::stream::iter([0u8, 1]).map(move |i| {
            if i == 1 {
                for e in std::fs::read_dir(&d).unwrap().flatten() {
                    let meta = e.metadata().unwrap();
                    s.lock().unwrap().push((e.file_name(), meta));
                }
            }
            Ok(Bytes::from_static(b"x"))
        });
        write_file_atomically(&path, items).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let name = seen[0].0.clone().into_string().unwrap();
        assert!(sealstream_atomic::is_temp_of(&name, "report.pdf"), "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(seen[0].1.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"xx");
    }

    #[tokio::test]
    async fn failed_stream_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("sealstream-s3-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.bin");
        let items: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"secret plaintext")),
            Err(Error::TrailingData {
                object: "s3://b/k".into(),
            }),
        ];
        let r = write_file_atomically(&path, futures_util::stream::iter(items)).await;
        assert!(r.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let ok: Vec<Result<Bytes>> = vec![Ok(Bytes::from_static(b"abc"))];
        write_file_atomically(&path, futures_util::stream::iter(ok))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
