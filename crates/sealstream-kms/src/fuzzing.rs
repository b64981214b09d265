//! Entry points for the cargo-fuzz targets in `fuzz/`. Compiled only with
//! `--cfg fuzzing` (cargo-fuzz sets it) and hidden from the docs: not API.
//!
//! Each function takes arbitrary bytes, must never panic, and asserts the
//! properties its target checks:
//!
//! - [`key_records`]: key records and whole key blocks through the `local`
//!   and `x25519` unwrap paths, the `aws-kms` and `aws-kms-batch` record
//!   matching (strict and discovery), the `aws-kms-batch` record layout
//!   (checked against a reference; a malformed one is refused by the real
//!   KMS provider without a KMS call), the keyring's attempt limit and its
//!   name check. An unwrap
//!   succeeds only for a record byte-identical to what the key holder wraps
//!   for that bound section, salt ([`SALT`]) and name (every wrapping here
//!   uses a fixed nonce or ephemeral key, so the authentic record is known),
//!   and then yields [`DATA_KEY`];
//! - [`local_key_file`] and [`x25519_key_file`]: the key file parsers agree
//!   with a reference parser written from docs/FORMAT.md ("Key files": exact
//!   lines, LF or CRLF), round-trip, and never echo key material in a
//!   message.
//!
//! No future here waits on I/O: the local and x25519 providers and the fake
//! KMS below are ready on their first poll, so no runtime is needed.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::missing_panics_doc,
    missing_docs
)]

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use ring::digest;
use sealstream_format::{
    BodyPrefix, ChunkSealer, DataKey, EncryptionContext, HEADER_LEN, Header, HeaderParse,
    KeyRecord, Salt, Suite,
};

use crate::error::{Error, KmsErrorKind, Result};
use crate::kms::{
    AWS_KMS_BATCH_PROVIDER_ID, AWS_KMS_PROVIDER_ID, BATCH_RECORD_VERSION, KmsConfig, KmsProvider,
    ciphertext_blob,
};
use crate::local::{LOCAL_KEY_FILE_VERSION_LINE, LOCAL_PROVIDER_ID, LocalKeyProvider};
use crate::provider::{KeyProvider, WrapContext};
use crate::x25519::{
    X25519_PROVIDER_ID, X25519_PUBLIC_PREFIX, X25519_SECRET_PREFIX, X25519Identity, X25519Recipient,
};
use crate::{DEFAULT_MAX_UNWRAP_ATTEMPTS, Keyring};

/// The local key the targets unwrap with.
pub const LOCAL_KEY: [u8; 32] = [0x11; 32];
/// The X25519 secret key the targets unwrap with.
pub const X25519_SECRET: [u8; 32] = [0x22; 32];
/// The data key every authentic record wraps.
pub const DATA_KEY: [u8; 32] = [0x42; 32];
/// The nonce of every `local` wrapping made here.
pub const LOCAL_NONCE: [u8; 12] = [0x07; 12];
/// The ephemeral secret of every `x25519` wrapping made here.
pub const EPHEMERAL_SECRET: [u8; 32] = [0x09; 32];
/// The strict KMS provider's key.
pub const KMS_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/fuzz";
/// The account the discovery KMS provider opens.
pub const KMS_ACCOUNT: &str = "444455556666";
/// The body salt every authentic record is bound to, and the salt of the
/// body whose commitment `open_key` checks.
pub const SALT: [u8; 24] = [0x05; 24];
/// The object name of the authentic headers.
pub const NAME: &str = "fuzz/object";

/// Polls a future that never waits (see the module docs).
fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a future that does no I/O was not ready on its first poll"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A provider that counts its unwrap calls. For `aws-kms` it keeps a real
/// [`KmsProvider`] for [`KeyProvider::accepts`] but never calls KMS: its
/// unwrap refuses a malformed `aws-kms-batch` record as the real one does,
/// and otherwise fails, transiently when the record's first byte is odd.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn KeyProvider>,
    fake_kms: bool,
    calls: AtomicUsize,
}

