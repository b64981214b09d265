//! Batch records (`aws-kms-batch`): one `GenerateDataKey` for many objects,
//! one data key per object (docs/FORMAT.md, "`aws-kms-batch`").
//!
//! ```text
//! batch key  = GenerateDataKey(AES_256, context = user pairs
//!                                 + sealstream:version = "2" + sealstream:key = "batch")
//! wrapped    = 0x01 || CiphertextBlob
//! data key   = HKDF-Expand(SHA-512, PRK = batch key,
//!                          info = wrap_aad("sealstream aws-kms-batch v2", key ARN, binding),
//!                          L = 32)
//! ```
//!
//! The KMS encryption context carries only the object's user pairs (those
//! not starting with `sealstream:`), so objects of one batch share one
//! `CiphertextBlob`; the binding (bound section, salt, name) is in the
//! derivation instead, so a record moved to another object derives a key
//! that fails that object's commitment.
//!
//! A writer's batch key lives in [`SealState`] (zeroized when replaced or
//! dropped) for at most [`BatchLimits::max_objects`] objects and
//! [`BatchLimits::max_age`]; a reader's decrypted batch keys live in
//! [`OpenCache`] (at most [`OPEN_CACHE_ENTRIES`] of them, each at most
//! [`OPEN_CACHE_TTL`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use ring::hkdf::{HKDF_SHA512, KeyType, Prk};
use sealstream_format::{DATA_KEY_LEN, DataKey};
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::KMS_CONTEXT_VERSION_KEY;
use crate::error::{Error, Result};
use crate::provider::{WrapContext, wrap_aad};

/// The provider id of AWS KMS batch records.
pub const AWS_KMS_BATCH_PROVIDER_ID: &str = "aws-kms-batch";
/// Reserved KMS encryption context key of a batch key: `"sealstream:key"`,
/// always with the value [`KMS_CONTEXT_BATCH_VALUE`].
pub const KMS_CONTEXT_KEY_KEY: &str = "sealstream:key";
/// The value of [`KMS_CONTEXT_KEY_KEY`] for a batch key: `"batch"`.
pub const KMS_CONTEXT_BATCH_VALUE: &str = "batch";
/// The first byte of an `aws-kms-batch` record's `wrapped`: the record
/// layout's version.
pub const BATCH_RECORD_VERSION: u8 = 0x01;
/// The longest `CiphertextBlob` KMS makes or `Decrypt` takes: 6144 bytes
/// (docs/FORMAT.md, "`aws-kms`").
pub(crate) const MAX_CIPHERTEXT_BLOB_LEN: usize = 6144;
/// The HKDF label of the per-object derivation.
const DERIVE_LABEL: &[u8] = b"sealstream aws-kms-batch v2";

/// At most this many decrypted batch keys are kept by one provider.
pub const OPEN_CACHE_ENTRIES: usize = 64;
/// A decrypted batch key is kept at most this long.
pub const OPEN_CACHE_TTL: Duration = Duration::from_secs(300);

/// How far one batch key may be reused when sealing
/// ([`super::KmsConfig::with_batch`]).
///
/// A new batch key (one `GenerateDataKey`) is made for the first object,
/// after `max_objects` objects, once the batch is `max_age` old, and
/// whenever the object's user pairs differ from the batch's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Objects per batch key, at least 1.
    pub max_objects: u32,
    /// How long a batch key may be used for new objects, above zero.
    pub max_age: Duration,
}

impl Default for BatchLimits {
    /// 1000 objects, 10 minutes.
    fn default() -> Self {
        BatchLimits {
            max_objects: 1000,
            max_age: Duration::from_secs(600),
        }
    }
}

impl BatchLimits {
    pub(super) fn validate(&self) -> Result<()> {
        if self.max_objects == 0 {
            return Err(Error::Config(
                "KMS batch max_objects must be at least 1 (leave batching off instead)".into(),
            ));
        }
        if self.max_age.is_zero() {
            return Err(Error::Config(
                "KMS batch max_age must be above zero (leave batching off instead)".into(),
            ));
        }
        Ok(())
    }
}

/// The `CiphertextBlob` of an `aws-kms-batch` record's `wrapped`
/// (docs/FORMAT.md, "`aws-kms-batch`"): the version byte must be
/// [`BATCH_RECORD_VERSION`] and the blob 1 to [`MAX_CIPHERTEXT_BLOB_LEN`]
/// bytes. Anything else is a malformed record, refused without a KMS call.
pub(crate) fn ciphertext_blob<'a>(key_id: &str, wrapped: &'a [u8]) -> Result<&'a [u8]> {
    let malformed = |reason: String| Error::MalformedRecord {
        provider: AWS_KMS_BATCH_PROVIDER_ID,
        reason: format!("key {key_id}: {reason}"),
    };
    match wrapped.split_first() {
        Some((&BATCH_RECORD_VERSION, blob)) if blob.len() > MAX_CIPHERTEXT_BLOB_LEN => {
            Err(malformed(format!(
                "a {}-byte CiphertextBlob; KMS blobs are at most {MAX_CIPHERTEXT_BLOB_LEN} bytes",
                blob.len()
            )))
        }
        Some((&BATCH_RECORD_VERSION, blob)) if !blob.is_empty() => Ok(blob),
        Some((&BATCH_RECORD_VERSION, _)) | None => {
            Err(malformed("no CiphertextBlob after the version byte".into()))
        }
        Some((v, _)) => Err(malformed(format!(
            "record version {v:#04x} (this reader knows {BATCH_RECORD_VERSION:#04x})"
        ))),
    }
}

