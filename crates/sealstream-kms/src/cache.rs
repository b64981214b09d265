//! The data-key cache (off by default): one data key, with its key block,
//! reused for several objects to save KMS (or other provider) calls.
//!
//! # Why reuse is safe, and where it stops
//!
//! A data key is the C2SP *input key*. Every object draws a fresh random
//! 192-bit salt, and its AEAD key, base nonce and commitment are derived
//! from the data key *and* that salt (docs/FORMAT.md, "Key derivation"), so
//! objects sealed under one data key never share an AEAD key or nonce. What
//! bounds reuse is the per-input-key message count that the C2SP scheme
//! allows for a given message size: docs/FORMAT.md, "Data key and salt",
//! gives 2^45 objects of up to 1 GiB and 2^25 objects of up to 1 TiB, i.e.
//! `objects × chunks_per_object² ≤ 2^77`. The cache enforces that bound for
//! the largest object sealed under each key, and never hands one key to
//! more than [`MAX_CACHED_OBJECTS`] (2^32) objects whatever the
//! configuration says.
//!
//! The cost is exposure, not cryptographic strength: whoever learns a
//! cached data key (for example from a share link) can open every object
//! sealed under it. That is why every key handed out by the cache, its
//! first use included, comes back with [`SealKey::reused`] set: it may
//! protect other objects, so it must never be shared on its own.
//!
//! # Limits and byte accounting
//!
//! A cached key is used for at most `max_objects` objects, `max_bytes`
//! plaintext bytes and `max_age` after it was generated, whichever ends
//! first; then a fresh key is generated. Keys are cached per (suite,
//! encryption context): the key block binds both.
//!
//! The caller declares each object's plaintext length up front to
//! [`CachingKeyring::seal_key`] (an upper bound is fine; the stream must not
//! exceed it). The bytes are charged when the key is handed out, so the
//! limit holds without trusting a later report. An object of unknown length
//! (`None`) gets a fresh key that is not cached.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sealstream_format::{CHUNK_SIZE, DataKey, EncryptionContext, Header, Suite};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::keyring::{Keyring, SealKey};

/// The most objects one cached data key ever seals: 2^32.
pub const MAX_CACHED_OBJECTS: u64 = 1 << 32;

/// `objects × chunks_per_object² ≤ 2^77` (docs/FORMAT.md, "Data key and salt").
const C2SP_LOG2_BUDGET: u32 = 77;

/// Limits of the data-key cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataKeyCacheConfig {
    /// N: objects per data key, 1..=2^32 (1 turns reuse off).
    pub max_objects: u64,
    /// M: plaintext bytes per data key, summed over its objects (at least 1).
    pub max_bytes: u64,
    /// T: how long after its generation a data key may still be handed out.
    pub max_age: Duration,
    /// How many (suite, context) entries are held at once; the oldest is
    /// dropped (and its key wiped) to make room.
    pub max_entries: usize,
}

impl Default for DataKeyCacheConfig {
    /// 1000 objects, 64 GiB, 5 minutes, 64 entries.
    fn default() -> Self {
        DataKeyCacheConfig {
            max_objects: 1000,
            max_bytes: 64 << 30,
            max_age: Duration::from_secs(300),
            max_entries: 64,
        }
    }
}