#[async_trait]
impl KeyProvider for Counted {
    fn provider_id(&self) -> &'static str {
        self.inner.provider_id()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        if self.fake_kms {
            return Err(Error::Config("fuzzing: KMS is never called".into()));
        }
        self.inner.wrap(key, ctx).await
    }

    fn accepts(&self, record: &KeyRecord) -> bool {
        self.inner.accepts(record)
    }

    async fn unwrap_unverified(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.fake_kms {
            return self.inner.unwrap_unverified(record, ctx).await;
        }
        if record.provider() == AWS_KMS_BATCH_PROVIDER_ID {
            ciphertext_blob(record.key_id(), record.wrapped())?;
        }
        let transient = record.wrapped().first().is_some_and(|b| b & 1 == 1);
        Err(Error::Kms {
            key_id: record.key_id().to_owned(),
            reason: "fuzzing: KMS is never called".into(),
            retryable: transient,
            kind: if transient {
                KmsErrorKind::Throttled
            } else {
                KmsErrorKind::InvalidCiphertext
            },
        })
    }
}

struct Fixture {
    local: LocalKeyProvider,
    identity: X25519Identity,
    counted: Vec<Arc<Counted>>,
    keyring: Keyring,
    secrets: Vec<String>,
}

fn kms_provider(config: KmsConfig) -> KmsProvider {
    use aws_sdk_kms::config::{BehaviorVersion, Region};
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    KmsProvider::new(aws_sdk_kms::Client::from_conf(conf), config).unwrap()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let local = LocalKeyProvider::from_key_bytes(&LOCAL_KEY, "fuzz").unwrap();
        let identity = X25519Identity::from_secret_bytes(&X25519_SECRET, "fuzz");
        let inner: [(Arc<dyn KeyProvider>, bool); 4] = [
            (
                Arc::new(LocalKeyProvider::from_key_bytes(&LOCAL_KEY, "fuzz").unwrap()),
                false,
            ),
            (
                Arc::new(X25519Identity::from_secret_bytes(&X25519_SECRET, "fuzz")),
                false,
            ),
            (Arc::new(kms_provider(KmsConfig::strict(KMS_ARN))), true),
            (
                Arc::new(kms_provider(KmsConfig::discovery([KMS_ACCOUNT]))),
                true,
            ),
        ];
        let counted: Vec<Arc<Counted>> = inner
            .into_iter()
            .map(|(inner, fake_kms)| {
                Arc::new(Counted {
                    inner,
                    fake_kms,
                    calls: AtomicUsize::new(0),
                })
            })
            .collect();
        let keyring = Keyring::new(
            counted
                .iter()
                .map(|c| Arc::clone(c) as Arc<dyn KeyProvider>)
                .collect(),
        )
        .unwrap();
        let mut secrets = Vec::new();
        for s in [LOCAL_KEY, X25519_SECRET, DATA_KEY] {
            secrets.push(hex(&s));
            secrets.push(hex(&s).to_uppercase());
        }
        Fixture {
            local,
            identity,
            counted,
            keyring,
            secrets,
        }
    })
}

fn check_no_secret(shown: &str) {
    for s in &fixture().secrets {
        assert!(!shown.contains(s.as_str()), "key material in {shown:?}");
    }
}

fn check_error(e: &Error) {
    check_no_secret(&e.to_string());
    check_no_secret(&format!("{e:?}"));
}

/// The authentic `local` and `x25519` records for one suite and context,
/// remembered because the X25519 wrapping costs two scalar multiplications.
fn authentic(ctx: WrapContext<'_>) -> (KeyRecord, KeyRecord) {
    type Cache = Mutex<HashMap<(Vec<u8>, [u8; 24], String), (KeyRecord, KeyRecord)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (ctx.bound.to_vec(), *ctx.salt, ctx.name.to_owned());
    let mut cache = CACHE
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(records) = cache.get(&key) {
        return records.clone();
    }
    let data_key = DataKey::from_bytes(DATA_KEY);
    let f = fixture();
    let records = (
        f.local
            .wrap_with_nonce(&data_key, ctx, LOCAL_NONCE)
            .unwrap(),
        f.identity
            .recipient()
            .seal_with_ephemeral(&data_key, ctx, &EPHEMERAL_SECRET)
            .unwrap(),
    );
    if cache.len() >= 1024 {
        cache.clear();
    }
    cache.insert(key, records.clone());
    records
}

/// The binding of an object with `suite`, `context` (whose bound section is
/// `bound`) and `name`, with the body salt [`SALT`].
pub fn binding<'a>(
    suite: Suite,
    context: &'a EncryptionContext,
    bound: &'a [u8],
    name: &'a str,
) -> WrapContext<'a> {
    WrapContext {
        suite,
        context,
        bound,
        salt: &SALT,
        name,
    }
}