/// The KMS encryption context of a batch key for the object of `ctx`: its
/// user pairs plus `sealstream:version` and `sealstream:key = "batch"`.
pub(super) fn batch_context(ctx: WrapContext<'_>) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = ctx
        .context
        .iter()
        .filter(|(k, _)| !k.starts_with("sealstream:"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    map.insert(
        KMS_CONTEXT_VERSION_KEY.into(),
        sealstream_format::FORMAT_VERSION.to_string(),
    );
    map.insert(KMS_CONTEXT_KEY_KEY.into(), KMS_CONTEXT_BATCH_VALUE.into());
    map
}

struct Len32;

impl KeyType for Len32 {
    fn len(&self) -> usize {
        DATA_KEY_LEN
    }
}

/// The object's data key from its batch key (docs/FORMAT.md,
/// "`aws-kms-batch`"): bound to `key_id` (the record's key ARN), the bound
/// section, the salt and the name.
pub(super) fn derive(
    batch_key: &[u8; DATA_KEY_LEN],
    key_id: &str,
    ctx: WrapContext<'_>,
) -> Result<DataKey> {
    let info = wrap_aad(DERIVE_LABEL, key_id, ctx)?;
    // ring keeps the HMAC key schedule of the PRK without wiping it
    // (docs/SECURITY.md); the output goes straight into zeroizing storage.
    let prk = Prk::new_less_safe(HKDF_SHA512, batch_key);
    let mut out = Zeroizing::new([0u8; DATA_KEY_LEN]);
    prk.expand(&[&info], Len32)
        .and_then(|okm| okm.fill(&mut out[..]))
        .map_err(|_| Error::Config("internal error: HKDF-Expand refused 32 bytes".into()))?;
    Ok(DataKey::from_bytes(*out))
}

/// The batch a writer is filling.
pub(super) struct SealBatch {
    pub(super) key: Zeroizing<[u8; DATA_KEY_LEN]>,
    pub(super) key_arn: String,
    /// `0x01 || CiphertextBlob`.
    pub(super) wrapped: Vec<u8>,
    pub(super) context: BTreeMap<String, String>,
    pub(super) created: Instant,
    pub(super) used: u32,
}

impl SealBatch {
    pub(super) fn usable(&self, limits: &BatchLimits, context: &BTreeMap<String, String>) -> bool {
        self.used < limits.max_objects
            && self.created.elapsed() < limits.max_age
            && self.context == *context
    }
}

/// A writer's batch state. The mutex is held across `GenerateDataKey`, so
/// parallel uploads wait for one call instead of each making their own.
pub(super) struct SealState {
    pub(super) limits: BatchLimits,
    pub(super) current: Mutex<Option<SealBatch>>,
}

impl SealState {
    pub(super) fn new(limits: BatchLimits) -> Self {
        SealState {
            limits,
            current: Mutex::new(None),
        }
    }
}

struct CacheEntry {
    key_id: String,
    blob: Vec<u8>,
    context: BTreeMap<String, String>,
    key: Zeroizing<[u8; DATA_KEY_LEN]>,
    at: Instant,
}

/// A reader's decrypted batch keys, keyed by the exact key ARN,
/// `CiphertextBlob` and encryption context they were decrypted with.
/// Bounded ([`OPEN_CACHE_ENTRIES`], [`OPEN_CACHE_TTL`]); the mutex is held
/// across `Decrypt`, so parallel downloads of one batch make one call.
#[derive(Default)]
pub(super) struct OpenCache {
    entries: Mutex<Vec<CacheEntry>>,
}

impl OpenCache {
    /// The batch key for (`key_id`, `blob`, `context`): cached, or from
    /// `decrypt` (then cached; a failure is not).
    pub(super) async fn get_or_decrypt<F, Fut>(
        &self,
        key_id: &str,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        decrypt: F,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Zeroizing<[u8; DATA_KEY_LEN]>>>,
    {
        let mut entries = self.entries.lock().await;
        entries.retain(|e| e.at.elapsed() < OPEN_CACHE_TTL);
        if let Some(e) = entries
            .iter()
            .find(|e| e.key_id == key_id && e.blob == blob && e.context == *context)
        {
            return Ok(Zeroizing::new(*e.key));
        }
        let key = decrypt().await?;
        if entries.len() >= OPEN_CACHE_ENTRIES {
            entries.remove(0);
        }
        entries.push(CacheEntry {
            key_id: key_id.to_owned(),
            blob: blob.to_vec(),
            context: context.clone(),
            key: Zeroizing::new(*key),
            at: Instant::now(),
        });
        Ok(key)
    }
}
