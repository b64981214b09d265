//! Crash-safe multipart uploads: a journal that the upload path reports
//! to, and resuming an interrupted upload from what that journal recorded.
//!
//! ```text
//!  journaled upload:
//!    CreateMultipartUpload ─▶ journal.started(upload id, part size, header, salt|commitment)
//!    each part: fill ─▶ SHA-256 of its plaintext ─▶ seal ─▶ journal.intent(n, sha256)
//!               ─▶ UploadPart ─▶ journal.done(n, etag, crc32)
//!
//!  resume (the process died; the journal and the source survived):
//!    journaled header ─▶ unwrap the data key ─▶ ChunkOpener::new(salt, commitment)
//!    ─▶ ListParts ─▶ read the source again from byte 0, part by part:
//!         plaintext SHA-256 ≠ the journaled intent      ─▶ SourceChanged: stop, abort
//!         on the server and its CRC32 = the re-sealed CRC32 ─▶ kept, not sent again
//!         otherwise                                     ─▶ intent, UploadPart, done
//!    ─▶ CompleteMultipartUpload
//! ```
//!
//! # Why resuming is nonce-safe
//!
//! Chunk `i` of an object is sealed under `nonce_i = base_nonce XOR i`,
//! with `base_nonce` derived from the data key and the salt
//! (docs/FORMAT.md, "Key derivation", "Nonces and AEAD"). A resumed upload
//! keeps the data key (unwrapped again from the journaled header, never
//! stored), the salt and the part size, so every chunk index gets exactly
//! the nonce it had before. Using a nonce twice is harmless only for the
//! same plaintext: the AEAD is deterministic, so the same ciphertext comes
//! out. Different plaintext under a used nonce reveals the XOR of the two
//! plaintexts and, for AES-GCM, lets anyone forge tags. Therefore:
//!
//! - a part's sealed bytes leave the process only after the journal has
//!   durably recorded its intent (the SHA-256 of its plaintext, its first
//!   chunk index and length); a part without an intent was never sent, so
//!   its nonces were never used and it may hold any plaintext;
//! - on resume, every part that has an intent is sealed again only if its
//!   plaintext hashes to the recorded value; otherwise the upload stops
//!   before any of that part is sent, and is aborted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sealstream_format::{BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkSealer, Header};
use sealstream_kms::Keyring;
use tokio::io::AsyncRead;

use crate::config::Config;
use crate::config::check_part_size;
use crate::error::{Error, Result, object_name};
use crate::parts::{SharedSealer, blocking};
use crate::pipeline::{self, HookFuture, PartHook, SealedInfo, UploadOutcome, UploadStarted};
use crate::s3target::{PartDone, S3Target, crc32_b64};

/// Where an upload records its progress so that it can be resumed after
/// the process dies ([`SealClient::upload_reader_journaled`](crate::SealClient::upload_reader_journaled),
/// [`SealClient::resume_reader`](crate::SealClient::resume_reader)).
///
/// Each method is called on a blocking thread and **must not return
/// before its record is durable** (written and `fsync`ed): the upload
/// sends a part only after [`intent`](UploadJournal::intent) returned
/// `Ok`, and that ordering is what makes resuming nonce-safe. An error
/// stops the upload (nothing more is sent) and aborts it.
pub trait UploadJournal: Send + Sync {
    /// The multipart upload was created; no part has been sent yet.
    fn started(&self, upload: &JournalStart<'_>) -> io::Result<()>;
    /// Part `part.number` is about to be sent.
    fn intent(&self, part: &PartIntent) -> io::Result<()>;
    /// Part `part.number` is stored on the server.
    fn done(&self, part: &PartStored<'_>) -> io::Result<()>;
}

/// What [`UploadJournal::started`] records: everything but the data key
/// that is needed to seal the same bytes again. None of it is secret (the
/// header holds only wrapped keys; salt and commitment are in the object).
#[derive(Debug)]
#[non_exhaustive]
pub struct JournalStart<'a> {
    /// `s3://bucket/key`.
    pub object: &'a str,
    /// The multipart upload id.
    pub upload_id: &'a str,
    /// Plaintext bytes per part (a multiple of 16 KiB); every part but the
    /// last holds exactly this many.
    pub part_size: u64,
    /// The plaintext length the upload was started for.
    pub plaintext_len: u64,
    /// The encoded header (the start of part 1).
    pub header: &'a [u8],
    /// Salt and key commitment: the 56 bytes after the header. A resumed
    /// upload seals under this salt again; the key records are bound to it.
    pub body_prefix: &'a [u8; BODY_PREFIX_LEN],
}

/// A part about to be sent ([`UploadJournal::intent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartIntent {
    /// 1-based part number.
    pub number: i32,
    /// Index of the part's first chunk.
    pub first_chunk: u64,
    /// Plaintext bytes in the part.
    pub plaintext_len: u64,
    /// SHA-256 of the part's plaintext.
    pub plaintext_sha256: [u8; 32],
}