/// The `local` record the fixture's key wraps for `ctx` (fixed nonce).
pub fn authentic_local(ctx: WrapContext<'_>) -> KeyRecord {
    authentic(ctx).0
}

/// The `x25519` record sealed for the fixture's identity for `ctx` (fixed
/// ephemeral key).
pub fn authentic_x25519(ctx: WrapContext<'_>) -> KeyRecord {
    authentic(ctx).1
}

/// A header named [`NAME`] holding the authentic records for `suite` and
/// `context`, a record for the strict KMS key, one for a discovery account
/// and, last, a well-formed `aws-kms-batch` record for the strict key.
pub fn authentic_header(suite: Suite, context: EncryptionContext) -> Header {
    let bound = Header::bound_section_for(suite, &context);
    let ctx = binding(suite, &context, &bound, NAME);
    let records = vec![
        KeyRecord::new(AWS_KMS_PROVIDER_ID, KMS_ARN, vec![0xA0; 40]).unwrap(),
        authentic_local(ctx),
        KeyRecord::new(
            AWS_KMS_PROVIDER_ID,
            format!("arn:aws:kms:eu-west-1:{KMS_ACCOUNT}:key/other"),
            vec![0xA1; 40],
        )
        .unwrap(),
        authentic_x25519(ctx),
        KeyRecord::new(AWS_KMS_BATCH_PROVIDER_ID, KMS_ARN, batch_wrapped(0xA2, 40)).unwrap(),
    ];
    Header::new(suite, context, NAME, records).unwrap()
}

/// A well-formed `aws-kms-batch` `wrapped`: the version byte and a
/// `blob_len`-byte stand-in for a `CiphertextBlob`.
fn batch_wrapped(byte: u8, blob_len: usize) -> Vec<u8> {
    let mut out = vec![byte; blob_len + 1];
    out[0] = BATCH_RECORD_VERSION;
    out
}

/// docs/FORMAT.md, "`aws-kms-batch`": `0x01` then a 1- to 6144-byte blob.
fn reference_batch_blob(wrapped: &[u8]) -> Option<&[u8]> {
    let (&version, blob) = wrapped.split_first()?;
    (version == 0x01 && !blob.is_empty() && blob.len() <= 6144).then_some(blob)
}

fn suite_of(bit: bool) -> Suite {
    if bit {
        Suite::XChaCha20Poly1305
    } else {
        Suite::Aes256Gcm
    }
}

/// Checks every record of `header` against the local and x25519 unwrap
/// paths and the KMS matching rules, then the keyring as a whole.
fn check_header(header: &Header) {
    let f = fixture();
    let ctx = binding(
        header.suite(),
        header.context(),
        header.bound_section(),
        header.name(),
    );
    for record in header.records() {
        // Unwrap is tried whatever the key id says: the key id is only a
        // hint, the AEAD decides.
        let local = ready(KeyProvider::unwrap_unverified(&f.local, record, ctx));
        match local {
            Ok(key) => {
                assert_eq!(key.expose_secret(), &DATA_KEY);
                assert!(
                    record.wrapped() == authentic_local(ctx).wrapped(),
                    "a local record that is not the authentic wrapping unwrapped"
                );
            }
            Err(e) => check_error(&e),
        }
        match ready(f.identity.unwrap_unverified(record, ctx)) {
            Ok(key) => {
                assert_eq!(key.expose_secret(), &DATA_KEY);
                assert!(
                    record.wrapped() == authentic_x25519(ctx).wrapped(),
                    "an x25519 record that is not the authentic wrapping unwrapped"
                );
            }
            Err(e) => check_error(&e),
        }
        let [local, x25519, strict, discovery] = &f.counted[..] else {
            unreachable!("the fixture has four providers")
        };
        assert_eq!(
            local.accepts(record),
            record.provider() == LOCAL_PROVIDER_ID && record.key_id() == f.local.key_id()
        );
        assert_eq!(
            x25519.accepts(record),
            record.provider() == X25519_PROVIDER_ID && record.key_id() == f.identity.fingerprint()
        );
        let kms_record = record.provider() == AWS_KMS_PROVIDER_ID
            || record.provider() == AWS_KMS_BATCH_PROVIDER_ID;
        assert_eq!(
            strict.accepts(record),
            kms_record && record.key_id() == KMS_ARN
        );
        if record.provider() == AWS_KMS_BATCH_PROVIDER_ID {
            check_batch_record(record, ctx, [strict, discovery]);
        }
        if discovery.accepts(record) {
            let parts: Vec<&str> = record.key_id().splitn(6, ':').collect();
            assert!(kms_record);
            assert!(parts.len() == 6 && parts[0] == "arn" && parts[1] == "aws");
            assert!(parts[2] == "kms" && parts[4] == KMS_ACCOUNT);
            assert!(parts[5].starts_with("key/") && parts[5].len() > 4);
        }
    }

    let (_, prefix) = ChunkSealer::new(
        header.suite(),
        &DataKey::from_bytes(DATA_KEY),
        Salt::danger_from_bytes(SALT),
        header.bound_section(),
    )
    .unwrap();
    let prefix = BodyPrefix::from_bytes(&prefix.to_bytes());
    let calls = |f: &Fixture| -> usize {
        f.counted
            .iter()
            .map(|c| c.calls.swap(0, Ordering::Relaxed))
            .sum()
    };
    calls(f);
    let opened = ready(f.keyring.open_key(header, &prefix, None));
    let n = calls(f);
    assert!(
        n <= DEFAULT_MAX_UNWRAP_ATTEMPTS,
        "{n} unwrap attempts for one header"
    );
    // Every key that unwraps is the data key, so it opens this body.
    match &opened {
        Ok(k) => assert_eq!(k.expose_secret(), &DATA_KEY),
        Err(e) => check_error(e),
    }
    // Expecting the header's own name changes nothing; any other name is
    // refused before a single unwrap.
    let named = ready(f.keyring.open_key(header, &prefix, Some(header.name())));
    assert_eq!(named.is_ok(), opened.is_ok());
    calls(f);
    let other = if header.name() == NAME {
        "fuzz/other"
    } else {
        NAME
    };
    match ready(f.keyring.open_key(header, &prefix, Some(other))) {
        Err(Error::Format(sealstream_format::Error::NameMismatch { .. })) => {}
        r => panic!(
            "a header named {:?} opened as {other:?}: {r:?}",
            header.name()
        ),
    }
    assert_eq!(calls(f), 0, "the name is compared before any unwrap");
}

