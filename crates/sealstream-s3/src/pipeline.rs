//! The sealed-part pipeline shared by every upload path (SDK multipart,
//! presigned multipart): read plaintext straight into the chunk slots of a
//! part buffer, seal the part on the blocking pool, upload it, with at most
//! `concurrency` parts in flight and any failure or cancellation aborting
//! the multipart upload.
//!
//! ```text
//!  part 1: header || salt || commitment || chunk 0 .. chunk m-1      (m = part size / 16 KiB)
//!  part 2: chunk m .. chunk 2m-1
//!  ...
//!  last:   chunk .. || final chunk (16..16399 bytes; an empty final chunk
//!          rides in the last part when the plaintext ends on a part boundary)
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use sealstream_format::{
    CHUNK_SIZE, ChunkSealer, DataKey, Header, SEALED_CHUNK_SIZE, Salt, TAG_LEN,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use crate::config::{MAX_PARTS, grown_part_chunks};
use crate::error::{Error, Result};
use crate::parts::{BufPool, SharedSealer, blocking};
use crate::s3target::{Multipart, PartDone, Target};

/// One sealed part, as a [`PartHook`] sees it before it is sent.
#[derive(Clone, Debug)]
pub(crate) struct SealedInfo {
    pub(crate) number: i32,
    pub(crate) first_chunk: u64,
    pub(crate) plaintext_len: u64,
    pub(crate) plaintext_sha256: [u8; 32],
    pub(crate) crc32: u32,
    pub(crate) sealed_len: u64,
}

/// The upload layer's hook for a journal (the journal layer, `resume`,
/// implements it; this layer never imports that one). A multipart upload
/// with a hook reports its start, asks the hook before each part is sent
/// and tells it after; the hook may answer that the server already holds
/// the part, or refuse it (the upload then sends nothing more and aborts).
pub(crate) trait PartHook: Send + Sync {
    /// A fresh multipart upload started ([`UploadStarted`]). Not called
    /// on a resumed upload ([`continue_upload`]).
    fn started<'a>(&'a self, start: UploadStarted<'a>) -> HookFuture<'a, ()>;
    /// Before sealed part `part` (`body`) is sent: `Some(done)` if nothing
    /// needs sending, `None` once the part may be sent, or an error (send
    /// nothing).
    fn before_send<'a>(
        &'a self,
        part: &'a SealedInfo,
        body: &'a Bytes,
    ) -> HookFuture<'a, Option<PartDone>>;
    /// After part `done.number` was stored.
    fn after_send<'a>(&'a self, done: &'a PartDone) -> HookFuture<'a, ()>;
}

/// A multipart upload that [`PartHook::started`].
pub(crate) struct UploadStarted<'a> {
    /// Its upload id.
    pub(crate) upload_id: &'a str,
    /// Its part size.
    pub(crate) part_size: u64,
    /// The plaintext length it must take.
    pub(crate) plaintext_len: u64,
    /// What part 1 begins with (header, salt, commitment).
    pub(crate) lead: &'a [u8],
}

/// What a [`PartHook`] call returns.
pub(crate) type HookFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Sends part `info` (`body`) through `hook`, if there is one.
async fn send_part<U: Multipart>(
    upload: &U,
    hook: Option<&dyn PartHook>,
    info: SealedInfo,
    body: Bytes,
) -> Result<PartDone> {
    let Some(hook) = hook else {
        return upload.upload_part(info.number, body, info.crc32).await;
    };
    if let Some(done) = hook.before_send(&info, &body).await? {
        return Ok(done);
    }
    let done = upload.upload_part(info.number, body, info.crc32).await?;
    hook.after_send(&done).await?;
    Ok(done)
}

/// What an upload produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadOutcome {
    /// `s3://bucket/key`.
    pub object: String,
    /// Plaintext bytes sealed.
    pub plaintext_len: u64,
    /// Bytes stored (header, body prefix and sealed chunks).
    pub object_len: u64,
    /// Parts uploaded; 0 for a single PutObject.
    pub parts: u32,
    /// The object's ETag, if the server returned one.
    pub etag: Option<String>,
}

/// Aborts the multipart upload when dropped armed: the upload future was
/// dropped (cancelled) or panicked before completing or aborting.
struct AbortOnDrop<U: Multipart>(Option<U>);