impl PartIntent {
    /// An intent as a journal recorded it.
    pub fn new(
        number: i32,
        first_chunk: u64,
        plaintext_len: u64,
        plaintext_sha256: [u8; 32],
    ) -> Self {
        PartIntent {
            number,
            first_chunk,
            plaintext_len,
            plaintext_sha256,
        }
    }
}

/// A part stored on the server ([`UploadJournal::done`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct PartStored<'a> {
    /// 1-based part number.
    pub number: i32,
    /// The part's ETag.
    pub etag: &'a str,
    /// The part's CRC32 (base64), as S3 checked it.
    pub crc32: &'a str,
}

/// What a journal recorded about an interrupted upload: the input of
/// [`SealClient::resume_reader`](crate::SealClient::resume_reader).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResumeState {
    /// The multipart upload id.
    pub upload_id: String,
    /// Plaintext bytes per part.
    pub part_size: u64,
    /// The plaintext length the source must still have.
    pub plaintext_len: u64,
    /// The encoded header.
    pub header: Vec<u8>,
    /// Salt and key commitment.
    pub body_prefix: [u8; BODY_PREFIX_LEN],
    /// Every recorded intent, by part number.
    pub intents: BTreeMap<i32, PartIntent>,
}

impl ResumeState {
    /// The state of upload `upload_id`, with no intents yet (add them with
    /// [`ResumeState::intent`]).
    pub fn new(
        upload_id: impl Into<String>,
        part_size: u64,
        plaintext_len: u64,
        header: Vec<u8>,
        body_prefix: [u8; BODY_PREFIX_LEN],
    ) -> Self {
        ResumeState {
            upload_id: upload_id.into(),
            part_size,
            plaintext_len,
            header,
            body_prefix,
            intents: BTreeMap::new(),
        }
    }

    /// Adds a recorded intent.
    pub fn intent(mut self, part: PartIntent) -> Self {
        self.intents.insert(part.number, part);
        self
    }
}

/// What a resumed upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeOutcome {
    /// The completed upload.
    pub upload: UploadOutcome,
    /// Parts found on the server, checked against the source, and kept.
    pub parts_reused: u32,
    /// Parts sealed and sent by this run.
    pub parts_sent: u32,
}

/// A part as ListParts reports it.
#[derive(Clone, Debug)]
pub(crate) struct StoredPart {
    etag: String,
    crc32: Option<String>,
    size: Option<u64>,
}

/// Decides, part by part, what a journaled upload may send: checks each
/// part against what the journal recorded and what the server holds, and
/// records intents and completions in the journal.
pub(crate) struct PartGate {
    journal: Arc<dyn UploadJournal>,
    object: String,
    /// Known once the upload started ([`PartHook::started`]).
    upload_id: OnceLock<String>,
    intents: BTreeMap<i32, PartIntent>,
    stored: BTreeMap<i32, StoredPart>,
    reused: AtomicU32,
    sent: AtomicU32,
}

impl fmt::Debug for PartGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartGate")
            .field("object", &self.object)
            .field("upload_id", &self.upload_id.get())
            .finish_non_exhaustive()
    }
}