/// An `aws-kms-batch` record's layout against the reference; a malformed
/// one is refused by the real KMS providers (strict and discovery) as a
/// malformed record without any I/O ([`ready`] would panic on a KMS call).
fn check_batch_record(record: &KeyRecord, ctx: WrapContext<'_>, kms: [&Arc<Counted>; 2]) {
    let parsed = ciphertext_blob(record.key_id(), record.wrapped());
    match (&parsed, reference_batch_blob(record.wrapped())) {
        (Ok(blob), Some(want)) => assert_eq!(*blob, want),
        (Err(e), None) => {
            check_error(e);
            for provider in kms {
                match ready(provider.inner.unwrap_unverified(record, ctx)) {
                    Err(e @ Error::MalformedRecord { .. }) => check_error(&e),
                    r => panic!("a malformed aws-kms-batch record was not refused: {r:?}"),
                }
            }
        }
        (p, r) => panic!(
            "aws-kms-batch layout of {} bytes: parser {:?}, reference {}",
            record.wrapped().len(),
            p.as_ref().map(|b| b.len()),
            r.is_some()
        ),
    }
}

/// `key_records`: `data[0]` picks the mode (low two bits) and the suite
/// (bit 2):
///
/// - 0: the rest is a header (key block included);
/// - 1: `pos: u16 BE, op: u8, val: u8`, then a context value: the authentic
///   header for that context is changed at `pos` (op 0: XOR `val | 1`; 1:
///   truncate; 2: insert `val`; 3: remove a byte) and parsed again;
/// - 2: the rest is the `wrapped` field of a `local` record (bits 3 and 4
///   clear), an `x25519` record (bit 3 set, bit 4 clear) or an
///   `aws-kms-batch` record for the strict KMS key (bit 4 set) for the
///   context `fuzz=1`;
/// - 3: the rest is the key block alone, after the bound section of the
///   context `fuzz=1`.
pub fn key_records(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let suite = suite_of(mode & 4 != 0);
    match mode & 3 {
        0 => {
            if let Ok(HeaderParse::Complete { header, .. }) = Header::parse_prefix(rest) {
                check_header(&header);
            }
        }
        1 => {
            let Some((spec, value)) = rest.split_at_checked(4) else {
                return;
            };
            let value = String::from_utf8_lossy(value);
            let Ok(context) = EncryptionContext::from_pairs([("fuzz", value.as_ref())]) else {
                return;
            };
            let original = authentic_header(suite, context).encode();
            let pos = usize::from(u16::from_be_bytes([spec[0], spec[1]])) % (original.len() + 1);
            let mut bad = original.clone();
            match spec[2] % 4 {
                0 if pos < bad.len() => bad[pos] ^= spec[3] | 1,
                0 | 1 => bad.truncate(pos),
                2 => bad.insert(pos, spec[3]),
                _ if pos < bad.len() => {
                    bad.remove(pos);
                }
                _ => bad.truncate(pos),
            }
            if let Ok(HeaderParse::Complete { header, .. }) = Header::parse_prefix(&bad) {
                check_header(&header);
            }
        }
        2 => {
            let (provider, key_id) = if mode & 16 != 0 {
                (AWS_KMS_BATCH_PROVIDER_ID, KMS_ARN)
            } else if mode & 8 == 0 {
                (LOCAL_PROVIDER_ID, fixture().local.key_id())
            } else {
                (X25519_PROVIDER_ID, fixture().identity.fingerprint())
            };
            let Ok(record) = KeyRecord::new(provider, key_id, rest.to_vec()) else {
                return;
            };
            let context = EncryptionContext::from_pairs([("fuzz", "1")]).unwrap();
            // A wrapped blob too large for the 4096-byte header is refused by
            // Header::new (a writer-side limit), not a finding.
            let Ok(header) = Header::new(suite, context, NAME, vec![record]) else {
                return;
            };
            check_header(&header);
        }
        _ => {
            let context = EncryptionContext::from_pairs([("fuzz", "1")]).unwrap();
            let bound = Header::bound_section_for(suite, &context);
            if 12 + bound.len() + rest.len() > HEADER_LEN {
                return;
            }
            let mut bytes = sealstream_format::MAGIC.to_vec();
            bytes.extend_from_slice(&(HEADER_LEN as u32).to_be_bytes());
            bytes.extend_from_slice(&bound);
            bytes.extend_from_slice(rest);
            bytes.resize(HEADER_LEN, 0);
            if let Ok(header) = Header::parse(&bytes) {
                check_header(&header);
            }
        }
    }
}

