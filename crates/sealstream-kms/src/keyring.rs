//! A keyring: the providers that seal and open objects together.

use std::fmt;
use std::sync::Arc;

use sealstream_format::{
    BodyPrefix, ChunkCipher, DataKey, EncryptionContext, Header, KeyRecord, Suite,
};

use crate::error::{Error, Result};
use crate::provider::{KeyProvider, WrapContext};

/// At most this many key records are tried when opening, whatever the
/// header holds, so a hostile header cannot cause many KMS calls.
pub const DEFAULT_MAX_UNWRAP_ATTEMPTS: usize = 4;

/// A data key for a new object, with the header that carries its wrappings.
pub struct SealKey {
    /// The header to write in front of the body.
    pub header: Header,
    /// The data key to seal the body with.
    pub key: DataKey,
    /// True if this data key also protects other objects (it came from a
    /// data-key cache). Such a key must never be shared on its own.
    pub reused: bool,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("header", &self.header)
            .field("reused", &self.reused)
            .finish_non_exhaustive()
    }
}

/// The providers used to seal (the first generates the data key, every
/// one wraps it: multi-wrapping) and to open (records are tried in header
/// order, only for configured providers, at most `max_attempts` times).
#[derive(Clone)]
pub struct Keyring {
    providers: Vec<Arc<dyn KeyProvider>>,
    max_attempts: usize,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("providers", &self.providers)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl Keyring {
    /// A keyring over `providers` (at least one).
    pub fn new(providers: Vec<Arc<dyn KeyProvider>>) -> Result<Self> {
        if providers.is_empty() {
            return Err(Error::Config(
                "a keyring needs at least one key provider".into(),
            ));
        }
        Ok(Keyring {
            providers,
            max_attempts: DEFAULT_MAX_UNWRAP_ATTEMPTS,
        })
    }

    /// Changes how many records are tried when opening (at least 1).
    pub fn with_max_attempts(mut self, n: usize) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The providers, in order.
    pub fn providers(&self) -> &[Arc<dyn KeyProvider>] {
        &self.providers
    }

    /// A fresh data key wrapped by every provider, and the header for it.
    pub async fn seal_key(&self, suite: Suite, context: EncryptionContext) -> Result<SealKey> {
        let ctx = WrapContext {
            suite,
            context: &context,
        };
        let (first, rest) = self
            .providers
            .split_first()
            .ok_or_else(|| Error::Config("a keyring needs at least one key provider".into()))?;
        let (key, record) = first.generate(ctx).await?;
        let mut records = vec![record];
        for p in rest {
            records.push(p.wrap(&key, ctx).await?);
        }
        let header = Header::new(suite, context, records)?;
        Ok(SealKey {
            header,
            key,
            reused: false,
        })
    }

    /// Wraps an existing key for every provider (re-wrapping).
    pub async fn wrap_all(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<Vec<KeyRecord>> {
        let mut records = Vec::with_capacity(self.providers.len());
        for p in &self.providers {
            records.push(p.wrap(key, ctx).await?);
        }
        Ok(records)
    }

    /// How many records are tried at most when opening.
    pub fn max_attempts(&self) -> usize {
        self.max_attempts
    }

    /// Unwraps the data key of the object with `header`.
    ///
    /// Only records whose provider is configured (and, in strict mode, whose
    /// key id is configured) are tried, in header order, at most
    /// `max_attempts` of them. If every attempt failed with a transient
    /// error (throttling, KMS unreachable), that error is returned so the
    /// caller can retry ([`Error::is_retryable`]); otherwise
    /// [`Error::NoMatchingKey`] lists what the object was sealed for and
    /// what each attempt said.
    pub async fn open_key(&self, header: &Header) -> Result<DataKey> {
        self.open_checked(header, |_| Ok(())).await
    }

    /// Like [`Keyring::open_key`], and also checks each unwrapped key
    /// against the object's key commitment (docs/FORMAT.md, Reading, step
    /// 8): a record that unwraps to a key which does not match the body is
    /// skipped and the next one tried (within `max_attempts`). `prefix` is
    /// the body's first 56 bytes (salt and commitment).
    pub async fn open_key_verified(&self, header: &Header, prefix: &BodyPrefix) -> Result<DataKey> {
        self.open_checked(header, |key| {
            ChunkCipher::open(header.suite(), key, prefix, header.bound_section())
                .map(drop)
                .map_err(Error::from)
        })
        .await
    }

    async fn open_checked(
        &self,
        header: &Header,
        check: impl Fn(&DataKey) -> Result<()>,
    ) -> Result<DataKey> {
        let ctx = WrapContext {
            suite: header.suite(),
            context: header.context(),
        };
        let mut attempts = 0usize;
        let mut failures = Vec::new();
        let mut last_transient = None;
        let mut all_transient = true;
        for record in header.records() {
            for p in self.providers.iter().filter(|p| p.accepts(record)) {
                if attempts >= self.max_attempts {
                    failures.push(format!(
                        "stopped after {} attempts (the limit)",
                        self.max_attempts
                    ));
                    return Err(no_match(header, failures));
                }
                attempts += 1;
                let outcome = match p.unwrap(record, ctx).await {
                    Ok(key) => check(&key).map(|()| key),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(key) => return Ok(key),
                    Err(e) => {
                        failures.push(e.to_string());
                        if e.is_retryable() {
                            last_transient = Some(e);
                        } else {
                            all_transient = false;
                        }
                    }
                }
            }
        }
        match last_transient {
            Some(e) if all_transient => Err(e),
            _ => Err(no_match(header, failures)),
        }
    }

    /// A header for the same object with its data key re-wrapped for
    /// `new_keys`; the body is untouched. `self` must be able to open it.
    ///
    /// Prefer [`Keyring::rewrap_verified`]: docs/FORMAT.md, Rewrapping,
    /// requires the commitment to be checked before a key is re-wrapped.
    pub async fn rewrap(&self, header: &Header, new_keys: &Keyring) -> Result<Header> {
        let key = self.open_key(header).await?;
        self.rewrap_with(header, &key, new_keys).await
    }

    /// [`Keyring::rewrap`] after checking the unwrapped key against the
    /// body's commitment (`prefix`: the body's first 56 bytes), so a wrong
    /// or planted key is never re-wrapped.
    pub async fn rewrap_verified(
        &self,
        header: &Header,
        prefix: &BodyPrefix,
        new_keys: &Keyring,
    ) -> Result<Header> {
        let key = self.open_key_verified(header, prefix).await?;
        self.rewrap_with(header, &key, new_keys).await
    }

    async fn rewrap_with(
        &self,
        header: &Header,
        key: &DataKey,
        new_keys: &Keyring,
    ) -> Result<Header> {
        let ctx = WrapContext {
            suite: header.suite(),
            context: header.context(),
        };
        let records = new_keys.wrap_all(key, ctx).await?;
        Ok(header.with_records(records)?)
    }
}

fn no_match(header: &Header, failures: Vec<String>) -> Error {
    let sealed_for = header
        .records()
        .iter()
        .take(8)
        .map(|r| format!("{} key {}", r.provider(), r.key_id()))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = if failures.is_empty() {
        String::new()
    } else {
        format!("; tried: {}", failures.join("; "))
    };
    Error::NoMatchingKey { sealed_for, detail }
}