impl<U: Multipart> AbortOnDrop<U> {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl<U: Multipart> Drop for AbortOnDrop<U> {
    fn drop(&mut self) {
        if let Some(upload) = self.0.take() {
            spawn_abort(upload);
        }
    }
}

/// Aborts in the background, twice: a part request that was in flight when
/// its task was cancelled may still land after the first abort. Each abort
/// is retried by the upload's [`RetryPolicy`] (every failure counts as
/// transient: an abort of an upload already gone succeeds), and the second
/// waits at least [`SECOND_ABORT_DELAY`] plus a jittered backoff.
pub(crate) fn spawn_abort<U: Multipart>(upload: U) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            let policy = upload.retry();
            let _ = policy.run(|_| upload.abort(), |_| true).await;
            tokio::time::sleep(SECOND_ABORT_DELAY + policy.backoff(1)).await;
            let _ = policy.run(|_| upload.abort(), |_| true).await;
        });
    }
}

/// The least wait before the second abort of [`spawn_abort`].
const SECOND_ABORT_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

struct FilledPart {
    buf: Vec<u8>,
    lead: usize,
    first_chunk: u64,
    full: usize,
    final_len: Option<usize>,
    plaintext: u64,
}

impl FilledPart {
    fn is_last(&self) -> bool {
        self.final_len.is_some()
    }
}

/// Reads plaintext into part buffers, one chunk slot at a time, with a
/// one-byte look-ahead to learn whether a full part is the last.
struct Filler<R> {
    reader: R,
    carry: Option<u8>,
    next_chunk: u64,
    total: u64,
}

impl<R: AsyncRead + Unpin> Filler<R> {
    async fn read_slot(&mut self, slot: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if let (Some(b), Some(first)) = (self.carry, slot.first_mut()) {
            *first = b;
            self.carry = None;
            n = 1;
        }
        while n < slot.len() {
            let got = self
                .reader
                .read(slot.get_mut(n..).unwrap_or(&mut []))
                .await?;
            if got == 0 {
                break;
            }
            n += got;
        }
        Ok(n)
    }