/// Key files are at most 4096 bytes; the readers refuse larger ones before
/// parsing.
const MAX_KEY_FILE: usize = 4096;

/// The content lines of a key file as docs/FORMAT.md ("Key files")
/// describes them: lines end with LF, a CR right before an LF belongs to the
/// line end, the last line may lack its LF; empty lines and lines starting
/// with `#` are comments; `None` if any other line begins or ends with white
/// space.
fn reference_lines(text: &str) -> Option<Vec<&str>> {
    let pieces: Vec<&str> = text.split('\n').collect();
    let last = pieces.len() - 1;
    let mut out = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let line = if i < last {
            piece.strip_suffix('\r').unwrap_or(piece)
        } else {
            piece
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (first, last_char) = (line.chars().next()?, line.chars().next_back()?);
        if first.is_whitespace() || last_char.is_whitespace() {
            return None;
        }
        out.push(line);
    }
    Some(out)
}

fn reference_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// docs/FORMAT.md, `local`, "Key file".
fn reference_local(data: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(data).ok()?;
    let [version, id, key] = reference_lines(text)?[..] else {
        return None;
    };
    if version != LOCAL_KEY_FILE_VERSION_LINE {
        return None;
    }
    let key = reference_hex::<32>(key.strip_prefix("key ")?)?;
    let want = hex(&sha256(&[b"sealstream local key id v1", &[0], &key])[..8]);
    (id.strip_prefix("id ")? == want).then_some(key)
}