impl DataKeyCacheConfig {
    fn validate(&self) -> Result<()> {
        if self.max_objects == 0 || self.max_objects > MAX_CACHED_OBJECTS {
            return Err(Error::Config(format!(
                "data-key cache max_objects must be 1..={MAX_CACHED_OBJECTS} (got {})",
                self.max_objects
            )));
        }
        if self.max_bytes == 0 {
            return Err(Error::Config(
                "data-key cache max_bytes must be at least 1".into(),
            ));
        }
        if self.max_age.is_zero() {
            return Err(Error::Config(
                "data-key cache max_age must be above zero".into(),
            ));
        }
        if self.max_entries == 0 {
            return Err(Error::Config(
                "data-key cache max_entries must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The C2SP message budget of one input key for objects of up to `chunks`
/// chunks each.
fn c2sp_object_limit(chunks: u64) -> u64 {
    let l = u128::from(chunks.max(1));
    let limit = (1u128 << C2SP_LOG2_BUDGET) / l.saturating_mul(l);
    u64::try_from(limit)
        .unwrap_or(u64::MAX)
        .min(MAX_CACHED_OBJECTS)
}

fn chunks_of(len: u64) -> u64 {
    // CHUNK_SIZE is 16384; the final chunk is always present.
    (len / CHUNK_SIZE as u64).saturating_add(1)
}

struct Entry {
    key: DataKey,
    header: Header,
    created: Instant,
    objects: u64,
    bytes: u64,
    max_chunks: u64,
}

impl Entry {
    fn admits(&self, len: u64, now: Instant, cfg: &DataKeyCacheConfig) -> bool {
        let chunks = self.max_chunks.max(chunks_of(len));
        now.saturating_duration_since(self.created) < cfg.max_age
            && self.objects < cfg.max_objects.min(c2sp_object_limit(chunks))
            && self
                .bytes
                .checked_add(len)
                .is_some_and(|b| b <= cfg.max_bytes)
    }
}

/// A [`Keyring`] whose [`seal_key`](CachingKeyring::seal_key) reuses data
/// keys within the configured limits. Opening is not cached.
pub struct CachingKeyring {
    inner: Keyring,
    config: DataKeyCacheConfig,
    entries: Mutex<HashMap<(u8, Vec<u8>), Entry>>,
    generated: AtomicU64,
    saved: AtomicU64,
}

impl fmt::Debug for CachingKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingKeyring")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("generate_calls", &self.generate_calls())
            .field("saved_generate_calls", &self.saved_generate_calls())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// This keyring behind a data-key cache.
    pub fn with_cache(self, config: DataKeyCacheConfig) -> Result<CachingKeyring> {
        CachingKeyring::new(self, config)
    }
}

impl CachingKeyring {
    /// A cache over `inner`. Fails if a limit is out of range.
    pub fn new(inner: Keyring, config: DataKeyCacheConfig) -> Result<Self> {
        config.validate()?;
        Ok(CachingKeyring {
            inner,
            config,
            entries: Mutex::new(HashMap::new()),
            generated: AtomicU64::new(0),
            saved: AtomicU64::new(0),
        })
    }

    /// The keyring underneath (for opening, rewrapping).
    pub fn keyring(&self) -> &Keyring {
        &self.inner
    }

    /// The limits.
    pub fn config(&self) -> &DataKeyCacheConfig {
        &self.config
    }

    /// A data key and header for an object of at most `plaintext_len`
    /// bytes (`None`: unknown, which is never cached). The key is reused if
    /// a cached key for this suite and context is within every limit
    /// (objects, bytes including this object, age, the C2SP bound);
    /// otherwise a fresh key is generated by the keyring and cached.
    ///
    /// **The object must not hold more than `plaintext_len` bytes**: the
    /// byte limit counts what was declared.
    pub async fn seal_key(
        &self,
        suite: Suite,
        context: EncryptionContext,
        plaintext_len: Option<u64>,
    ) -> Result<SealKey> {
        let Some(len) = plaintext_len.filter(|&l| l <= self.config.max_bytes) else {
            self.generated.fetch_add(1, Ordering::Relaxed);
            return self.inner.seal_key(suite, context).await;
        };
        let cache_key = (suite.id(), context.encode());
        {
            let mut entries = self.lock();
            let now = Instant::now();
            if let Some(e) = entries.get_mut(&cache_key) {
                if e.admits(len, now, &self.config) {
                    e.objects += 1;
                    e.bytes += len;
                    e.max_chunks = e.max_chunks.max(chunks_of(len));
                    self.saved.fetch_add(1, Ordering::Relaxed);
                    return Ok(SealKey {
                        header: e.header.clone(),
                        key: e.key.duplicate(),
                        reused: true,
                    });
                }
                entries.remove(&cache_key);
            }
        }
        let fresh = self.inner.seal_key(suite, context).await?;
        self.generated.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            key: fresh.key.duplicate(),
            header: fresh.header.clone(),
            created: Instant::now(),
            objects: 1,
            bytes: len,
            max_chunks: chunks_of(len),
        };
        let mut entries = self.lock();
        if entries.len() >= self.config.max_entries
            && !entries.contains_key(&cache_key)
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(cache_key, entry);
        Ok(SealKey {
            header: fresh.header,
            key: fresh.key,
            reused: true,
        })
    }

    /// Unwraps an object's data key (not cached; see [`Keyring::open_key`]).
    pub async fn open_key(&self, header: &Header) -> Result<DataKey> {
        self.inner.open_key(header).await
    }

    /// How many times the keyring generated (and wrapped) a fresh data key.
    pub fn generate_calls(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }

    /// How many key generations the cache saved: each is one provider
    /// `generate` call (`GenerateDataKey` for KMS) plus one `wrap` call per
    /// further provider of the keyring.
    pub fn saved_generate_calls(&self) -> u64 {
        self.saved.load(Ordering::Relaxed)
    }

    /// Drops (and wipes) every cached key.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u8, Vec<u8>), Entry>> {
        // A panic while holding the lock cannot leave an entry half-updated
        // in a way that matters (counters only grow), so poisoning is ignored.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c2sp_limits_match_format_md() {
        // 1 GiB objects: 2^16 chunks (+1 for the final chunk) -> about 2^45,
        // capped at 2^32; 1 TiB: about 2^25.
        assert_eq!(c2sp_object_limit(chunks_of(1 << 30)), MAX_CACHED_OBJECTS);
        let tib = c2sp_object_limit(chunks_of(1 << 40));
        assert!(tib <= 1 << 25 && tib > (1 << 25) - (1 << 10), "{tib}");
        assert_eq!(c2sp_object_limit(1), MAX_CACHED_OBJECTS);
        assert_eq!(c2sp_object_limit(u64::MAX), 0);
    }
}