    async fn at_eof(&mut self) -> io::Result<bool> {
        if self.carry.is_some() {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        loop {
            match self.reader.read(&mut b).await {
                Ok(0) => return Ok(true),
                Ok(_) => {
                    self.carry = Some(b[0]);
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn fill(
        &mut self,
        mut buf: Vec<u8>,
        lead: &[u8],
        chunks_per_part: usize,
    ) -> io::Result<FilledPart> {
        // The buffer grows one chunk slot at a time, as far as the part's
        // plaintext goes: zeroing a whole part up front cost a 16 MiB
        // memset per small file (40% of `put -r`'s CPU in a profile of
        // 1,000 x 64 KiB files). A reused buffer keeps its length and is
        // not zeroed again.
        if buf.len() < lead.len() {
            buf.resize(lead.len(), 0);
        }
        if let Some(dst) = buf.get_mut(..lead.len()) {
            dst.copy_from_slice(lead);
        }
        let first_chunk = self.next_chunk;
        let mut full = 0usize;
        let mut plaintext = 0u64;
        let mut used = lead.len();
        let final_len = loop {
            if full == chunks_per_part {
                if self.at_eof().await? {
                    used += TAG_LEN;
                    break Some(0);
                }
                break None;
            }
            if buf.len() < used + SEALED_CHUNK_SIZE {
                buf.resize(used + SEALED_CHUNK_SIZE, 0);
            }
            let slot = buf
                .get_mut(used..used + CHUNK_SIZE)
                .ok_or_else(|| io::Error::other("part buffer too small"))?;
            let n = self.read_slot(slot).await?;
            plaintext += n as u64;
            if n == CHUNK_SIZE {
                full += 1;
                used += SEALED_CHUNK_SIZE;
            } else {
                used += n + TAG_LEN;
                break Some(n);
            }
        };
        if buf.len() < used {
            buf.resize(used, 0);
        }
        buf.truncate(used);
        self.next_chunk += full as u64 + u64::from(final_len.is_some());
        self.total += plaintext;
        Ok(FilledPart {
            buf,
            lead: lead.len(),
            first_chunk,
            full,
            final_len,
            plaintext,
        })
    }
}

/// Seals a filled part in place on the blocking pool; returns the sealed
/// bytes, their CRC32 and, if `hash`, the SHA-256 of the plaintext.
/// Seals the run at the start of `run`: `full` full chunks from index
/// `first`, then the final chunk of `final_len` plaintext bytes if any.
fn seal_run(
    sealer: &ChunkSealer,
    run: &mut [u8],
    first: u64,
    full: usize,
    final_len: Option<usize>,
) -> sealstream_format::Result<()> {
    let len = sealstream_format::codec::sealed_run_len(
        full * CHUNK_SIZE + final_len.unwrap_or(0),
        final_len.is_some(),
    )?;
    let run = run
        .get_mut(..len)
        .ok_or(sealstream_format::Error::InvalidInput {
            what: "part buffer",
            reason: "it is shorter than its chunks",
        })?;
    sealstream_format::codec::seal_slots(sealer, first, run, final_len.is_some(), 0)
}

/// SHA-256 of the plaintext in a filled part: `full` whole chunks at
/// 16400-byte strides from the start of `run`, then `final_len` bytes.
pub(crate) fn plaintext_sha256(run: &[u8], full: usize, final_len: Option<usize>) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for slot in run.chunks(SEALED_CHUNK_SIZE).take(full) {
        ctx.update(slot.get(..CHUNK_SIZE).unwrap_or(slot));
    }
    if let Some(n) = final_len {
        let start = full * SEALED_CHUNK_SIZE;
        ctx.update(run.get(start..start + n).unwrap_or(&[]));
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

async fn seal_part(
    cipher: SharedSealer,
    part: FilledPart,
    object: &str,
    hash: bool,
) -> Result<(Vec<u8>, u32, Option<[u8; 32]>)> {
    let FilledPart {
        mut buf,
        lead,
        first_chunk,
        full,
        final_len,
        ..
    } = part;
    let res = blocking(move || {
        let run = buf.get_mut(lead..).unwrap_or(&mut []);
        let sha = hash.then(|| plaintext_sha256(run, full, final_len));
        let r = seal_run(&cipher, run, first_chunk, full, final_len);
        let crc = crc32fast::hash(&buf);
        r.map(|()| (buf, crc, sha))
    })
    .await
    .map_err(|e| Error::io("sealing a part", e))?;
    res.map_err(|e| Error::format(object, e))
}

/// Seals everything `reader` yields into one object at `target`.
///
/// `expected_len`, when given, must match what the reader yields exactly
/// (it also sizes the parts to stay within 10,000).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upload<R, T>(
    reader: R,
    target: &T,
    header: &Header,
    data_key: &DataKey,
    part_size: u64,
    concurrency: usize,
    expected_len: Option<u64>,
    salt: Salt,
) -> Result<UploadOutcome>
where
    R: AsyncRead + Unpin + Send,
    T: Target,
{
    upload_with(
        reader,
        target,
        header,
        data_key,
        part_size,
        concurrency,
        expected_len,
        salt,
        None,
    )
    .await
}

/// [`upload`], reporting a multipart upload to `hook` (a journal, which needs
/// `expected_len`): its start, and each part's intent before the part is
/// sent and its completion after (crate::resume).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upload_with<R, T>(
    reader: R,
    target: &T,
    header: &Header,
    data_key: &DataKey,
    part_size: u64,
    concurrency: usize,
    expected_len: Option<u64>,
    salt: Salt,
    hook: Option<Arc<dyn PartHook>>,
) -> Result<UploadOutcome>
where
    R: AsyncRead + Unpin + Send,
    T: Target,
{
    let object = target.object().to_owned();
    let (cipher, prefix) = ChunkSealer::new(header.suite(), data_key, salt, header.bound_section())
        .map_err(|e| Error::format(&object, e))?;
    let cipher = SharedSealer::new(cipher);
    let mut lead = header.encode();
    lead.extend_from_slice(&prefix.to_bytes());
    let chunks_per_part = usize::try_from(part_size / CHUNK_SIZE as u64)
        .map_err(|_| Error::InvalidArgument("part size too large for this platform".into()))?;
    let mut filler = Filler {
        reader,
        carry: None,
        next_chunk: 0,
        total: 0,
    };
    let mut pool = BufPool::default();
    let read_err = |e: io::Error| Error::io(format!("reading the plaintext for {object}"), e);
    let check_len = |total: u64| match expected_len {
        Some(n) if n != total => Err(Error::InvalidArgument(format!(
            "the source of {object} yielded {total} bytes but its length was given as {n}"
        ))),
        _ => Ok(()),
    };

    let cap = lead.len() + chunks_per_part * SEALED_CHUNK_SIZE + TAG_LEN;
    let first = filler
        .fill(pool.take(cap), &lead, chunks_per_part)
        .await
        .map_err(read_err)?;
    if first.is_last() {
        check_len(filler.total)?;
        let plaintext_len = first.plaintext;
        let (sealed, crc, _) = seal_part(cipher, first, &object, false).await?;
        let object_len = sealed.len() as u64;
        let etag = target
            .put_single(Bytes::from(sealed), crc, plaintext_len)
            .await?;
        return Ok(UploadOutcome {
            object,
            plaintext_len,
            object_len,
            parts: 0,
            etag,
        });
    }

    let upload = target.start().await?;
    if let Some(hook) = &hook {
        let mut guard = AbortOnDrop(Some(upload.clone()));
        let len = expected_len.unwrap_or(0);
        let started = hook
            .started(UploadStarted {
                upload_id: upload.upload_id(),
                part_size,
                plaintext_len: len,
                lead: &lead,
            })
            .await;
        guard.disarm();
        if let Err(e) = started {
            return Err(abort_after(&upload, &object, e).await);
        }
    }
    let plan = PartPlan {
        cipher,
        chunks_per_part,
        concurrency,
        object: &object,
        expected_len,
        hook,
    };
    multipart(&upload, &mut filler, first, &mut pool, plan).await
}

/// How the parts of a multipart upload are sealed and sent.
pub(crate) struct PartPlan<'a> {
    /// The object's cipher.
    pub(crate) cipher: SharedSealer,
    /// Chunks per part.
    pub(crate) chunks_per_part: usize,
    /// Parts in flight.
    pub(crate) concurrency: usize,
    /// `s3://bucket/key`, for messages.
    pub(crate) object: &'a str,
    /// The plaintext length the source must yield (unknown: parts grow).
    pub(crate) expected_len: Option<u64>,
    /// The journal's hook of a journaled or resumed upload.
    pub(crate) hook: Option<Arc<dyn PartHook>>,
}

/// Continues the multipart upload `upload`, started earlier, from the
/// start of the plaintext in `reader`: part 1 begins with `lead` (header,
/// salt, commitment); the hook decides which parts are sent again.
pub(crate) async fn continue_upload<R, U>(
    upload: &U,
    reader: R,
    lead: &[u8],
    plan: PartPlan<'_>,
) -> Result<UploadOutcome>
where
    R: AsyncRead + Unpin + Send,
    U: Multipart,
{
    let mut filler = Filler {
        reader,
        carry: None,
        next_chunk: 0,
        total: 0,
    };
    let mut pool = BufPool::default();
    let cap = lead.len() + plan.chunks_per_part * SEALED_CHUNK_SIZE + TAG_LEN;
    let mut guard = AbortOnDrop(Some(upload.clone()));
    let first = filler
        .fill(pool.take(cap), lead, plan.chunks_per_part)
        .await;
    guard.disarm();
    match first {
        Ok(first) => multipart(upload, &mut filler, first, &mut pool, plan).await,
        Err(e) => {
            let e = Error::io(format!("reading the plaintext for {}", plan.object), e);
            Err(abort_after(upload, plan.object, e).await)
        }
    }
}

/// Sends every part of a started multipart upload and completes it; any
/// failure, or dropping the future, aborts it.
async fn multipart<R, U>(
    upload: &U,
    filler: &mut Filler<R>,
    first: FilledPart,
    pool: &mut BufPool,
    plan: PartPlan<'_>,
) -> Result<UploadOutcome>
where
    R: AsyncRead + Unpin + Send,
    U: Multipart,
{
    let PartPlan {
        cipher,
        chunks_per_part,
        concurrency,
        object,
        expected_len,
        hook,
    } = plan;
    let object = object.to_owned();
    let check_len = |total: u64| match expected_len {
        Some(n) if n != total => Err(Error::InvalidArgument(format!(
            "the source of {object} yielded {total} bytes but its length was given as {n}"
        ))),
        _ => Ok(()),
    };
    let mut guard = AbortOnDrop(Some(upload.clone()));
    let result = run_parts(
        filler,
        first,
        upload,
        &cipher,
        pool,
        chunks_per_part,
        // A known length already sized the parts; a stream of unknown
        // length grows them instead, so that it never runs out of parts.
        expected_len.is_none(),
        concurrency,
        &object,
        hook.as_ref(),
    )
    .await;
    let result = match result {
        Ok(done) => match check_len(filler.total) {
            Ok(()) => Ok(done),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let result = match result {
        Ok((mut parts, object_len)) => {
            parts.sort_by_key(|p| p.number);
            let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
            upload
                .complete(parts)
                .await
                .map(|etag| (etag, count, object_len))
        }
        Err(e) => Err(e),
    };
    guard.disarm();
    match result {
        Ok((etag, parts, object_len)) => Ok(UploadOutcome {
            object,
            plaintext_len: filler.total,
            object_len,
            parts,
            etag,
        }),
        Err(e) => Err(abort_after(upload, &object, e).await),
    }
}

/// Aborts `upload` after `err`, and says whether that worked.
pub(crate) async fn abort_after<U: Multipart>(upload: &U, object: &str, err: Error) -> Error {
    let abort = upload
        .retry()
        .run(|_| upload.abort(), |_| true)
        .await
        .map_err(|gave_up| gave_up.error);
    match abort {
        Ok(()) => {
            // A part request cancelled mid-flight may still land after the
            // abort; a second, delayed abort catches it.
            spawn_abort(upload.clone());
            Error::UploadAborted {
                object: object.to_owned(),
                source: Box::new(err),
            }
        }
        Err(abort) => Error::AbortFailed {
            object: object.to_owned(),
            upload_id: upload.upload_id().to_owned(),
            abort_error: abort.to_string(),
            source: Box::new(err),
        },
    }
}

type PartResult = Result<(PartDone, Bytes)>;

#[allow(clippy::too_many_arguments)]
async fn run_parts<R, U>(
    filler: &mut Filler<R>,
    first: FilledPart,
    upload: &U,
    cipher: &SharedSealer,
    pool: &mut BufPool,
    mut chunks_per_part: usize,
    grow: bool,
    concurrency: usize,
    object: &str,
    hook: Option<&Arc<dyn PartHook>>,
) -> Result<(Vec<PartDone>, u64)>
where
    R: AsyncRead + Unpin + Send,
    U: Multipart,
{
    let mut set: JoinSet<PartResult> = JoinSet::new();
    let mut done = Vec::new();
    let mut object_len = 0u64;
    let mut next = Some(first);
    let mut number: i32 = 0;
    let result: Result<()> = async {
        while let Some(part) = next.take() {
            number += 1;
            if u64::try_from(number).unwrap_or(u64::MAX) > MAX_PARTS {
                return Err(Error::InvalidArgument(format!(
                    "{object} needs more than 10,000 parts (the last of {} bytes); give the \
                     plaintext length or a larger part size",
                    chunks_per_part * CHUNK_SIZE
                )));
            }
            let last = part.is_last();
            let cipher = cipher.clone();
            let upload = upload.clone();
            let obj = object.to_owned();
            let hook = hook.cloned();
            set.spawn(async move {
                let (first_chunk, plaintext_len) = (part.first_chunk, part.plaintext);
                let (sealed, crc, sha) = seal_part(cipher, part, &obj, hook.is_some()).await?;
                let body = Bytes::from(sealed);
                let info = SealedInfo {
                    number,
                    first_chunk,
                    plaintext_len,
                    plaintext_sha256: sha.unwrap_or_default(),
                    crc32: crc,
                    sealed_len: body.len() as u64,
                };
                let done = send_part(&upload, hook.as_deref(), info, body.clone()).await?;
                Ok((done, body))
            });
            if last {
                break;
            }
            while set.len() >= concurrency {
                collect(&mut set, &mut done, &mut object_len, pool).await?;
            }
            while let Some(r) = set.try_join_next() {
                record(r, &mut done, &mut object_len, pool)?;
            }
            if grow {
                chunks_per_part = grown_part_chunks(chunks_per_part, number);
            }
            let cap = chunks_per_part * SEALED_CHUNK_SIZE + TAG_LEN;
            let part = filler
                .fill(pool.take(cap), &[], chunks_per_part)
                .await
                .map_err(|e| Error::io(format!("reading the plaintext for {object}"), e))?;
            next = Some(part);
        }
        while !set.is_empty() {
            collect(&mut set, &mut done, &mut object_len, pool).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok((done, object_len)),
        Err(e) => {
            // Stop the other parts before the caller aborts the upload.
            set.shutdown().await;
            Err(e)
        }
    }
}

async fn collect(
    set: &mut JoinSet<PartResult>,
    done: &mut Vec<PartDone>,
    object_len: &mut u64,
    pool: &mut BufPool,
) -> Result<()> {
    if let Some(r) = set.join_next().await {
        record(r, done, object_len, pool)?;
    }
    Ok(())
}

fn record(
    r: std::result::Result<PartResult, tokio::task::JoinError>,
    done: &mut Vec<PartDone>,
    object_len: &mut u64,
    pool: &mut BufPool,
) -> Result<()> {
    let (part, body) = r.map_err(|e| {
        Error::io(
            "a part upload task",
            io::Error::other(format!("the task failed: {e}")),
        )
    })??;
    *object_len += body.len() as u64;
    pool.give_bytes(body);
    done.push(part);
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use sealstream_format::{EncryptionContext, KeyRecord, Suite};
    use sealstream_kms::RetryPolicy;

    /// Fake in-memory target: keeps every part, assembles on completion.
    #[derive(Clone, Default)]
    struct FakeMemoryTarget {
        parts: Arc<Mutex<BTreeMap<i32, Bytes>>>,
        object: Arc<Mutex<Option<Vec<u8>>>>,
        aborted: Arc<Mutex<bool>>,
    }

    impl Target for FakeMemoryTarget {
        type Upload = FakeMemoryTarget;

        async fn put_single(&self, body: Bytes, crc32: u32, _len: u64) -> Result<Option<String>> {
            assert_eq!(crc32, crc32fast::hash(&body));
            *self.object.lock().unwrap() = Some(body.to_vec());
            Ok(None)
        }

        async fn start(&self) -> Result<FakeMemoryTarget> {
            Ok(self.clone())
        }

        fn object(&self) -> &str {
            "memory://fake"
        }
    }

    impl Multipart for FakeMemoryTarget {
        fn upload_part(
            &self,
            number: i32,
            body: Bytes,
            crc32: u32,
        ) -> impl Future<Output = Result<PartDone>> + Send + 'static {
            let parts = self.parts.clone();
            async move {
                assert_eq!(crc32, crc32fast::hash(&body));
                parts.lock().unwrap().insert(number, body);
                Ok(PartDone {
                    number,
                    etag: format!("\"{number}\""),
                    crc32: String::new(),
                })
            }
        }

        async fn complete(&self, parts: Vec<PartDone>) -> Result<Option<String>> {
            let out = {
                let stored = self.parts.lock().unwrap();
                let numbers: Vec<i32> = parts.iter().map(|p| p.number).collect();
                assert_eq!(numbers, stored.keys().copied().collect::<Vec<_>>());
                let mut out = Vec::new();
                for b in stored.values() {
                    out.extend_from_slice(b);
                }
                out
            };
            *self.object.lock().unwrap() = Some(out);
            Ok(None)
        }

        fn abort(&self) -> impl Future<Output = Result<()>> + Send + 'static {
            let aborted = self.aborted.clone();
            async move {
                *aborted.lock().unwrap() = true;
                Ok(())
            }
        }

        fn upload_id(&self) -> &str {
            "fake"
        }

        fn retry(&self) -> RetryPolicy {
            RetryPolicy::no_retries()
        }
    }

    fn header() -> Header {
        let rec = KeyRecord::new("test-fake", "k", vec![1]).unwrap();
        Header::new(Suite::Aes256Gcm, EncryptionContext::new(), "", vec![rec]).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_are_whole_chunks_and_grow_for_unknown_lengths() {
        let key = DataKey::from_bytes([8u8; 32]);
        let header = header();
        let lead = header.encoded_len() + sealstream_format::BODY_PREFIX_LEN;
        // One-chunk parts (the pipeline itself has no 5 MiB floor), unknown
        // length: after 1000 parts they grow to two chunks.
        let len = 1000 * CHUNK_SIZE + 5 * CHUNK_SIZE + 3;
        let plain: Vec<u8> = (0..len).map(|i| (i % 249) as u8).collect();
        let target = FakeMemoryTarget::default();
        let c = CHUNK_SIZE as u64;
        let out = upload(
            &plain[..],
            &target,
            &header,
            &key,
            c,
            3,
            None,
            Salt::generate().unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(out.plaintext_len, len as u64);
        let parts = target.parts.lock().unwrap().clone();
        assert_eq!(parts.len(), 1000 + 3);
        assert_eq!(parts[&1].len(), lead + SEALED_CHUNK_SIZE);
        assert_eq!(parts[&1000].len(), SEALED_CHUNK_SIZE);
        assert_eq!(parts[&1001].len(), 2 * SEALED_CHUNK_SIZE);
        assert_eq!(parts[&1003].len(), SEALED_CHUNK_SIZE + 3 + TAG_LEN);
        let object = target.object.lock().unwrap().clone().unwrap();
        assert_eq!(object.len() as u64, out.object_len);
        let (_, opened) = sealstream_format::open_slice(&object, &key).unwrap();
        assert!(opened == plain);
        assert!(!*target.aborted.lock().unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn known_lengths_are_checked_and_mismatches_abort() {
        let key = DataKey::from_bytes([8u8; 32]);
        let header = header();
        let small = vec![5u8; 4 * CHUNK_SIZE];
        let (c, n) = (CHUNK_SIZE as u64, small.len() as u64);
        let target = FakeMemoryTarget::default();
        upload(
            &small[..],
            &target,
            &header,
            &key,
            c,
            2,
            Some(n),
            Salt::generate().unwrap(),
        )
        .await
        .unwrap();
        let parts = target.parts.lock().unwrap().clone();
        // Four full chunks; the empty final chunk rides in part 4.
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[&4].len(), SEALED_CHUNK_SIZE + TAG_LEN);
        let object = target.object.lock().unwrap().clone().unwrap();
        assert!(sealstream_format::open_slice(&object, &key).unwrap().1 == small);

        let target = FakeMemoryTarget::default();
        let err = upload(
            &small[..],
            &target,
            &header,
            &key,
            c,
            2,
            Some(n + 1),
            Salt::generate().unwrap(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::UploadAborted { .. }), "{err}");
        assert!(*target.aborted.lock().unwrap());
        assert!(target.object.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn filler_places_chunks_in_slots_and_finds_the_end() {
        let data: Vec<u8> = (0..2 * CHUNK_SIZE).map(|i| (i % 253) as u8).collect();
        let mut f = Filler {
            reader: &data[..],
            carry: None,
            next_chunk: 0,
            total: 0,
        };
        // Part of exactly two chunks: full, and the look-ahead finds EOF,
        // so the empty final chunk rides in this part.
        let p = f.fill(Vec::new(), b"LEAD", 2).await.unwrap();
        assert_eq!(
            (p.full, p.final_len, p.plaintext),
            (2, Some(0), data.len() as u64)
        );
        assert_eq!(p.buf.len(), 4 + 2 * SEALED_CHUNK_SIZE + TAG_LEN);
        assert_eq!(&p.buf[4..4 + CHUNK_SIZE], &data[..CHUNK_SIZE]);
        assert_eq!(
            &p.buf[4 + SEALED_CHUNK_SIZE..4 + SEALED_CHUNK_SIZE + CHUNK_SIZE],
            &data[CHUNK_SIZE..]
        );

        let data = vec![1u8; 3 * CHUNK_SIZE + 5];
        let mut f = Filler {
            reader: &data[..],
            carry: None,
            next_chunk: 0,
            total: 0,
        };
        let p = f.fill(Vec::new(), b"", 2).await.unwrap();
        assert_eq!((p.full, p.final_len, p.first_chunk), (2, None, 0));
        let p = f.fill(Vec::new(), b"", 2).await.unwrap();
        assert_eq!((p.full, p.final_len, p.first_chunk), (1, Some(5), 2));
        assert_eq!(p.buf.len(), SEALED_CHUNK_SIZE + 5 + TAG_LEN);
        assert_eq!(f.total, data.len() as u64);
    }
}