/// `local_key_file`: arbitrary bytes as the contents of a local key file.
/// The parser agrees with the reference parser, the key it loads wraps what
/// a provider built from the reference key unwraps, and no message echoes
/// a `key` line.
pub fn local_key_file(data: &[u8]) {
    if data.len() > MAX_KEY_FILE {
        return;
    }
    let parsed = LocalKeyProvider::from_file_bytes(Path::new("fuzz.key"), data);
    let reference = reference_local(data);
    match (parsed, reference) {
        (Ok(p), Some(key)) => {
            let again = LocalKeyProvider::from_key_bytes(&key, "reference").unwrap();
            assert_eq!(p.key_id(), again.key_id());
            let context = EncryptionContext::new();
            let bound = Header::bound_section_for(Suite::Aes256Gcm, &context);
            let ctx = binding(Suite::Aes256Gcm, &context, &bound, NAME);
            let record = p
                .wrap_with_nonce(&DataKey::from_bytes(DATA_KEY), ctx, LOCAL_NONCE)
                .unwrap();
            let opened = ready(KeyProvider::unwrap_unverified(&again, &record, ctx)).unwrap();
            assert_eq!(opened.expose_secret(), &DATA_KEY);
            let shown = format!("{p:?} {}", p.describe());
            assert!(!shown.contains(&hex(&key)), "key in {shown:?}");
        }
        (Err(e), None) => {
            let shown = format!("{e} {e:?}");
            for line in String::from_utf8_lossy(data).lines() {
                if let Some(k) = line.trim().strip_prefix("key ")
                    && k.len() >= 32
                    && k.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    assert!(!shown.contains(k), "a key line in {shown:?}");
                }
            }
        }
        (Ok(_), None) => panic!("the parser accepted a key file the reference refuses"),
        (Err(e), Some(_)) => panic!("the parser refused a key file the reference accepts: {e}"),
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// docs/FORMAT.md, `x25519`, "Key text and files": `prefix` then 48
/// characters of unpadded base64url of `key || SHA-256(prefix || key)[0..4]`.
fn reference_x25519_text(prefix: &str, line: &str) -> Option<[u8; 32]> {
    let body = line.strip_prefix(prefix)?.as_bytes();
    if body.len() != 48 {
        return None;
    }
    let mut raw = [0u8; 36];
    for (i, quad) in body.chunks(4).enumerate() {
        let mut acc = 0u32;
        for &c in quad {
            let v = BASE64URL.iter().position(|&a| a == c)?;
            acc = (acc << 6) | v as u32;
        }
        raw[3 * i..3 * i + 3].copy_from_slice(&acc.to_be_bytes()[1..]);
    }
    let (key, check) = raw.split_at(32);
    (sha256(&[prefix.as_bytes(), key])[..4] == *check).then(|| key.try_into().unwrap())
}

fn reference_x25519_file(prefix: &str, data: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(data).ok()?;
    let [line] = reference_lines(text)?[..] else {
        return None;
    };
    reference_x25519_text(prefix, line)
}

/// `x25519_key_file`: `data[0]` bit 0 picks a public (0) or secret (1) key
/// file; the rest is its contents, also parsed as a bare key text. The
/// parsers agree with the reference, public keys print back to the same
/// text, and a loaded identity opens what is sealed for its recipient.
pub fn x25519_key_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if rest.len() > MAX_KEY_FILE {
        return;
    }
    let path = Path::new("fuzz.key");
    if mode & 1 == 0 {
        let reference = reference_x25519_file(X25519_PUBLIC_PREFIX, rest);
        match (X25519Recipient::from_file_bytes(path, rest), reference) {
            (Ok(r), Some(pk)) => {
                assert_eq!(r.to_bytes(), pk);
                let text = r.to_string();
                let again = X25519Recipient::parse(&text).unwrap();
                assert_eq!(again.to_bytes(), pk);
                assert_eq!(again.to_string(), text);
                assert_eq!(r.fingerprint(), again.fingerprint());
                assert!(
                    reference_lines(std::str::from_utf8(rest).unwrap()).unwrap() == [text.as_str()]
                );
            }
            (Err(e), None) => check_error(&e),
            (a, b) => panic!(
                "public key file: parser {:?}, reference {}",
                a.map(|r| r.fingerprint().to_owned()),
                b.is_some()
            ),
        }
        if let Ok(text) = std::str::from_utf8(rest) {
            // A recipient given as text may be the whole text of a public
            // key file (several lines, or a leading comment): then the key
            // file's line rules apply to the trimmed text.
            let t = text.trim();
            let reference = if t.contains('\n') || t.starts_with('#') {
                reference_x25519_file(X25519_PUBLIC_PREFIX, t.as_bytes())
            } else {
                reference_x25519_text(X25519_PUBLIC_PREFIX, t)
            };
            match (X25519Recipient::parse(text), reference) {
                (Ok(r), Some(pk)) => assert_eq!(r.to_bytes(), pk),
                (Err(e), None) => check_error(&e),
                _ => panic!("X25519Recipient::parse disagrees with the reference"),
            }
        }
    } else {
        let reference = reference_x25519_file(X25519_SECRET_PREFIX, rest);
        match (X25519Identity::from_file_bytes(path, rest), reference) {
            (Ok(id), Some(sk)) => {
                let again = X25519Identity::from_secret_bytes(&sk, "reference");
                assert_eq!(id.fingerprint(), again.fingerprint());
                let shown = format!("{id:?} {}", id.describe());
                let line = reference_lines(std::str::from_utf8(rest).unwrap()).unwrap()[0];
                let secret_text = line.strip_prefix(X25519_SECRET_PREFIX).unwrap();
                assert!(
                    !shown.contains(&hex(&sk)) && !shown.contains(secret_text),
                    "secret key in {shown:?}"
                );
                let context = EncryptionContext::new();
                let bound = Header::bound_section_for(Suite::XChaCha20Poly1305, &context);
                let ctx = binding(Suite::XChaCha20Poly1305, &context, &bound, NAME);
                let record = again.recipient().seal_with_ephemeral(
                    &DataKey::from_bytes(DATA_KEY),
                    ctx,
                    &EPHEMERAL_SECRET,
                );
                // A low-order public key cannot be sealed for; then there is
                // nothing to open.
                if let Ok(record) = record {
                    let opened = ready(id.unwrap_unverified(&record, ctx)).unwrap();
                    assert_eq!(opened.expose_secret(), &DATA_KEY);
                }
            }
            (Err(e), None) => {
                let shown = format!("{e} {e:?}");
                if let Ok(text) = std::str::from_utf8(rest) {
                    for line in text.lines().map(str::trim) {
                        if let Some(secret) = line.strip_prefix(X25519_SECRET_PREFIX)
                            && secret.len() >= 40
                        {
                            assert!(!shown.contains(secret), "a secret key in {shown:?}");
                        }
                    }
                }
            }
            (a, b) => panic!(
                "secret key file: parser {:?}, reference {}",
                a.map(|r| r.fingerprint().to_owned()),
                b.is_some()
            ),
        }
    }
}