impl PartGate {
    fn new(
        journal: Arc<dyn UploadJournal>,
        object: &str,
        upload_id: &str,
        intents: BTreeMap<i32, PartIntent>,
        stored: BTreeMap<i32, StoredPart>,
    ) -> Self {
        PartGate {
            journal,
            object: object.to_owned(),
            upload_id: OnceLock::from(upload_id.to_owned()),
            intents,
            stored,
            reused: AtomicU32::new(0),
            sent: AtomicU32::new(0),
        }
    }

    /// The gate of a fresh journaled upload of `object`: it records the
    /// upload's start, then every part's intent and completion.
    pub(crate) fn fresh(journal: Arc<dyn UploadJournal>, object: &str) -> Arc<PartGate> {
        Arc::new(PartGate {
            journal,
            object: object.to_owned(),
            upload_id: OnceLock::new(),
            intents: BTreeMap::new(),
            stored: BTreeMap::new(),
            reused: AtomicU32::new(0),
            sent: AtomicU32::new(0),
        })
    }

    /// Records the start of a fresh journaled upload.
    async fn start(&self, start: UploadStarted<'_>) -> Result<()> {
        let UploadStarted {
            upload_id,
            part_size,
            plaintext_len,
            lead,
        } = start;
        let object = self.object.as_str();
        let split = lead.len().checked_sub(BODY_PREFIX_LEN).ok_or_else(|| {
            Error::InvalidArgument("the part lead is shorter than the body prefix".into())
        })?;
        let (header, prefix) = lead.split_at(split);
        let prefix: [u8; BODY_PREFIX_LEN] = prefix.try_into().map_err(|_| {
            Error::InvalidArgument("the part lead does not end with the body prefix".into())
        })?;
        if self.upload_id.set(upload_id.to_owned()).is_err() {
            return Err(self.cannot("the journal gate was started twice".into()));
        }
        let header = header.to_vec();
        let (o, id) = (object.to_owned(), upload_id.to_owned());
        let j = self.journal.clone();
        record(object, "the upload id", move || {
            j.started(&JournalStart {
                object: &o,
                upload_id: &id,
                part_size,
                plaintext_len,
                header: &header,
                body_prefix: &prefix,
            })
        })
        .await
    }

    /// Before part `p` (sealed: `body`) is sent: `Ok(Some(done))` if the
    /// server already holds exactly these bytes (nothing to send),
    /// `Ok(None)` once the intent is durable (send it), or an error (send
    /// nothing).
    async fn check(&self, p: &SealedInfo, body: &Bytes) -> Result<Option<PartDone>> {
        let intent = PartIntent::new(p.number, p.first_chunk, p.plaintext_len, p.plaintext_sha256);
        match self.intents.get(&p.number) {
            Some(recorded) if *recorded != intent => {
                return Err(Error::SourceChanged {
                    object: self.object.clone(),
                    detail: changed_detail(recorded, &intent),
                });
            }
            Some(_) => {}
            None if self.stored.contains_key(&p.number) => {
                return Err(self.cannot(format!(
                    "part {} is on the server but the journal has no record of sending it (the \
                     journal is not this upload's, or it lost records)",
                    p.number
                )));
            }
            None => {}
        }
        let crc = crc32_b64(p.crc32);
        if let Some(s) = self.stored.get(&p.number) {
            let size_differs = s.size.is_some_and(|n| n != p.sealed_len);
            let crc_differs = s.crc32.as_deref().is_some_and(|c| c != crc);
            if size_differs || crc_differs {
                return Err(self.cannot(format!(
                    "part {} on the server is not the same plaintext sealed again (its {} \
                     differs): the journal does not describe this upload",
                    p.number,
                    if size_differs { "size" } else { "CRC32" }
                )));
            }
            // Without a CRC32 (servers that do not list checksums), an ETag
            // that is the MD5 of these bytes proves the same; any other
            // ETag (SSE-KMS, SSE-C) proves nothing either way.
            let verified = s.crc32.is_some() || etag_is_md5_of(&s.etag, body).await;
            if verified {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(PartDone {
                    number: p.number,
                    etag: s.etag.clone(),
                    crc32: crc,
                }));
            }
            // Unverifiable: send the part again. Its plaintext matched its
            // intent, so these are the very bytes sent before.
        }
        if !self.intents.contains_key(&p.number) {
            let j = self.journal.clone();
            record(
                &self.object,
                &format!("part {} (intent)", p.number),
                move || j.intent(&intent),
            )
            .await?;
        }
        Ok(None)
    }

    /// After part `done.number` was stored.
    async fn stored(&self, done: &PartDone) -> Result<()> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let j = self.journal.clone();
        let d = done.clone();
        record(
            &self.object,
            &format!("part {} (done)", done.number),
            move || {
                j.done(&PartStored {
                    number: d.number,
                    etag: &d.etag,
                    crc32: &d.crc32,
                })
            },
        )
        .await
    }

    fn cannot(&self, detail: String) -> Error {
        Error::CannotResume {
            object: self.object.clone(),
            upload_id: self.upload_id.get().cloned().unwrap_or_default(),
            detail,
        }
    }
}