/// Seed inputs, as `(target, file name, bytes)`; `fuzz/examples/seed_corpus.rs`
/// writes them to `fuzz/corpus/`.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for suite in [Suite::Aes256Gcm, Suite::XChaCha20Poly1305] {
        let s = suite.id();
        let bit = if suite == Suite::Aes256Gcm { 0 } else { 4 };
        for (name, context) in [
            (
                "fuzz",
                EncryptionContext::from_pairs([("fuzz", "1")]).unwrap(),
            ),
            ("empty", EncryptionContext::new()),
        ] {
            let header = authentic_header(suite, context);
            out.push((
                "key_records",
                format!("header-{name}-suite{s}"),
                [&[bit][..], &header.encode()].concat(),
            ));
        }
        out.push((
            "key_records",
            format!("tamper-suite{s}"),
            [&[bit | 1, 0, 60, 0, 1][..], b"1"].concat(),
        ));
        let context = EncryptionContext::from_pairs([("fuzz", "1")]).unwrap();
        let bound = Header::bound_section_for(suite, &context);
        let ctx = binding(suite, &context, &bound, NAME);
        out.push((
            "key_records",
            format!("local-record-suite{s}"),
            [&[bit | 2][..], authentic_local(ctx).wrapped()].concat(),
        ));
        out.push((
            "key_records",
            format!("x25519-record-suite{s}"),
            [&[bit | 8 | 2][..], authentic_x25519(ctx).wrapped()].concat(),
        ));
        out.push((
            "key_records",
            format!("batch-record-suite{s}"),
            [&[bit | 16 | 2][..], &batch_wrapped(0xB0, 40)].concat(),
        ));
        out.push((
            "key_records",
            format!("batch-record-bad-version-suite{s}"),
            [&[bit | 16 | 2, 0x02][..], &[0xB0; 40]].concat(),
        ));
        let header = authentic_header(suite, context.clone());
        let key_block = &header.encode()[12 + header.bound_section().len()..header.fields_len()];
        out.push((
            "key_records",
            format!("key-block-suite{s}"),
            [&[bit | 3][..], key_block].concat(),
        ));
    }
    // 32 records the keyring accepts, none of which unwraps: the attempt
    // limit has to stop it.
    let context = EncryptionContext::new();
    let bound = Header::bound_section_for(Suite::Aes256Gcm, &context);
    let ctx = binding(Suite::Aes256Gcm, &context, &bound, NAME);
    let mut bad_local = authentic_local(ctx).wrapped().to_vec();
    bad_local[20] ^= 1;
    let many: Vec<KeyRecord> = (0..32)
        .map(|i| match i % 3 {
            0 => KeyRecord::new(
                LOCAL_PROVIDER_ID,
                fixture().local.key_id(),
                bad_local.clone(),
            ),
            1 => KeyRecord::new(AWS_KMS_PROVIDER_ID, KMS_ARN, vec![i; 8]),
            _ => KeyRecord::new(
                X25519_PROVIDER_ID,
                fixture().identity.fingerprint(),
                vec![1; 81],
            ),
        })
        .collect::<Result<_, _>>()
        .unwrap();
    let header = Header::new(Suite::Aes256Gcm, context.clone(), NAME, many).unwrap();
    out.push((
        "key_records",
        "many-accepted".into(),
        [&[0][..], &header.encode()].concat(),
    ));

    // Batch records the KMS providers accept (bad version, no blob, one
    // that goes to the fake KMS), then the authentic local record: the
    // fourth attempt, the last the limit allows.
    let discovery_arn = format!("arn:aws:kms:eu-west-1:{KMS_ACCOUNT}:key/batch");
    let batch = [
        (KMS_ARN, [&[0x02][..], &[0xB1; 40]].concat()),
        (discovery_arn.as_str(), vec![BATCH_RECORD_VERSION]),
        (discovery_arn.as_str(), batch_wrapped(0xB2, 40)),
    ];
    let mut records: Vec<KeyRecord> = batch
        .into_iter()
        .map(|(arn, wrapped)| KeyRecord::new(AWS_KMS_BATCH_PROVIDER_ID, arn, wrapped).unwrap())
        .collect();
    records.push(authentic_local(ctx));
    let header = Header::new(Suite::Aes256Gcm, context, NAME, records).unwrap();
    out.push((
        "key_records",
        "batch-records-then-local".into(),
        [&[0][..], &header.encode()].concat(),
    ));

    let local_text = format!(
        "# sealstream local key\n{LOCAL_KEY_FILE_VERSION_LINE}\nid {}\nkey {}\n",
        fixture().local.key_id(),
        hex(&LOCAL_KEY)
    );
    out.push(("local_key_file", "valid".into(), local_text.clone().into()));
    out.push((
        "local_key_file",
        "crlf-comments".into(),
        local_text.replace('\n', "\r\n\r\n# c\r\n").into(),
    ));
    for (name, text) in [
        ("trailing-space", local_text.replacen("\nid ", " \nid ", 1)),
        ("leading-tab", local_text.replacen("\nkey ", "\n\tkey ", 1)),
        ("lone-cr-at-end", format!("{}\r", local_text.trim_end())),
        ("no-final-newline", local_text.trim_end().to_owned()),
    ] {
        out.push(("local_key_file", name.into(), text.into()));
    }
    out.push((
        "local_key_file",
        "wrong-id".into(),
        local_text
            .replace(fixture().local.key_id(), "0000000000000000")
            .into(),
    ));

    let public = fixture().identity.recipient().to_string();
    let secret = {
        let mut raw = X25519_SECRET.to_vec();
        raw.extend_from_slice(&sha256(&[X25519_SECRET_PREFIX.as_bytes(), &X25519_SECRET])[..4]);
        let mut text = X25519_SECRET_PREFIX.to_owned();
        for tri in raw.chunks(3) {
            let v = (u32::from(tri[0]) << 16) | (u32::from(tri[1]) << 8) | u32::from(tri[2]);
            for shift in [18, 12, 6, 0] {
                text.push(char::from(BASE64URL[((v >> shift) & 63) as usize]));
            }
        }
        text
    };
    out.push((
        "x25519_key_file",
        "public".into(),
        [&[0][..], format!("# recipient\n{public}\n").as_bytes()].concat(),
    ));
    out.push((
        "x25519_key_file",
        "secret".into(),
        [
            &[1][..],
            format!("# identity\n# public key: {public}\n{secret}\n").as_bytes(),
        ]
        .concat(),
    ));
    out.push((
        "x25519_key_file",
        "public-crlf-trailing-space".into(),
        [&[0][..], format!("#\r\n{public} \r\n").as_bytes()].concat(),
    ));
    out.push((
        "x25519_key_file",
        "secret-given-as-public".into(),
        [&[0][..], format!("{secret}\n").as_bytes()].concat(),
    ));
    let mut typo = public.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'A' { b'B' } else { b'A' };
    out.push((
        "x25519_key_file",
        "public-typo".into(),
        [&[0][..], &typo].concat(),
    ));
    out
}