impl PartHook for PartGate {
    fn started<'a>(&'a self, start: UploadStarted<'a>) -> HookFuture<'a, ()> {
        Box::pin(self.start(start))
    }

    fn before_send<'a>(
        &'a self,
        part: &'a SealedInfo,
        body: &'a Bytes,
    ) -> HookFuture<'a, Option<PartDone>> {
        Box::pin(self.check(part, body))
    }

    fn after_send<'a>(&'a self, done: &'a PartDone) -> HookFuture<'a, ()> {
        Box::pin(self.stored(done))
    }
}

/// Whether `etag` is the quoted hex MD5 of `body` (S3's ETag of a part
/// stored without SSE-KMS or SSE-C).
async fn etag_is_md5_of(etag: &str, body: &Bytes) -> bool {
    use md5::{Digest, Md5};
    let hex = etag.trim_matches('"');
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let (hex, body) = (hex.to_ascii_lowercase(), body.clone());
    blocking(move || {
        let digest = Md5::digest(&body);
        let ours: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        ours == hex
    })
    .await
    .unwrap_or(false)
}

fn changed_detail(recorded: &PartIntent, now: &PartIntent) -> String {
    let start = recorded.first_chunk.saturating_mul(CHUNK_SIZE as u64);
    if recorded.plaintext_len != now.plaintext_len || recorded.first_chunk != now.first_chunk {
        format!(
            "part {} held {} bytes at offset {start} and now holds {} bytes at offset {}",
            recorded.number,
            recorded.plaintext_len,
            now.plaintext_len,
            now.first_chunk.saturating_mul(CHUNK_SIZE as u64)
        )
    } else {
        format!(
            "the {} bytes of part {} at offset {start} are not the bytes that were sealed",
            recorded.plaintext_len, recorded.number
        )
    }
}

/// Runs one journal call on the blocking pool.
async fn record(
    object: &str,
    what: &str,
    f: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> Result<()> {
    let r = blocking(f)
        .await
        .map_err(|e| Error::io(format!("recording {what} for {object}"), e))?;
    r.map_err(|source| Error::Journal {
        object: object.to_owned(),
        what: what.to_owned(),
        source,
    })
}

/// Every part of `upload_id`, by number.
async fn list_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    object: &str,
) -> Result<BTreeMap<i32, StoredPart>> {
    let mut out = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let resp = s3
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.take())
            .send()
            .await
            .map_err(|e| match Error::s3("ListParts", object, e) {
                Error::NotFound { .. } => Error::UploadGone {
                    object: object.to_owned(),
                    upload_id: upload_id.to_owned(),
                },
                other => other,
            })?;
        for p in resp.parts() {
            let (Some(n), Some(etag)) = (p.part_number(), p.e_tag()) else {
                continue;
            };
            out.insert(
                n,
                StoredPart {
                    etag: etag.to_owned(),
                    crc32: p.checksum_crc32().map(str::to_owned),
                    size: p.size().and_then(|s| u64::try_from(s).ok()),
                },
            );
        }
        match resp.next_part_number_marker() {
            Some(m) if resp.is_truncated() == Some(true) => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// A resume of the interrupted multipart upload that a journal describes
/// ([`SealClient::resume_reader`](crate::SealClient::resume_reader)).
pub(crate) struct Resume<'a> {
    pub(crate) s3: &'a aws_sdk_s3::Client,
    pub(crate) keyring: &'a Keyring,
    pub(crate) config: &'a Config,
    /// The bucket and key.
    pub(crate) at: (&'a str, &'a str),
    pub(crate) state: &'a ResumeState,
    pub(crate) journal: Arc<dyn UploadJournal>,
}

/// Continues the upload `job` describes, reading the plaintext from `reader`.
pub(crate) async fn resume_upload<R>(job: Resume<'_>, reader: R) -> Result<ResumeOutcome>
where
    R: AsyncRead + Unpin + Send,
{
    let Resume {
        s3,
        keyring,
        config,
        at: (bucket, key),
        state,
        journal,
    } = job;
    let object = object_name(bucket, key);
    let cannot = |detail: String| Error::CannotResume {
        object: object.clone(),
        upload_id: state.upload_id.clone(),
        detail,
    };
    let header = Header::parse(&state.header)
        .map_err(|e| cannot(format!("the journaled header is invalid: {e}")))?;
    let parts = check_part_size(state.part_size, state.plaintext_len)
        .map_err(|e| cannot(format!("the journal's part size does not fit: {e}")))?;
    if let Some(n) = state
        .intents
        .keys()
        .find(|&&n| n < 1 || u64::try_from(n).unwrap_or(u64::MAX) > parts)
    {
        return Err(cannot(format!(
            "the journal records part {n}, but the upload has parts 1 to {parts}"
        )));
    }
    let chunks_per_part = usize::try_from(state.part_size / CHUNK_SIZE as u64)
        .map_err(|_| cannot("the part size is too large for this platform".into()))?;

    // The same data key and salt give the same AEAD key and nonces; the
    // key is checked against the journaled commitment (open_key), and
    // ChunkSealer::danger_resume checks it again for the sealer it builds; the
    // journal's part intents make sure no index is sealed from other plaintext. The
    // journaled header carries the name the upload bound (its records
    // authenticate it), so no name is expected here.
    let prefix = BodyPrefix::from_bytes(&state.body_prefix);
    let data_key = keyring
        .open_key(&header, &prefix, None)
        .await
        .map_err(|source| Error::NoKey {
            object: object.clone(),
            source,
        })?;
    let cipher =
        ChunkSealer::danger_resume(header.suite(), &data_key, &prefix, header.bound_section())
            .map_err(|e| Error::format(&object, e))?;
    drop(data_key);

    let stored = list_parts(s3, bucket, key, &state.upload_id, &object).await?;
    if let Some(n) = stored
        .keys()
        .find(|&&n| n < 1 || u64::try_from(n).unwrap_or(u64::MAX) > parts)
    {
        return Err(cannot(format!(
            "the server holds part {n}, but the upload has parts 1 to {parts}"
        )));
    }
    let target = S3Target {
        s3: s3.clone(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        object: object.clone(),
        sse: config.sse.clone(),
        retry: config.retry.clone(),
        metadata: HashMap::new(),
        content_type: None,
    };
    let upload = target.existing(state.upload_id.clone());
    let gate = Arc::new(PartGate::new(
        journal,
        &object,
        &state.upload_id,
        state.intents.clone(),
        stored,
    ));
    let mut lead = state.header.clone();
    lead.extend_from_slice(&state.body_prefix);
    let outcome = pipeline::continue_upload(
        &upload,
        reader,
        &lead,
        pipeline::PartPlan {
            cipher: SharedSealer::new(cipher),
            chunks_per_part,
            concurrency: config.upload_concurrency,
            object: &object,
            expected_len: Some(state.plaintext_len),
            hook: Some(gate.clone()),
        },
    )
    .await?;
    Ok(ResumeOutcome {
        upload: outcome,
        parts_reused: gate.reused.load(Ordering::Relaxed),
        parts_sent: gate.sent.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use sealstream_format::{DataKey, EncryptionContext, KeyRecord, Salt, Suite, TAG_LEN};

    use crate::pipeline::{PartPlan, continue_upload, plaintext_sha256, upload_with};
    use crate::s3target::{Multipart, Target};

    #[test]
    fn plaintext_hash_skips_tag_slots() {
        let plain: Vec<u8> = (0..2 * CHUNK_SIZE + 5).map(|i| (i % 251) as u8).collect();
        let mut run = Vec::new();
        for c in plain.chunks(CHUNK_SIZE) {
            run.extend_from_slice(c);
            run.extend_from_slice(&[0xAA; TAG_LEN]);
        }
        let want = ring::digest::digest(&ring::digest::SHA256, &plain);
        assert_eq!(&plaintext_sha256(&run, 2, Some(5))[..], want.as_ref());
        let want = ring::digest::digest(&ring::digest::SHA256, &plain[..2 * CHUNK_SIZE]);
        assert_eq!(&plaintext_sha256(&run, 2, None)[..], want.as_ref());
    }

    /// Fake in-memory server whose connection dies after `fail_after`
    /// parts; like a killed process, it never aborts anything.
    #[derive(Clone, Default)]
    struct FakeServer {
        parts: Arc<Mutex<BTreeMap<i32, Bytes>>>,
        sends: Arc<Mutex<Vec<i32>>>,
        object: Arc<Mutex<Option<Vec<u8>>>>,
        fail_after: Arc<Mutex<Option<usize>>>,
    }

    impl Target for FakeServer {
        type Upload = FakeServer;

        async fn put_single(&self, _body: Bytes, _crc32: u32, _len: u64) -> Result<Option<String>> {
            unreachable!("the tests upload several parts")
        }

        async fn start(&self) -> Result<FakeServer> {
            Ok(self.clone())
        }

        fn object(&self) -> &str {
            "memory://fake"
        }
    }

    impl Multipart for FakeServer {
        fn upload_part(
            &self,
            number: i32,
            body: Bytes,
            crc32: u32,
        ) -> impl Future<Output = Result<PartDone>> + Send + 'static {
            let me = self.clone();
            async move {
                let mut sends = me.sends.lock().unwrap();
                if me
                    .fail_after
                    .lock()
                    .unwrap()
                    .is_some_and(|n| sends.len() >= n)
                {
                    return Err(Error::io("sending", io::Error::other("connection lost")));
                }
                sends.push(number);
                me.parts.lock().unwrap().insert(number, body);
                Ok(PartDone {
                    number,
                    etag: format!("\"etag-{number}\""),
                    crc32: crc32_b64(crc32),
                })
            }
        }

        async fn complete(&self, parts: Vec<PartDone>) -> Result<Option<String>> {
            let stored = self.parts.lock().unwrap();
            let mut out = Vec::new();
            for p in &parts {
                out.extend_from_slice(&stored[&p.number]);
            }
            *self.object.lock().unwrap() = Some(out);
            Ok(None)
        }

        #[allow(clippy::manual_async_fn)]
        fn abort(&self) -> impl Future<Output = Result<()>> + Send + 'static {
            async { Ok(()) }
        }

        fn upload_id(&self) -> &str {
            "fake-upload"
        }

        fn retry(&self) -> sealstream_kms::RetryPolicy {
            sealstream_kms::RetryPolicy::no_retries()
        }
    }

    impl FakeServer {
        /// What ListParts would say: with CRC32s, or without them and with
        /// MD5 or opaque ETags.
        fn listed(&self, listing: Listing) -> BTreeMap<i32, StoredPart> {
            use md5::{Digest, Md5};
            let parts = self.parts.lock().unwrap();
            parts
                .iter()
                .map(|(&n, b)| {
                    let md5: String = Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect();
                    let part = StoredPart {
                        etag: match listing {
                            Listing::Md5Etags => format!("\"{md5}\""),
                            _ => format!("\"etag-{n}\""),
                        },
                        crc32: (listing == Listing::Crc32).then(|| crc32_b64(crc32fast::hash(b))),
                        size: Some(b.len() as u64),
                    };
                    (n, part)
                })
                .collect()
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Listing {
        Crc32,
        Md5Etags,
        Opaque,
    }

    #[derive(Default)]
    struct MemJournal {
        start: Mutex<Option<(Vec<u8>, [u8; BODY_PREFIX_LEN])>>,
        intents: Mutex<BTreeMap<i32, PartIntent>>,
        done: Mutex<Vec<i32>>,
    }

    impl UploadJournal for MemJournal {
        fn started(&self, s: &JournalStart<'_>) -> io::Result<()> {
            *self.start.lock().unwrap() = Some((s.header.to_vec(), *s.body_prefix));
            Ok(())
        }
        fn intent(&self, p: &PartIntent) -> io::Result<()> {
            // An intent is recorded before any of its part was sent.
            assert!(!self.done.lock().unwrap().contains(&p.number));
            self.intents.lock().unwrap().insert(p.number, p.clone());
            Ok(())
        }
        fn done(&self, p: &PartStored<'_>) -> io::Result<()> {
            assert!(self.intents.lock().unwrap().contains_key(&p.number));
            self.done.lock().unwrap().push(p.number);
            Ok(())
        }
    }

    const PART_CHUNKS: usize = 2;

    fn plaintext(seed: u8) -> Vec<u8> {
        // Seven full parts of two chunks and a short eighth.
        (0..7 * PART_CHUNKS * CHUNK_SIZE + 5)
            .map(|i| (i % 241) as u8 ^ seed)
            .collect()
    }

    /// A journaled upload whose connection dies after three parts.
    async fn crashed(plain: &[u8]) -> (FakeServer, Arc<MemJournal>, DataKey) {
        let key = DataKey::from_bytes([8u8; 32]);
        let rec = KeyRecord::new("test-fake", "k", vec![1]).unwrap();
        let header =
            Header::new(Suite::Aes256Gcm, EncryptionContext::new(), "", vec![rec]).unwrap();
        let server = FakeServer::default();
        *server.fail_after.lock().unwrap() = Some(3);
        let journal = Arc::new(MemJournal::default());
        let part_size = (PART_CHUNKS * CHUNK_SIZE) as u64;
        let len = plain.len() as u64;
        let j: Arc<dyn PartHook> = PartGate::fresh(journal.clone(), "memory://fake");
        let err = upload_with(
            plain,
            &server,
            &header,
            &key,
            part_size,
            1,
            Some(len),
            Salt::generate().unwrap(),
            Some(j),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::UploadAborted { .. }), "{err}");
        assert_eq!(*server.sends.lock().unwrap(), [1, 2, 3]);
        assert_eq!(*journal.done.lock().unwrap(), [1, 2, 3]);
        // Part 4's intent was recorded before its send failed.
        assert_eq!(journal.intents.lock().unwrap().len(), 4);
        server.sends.lock().unwrap().clear();
        *server.fail_after.lock().unwrap() = None;
        (server, journal, key)
    }

    async fn resume(
        server: &FakeServer,
        journal: &MemJournal,
        key: &DataKey,
        plain: &[u8],
        listing: Listing,
    ) -> Result<(UploadOutcome, Arc<PartGate>)> {
        let (header, prefix) = journal.start.lock().unwrap().clone().unwrap();
        let parsed = Header::parse(&header).unwrap();
        let cipher = ChunkSealer::danger_resume(
            parsed.suite(),
            key,
            &BodyPrefix::from_bytes(&prefix),
            parsed.bound_section(),
        )
        .unwrap();
        // The journal reopened: it keeps the intents recorded before.
        let reopened = MemJournal::default();
        *reopened.intents.lock().unwrap() = journal.intents.lock().unwrap().clone();
        let gate = Arc::new(PartGate::new(
            Arc::new(reopened),
            "memory://fake",
            "fake-upload",
            journal.intents.lock().unwrap().clone(),
            server.listed(listing),
        ));
        let mut lead = header.clone();
        lead.extend_from_slice(&prefix);
        let plan = PartPlan {
            cipher: SharedSealer::new(cipher),
            chunks_per_part: PART_CHUNKS,
            concurrency: 2,
            object: "memory://fake",
            expected_len: Some(plain.len() as u64),
            hook: Some(gate.clone()),
        };
        continue_upload(server, plain, &lead, plan)
            .await
            .map(|o| (o, gate))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resume_sends_only_missing_parts_and_opens_identically() {
        let plain = plaintext(0);
        let (server, journal, key) = crashed(&plain).await;
        let before: Vec<Bytes> = server.parts.lock().unwrap().values().cloned().collect();
        let (out, gate) = resume(&server, &journal, &key, &plain, Listing::Crc32)
            .await
            .unwrap();
        let mut sends = server.sends.lock().unwrap().clone();
        sends.sort_unstable();
        assert_eq!(sends, [4, 5, 6, 7, 8]);
        assert_eq!(gate.reused.load(Ordering::Relaxed), 3);
        assert_eq!(gate.sent.load(Ordering::Relaxed), 5);
        assert_eq!(out.parts, 8);
        let after: Vec<Bytes> = server.parts.lock().unwrap().values().cloned().collect();
        assert_eq!(&after[..3], &before[..]);
        let object = server.object.lock().unwrap().clone().unwrap();
        assert_eq!(object.len() as u64, out.object_len);
        let (_, opened) = sealstream_format::open_slice(&object, &key).unwrap();
        assert!(opened == plain);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_plaintext_is_refused_before_it_is_sent() {
        let part = PART_CHUNKS * CHUNK_SIZE;
        // Part 2 is on the server; part 4 was being sent (intent only).
        for offset in [part + 100, 3 * part + 7] {
            let plain = plaintext(0);
            let (server, journal, key) = crashed(&plain).await;
            let mut changed = plain.clone();
            changed[offset] ^= 1;
            let err = resume(&server, &journal, &key, &changed, Listing::Crc32)
                .await
                .unwrap_err();
            let Error::UploadAborted { source, .. } = &err else {
                panic!("{err}")
            };
            assert!(matches!(**source, Error::SourceChanged { .. }), "{err}");
            assert!(err.to_string().contains("changed"), "{err}");
            let sent = server.sends.lock().unwrap().clone();
            let changed_part = i32::try_from(offset / part + 1).unwrap();
            assert!(!sent.contains(&changed_part), "{sent:?}");
            assert!(server.object.lock().unwrap().is_none());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_part_that_differs_is_refused() {
        let plain = plaintext(0);
        let (server, journal, key) = crashed(&plain).await;
        {
            let mut parts = server.parts.lock().unwrap();
            let mut b = parts[&2].to_vec();
            b[9] ^= 1;
            parts.insert(2, Bytes::from(b));
        }
        let err = resume(&server, &journal, &key, &plain, Listing::Crc32)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("part 2 on the server"), "{err}");
        assert!(server.object.lock().unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_checksums_an_md5_etag_verifies_and_else_the_same_bytes_go_again() {
        for (listing, reused) in [(Listing::Md5Etags, 3), (Listing::Opaque, 0)] {
            let plain = plaintext(0);
            let (server, journal, key) = crashed(&plain).await;
            let before: Vec<Bytes> = server.parts.lock().unwrap().values().cloned().collect();
            let (_, gate) = resume(&server, &journal, &key, &plain, listing)
                .await
                .unwrap();
            assert_eq!(gate.reused.load(Ordering::Relaxed), reused);
            assert_eq!(gate.sent.load(Ordering::Relaxed), 8 - reused);
            let after: Vec<Bytes> = server.parts.lock().unwrap().values().cloned().collect();
            assert_eq!(&after[..3], &before[..], "sent again, but the same bytes");
            let object = server.object.lock().unwrap().clone().unwrap();
            assert!(sealstream_format::open_slice(&object, &key).unwrap().1 == plain);
        }
    }
}
