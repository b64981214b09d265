//! A keyring: the providers that seal and open objects together.

use std::fmt;
use std::sync::Arc;

use sealstream_format::{
    BodyPrefix, ChunkOpener, DataKey, EncryptionContext, Header, KeyRecord, Salt, Suite,
    validate_name,
};

use crate::error::{Error, Result};
use crate::provider::{KeyProvider, WrapContext};

/// At most this many key records are tried when opening, whatever the
/// header holds, so a hostile header cannot cause many KMS calls.
pub const DEFAULT_MAX_UNWRAP_ATTEMPTS: usize = 4;

/// A data key for a new object, with the header that carries its wrappings
/// and the salt they are bound to.
///
/// The body MUST be sealed with exactly this key and this salt
/// (`ChunkSealer::new(suite, &key, salt, header.bound_section())`): the
/// records unwrap only for a body with this salt. The data key is fresh and
/// protects this one object only.
pub struct SealKey {
    /// The header to write in front of the body.
    pub header: Header,
    /// The data key to seal the body with.
    pub key: DataKey,
    /// The body's salt, drawn before the data key was wrapped.
    pub salt: Salt,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("header", &self.header)
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

    /// A fresh data key wrapped by every provider for one new object, the
    /// header for it and the body's salt.
    ///
    /// The salt is drawn first and every record is bound to it, to the bound
    /// section of (`suite`, `context`) and to `name` (`""`: bound to no name;
    /// a store object's name is its key in the store). The name is checked
    /// before any provider is called.
    pub async fn seal_key(
        &self,
        suite: Suite,
        context: EncryptionContext,
        name: &str,
    ) -> Result<SealKey> {
        validate_name(name)?;
        let salt = Salt::generate()?;
        let bound = Header::bound_section_for(suite, &context);
        let ctx = WrapContext {
            suite,
            context: &context,
            bound: &bound,
            salt: salt.as_bytes(),
            name,
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
        let header = Header::new(suite, context, name, records)?;
        // What the records bind is what the header carries.
        if header.bound_section() != bound.as_slice() {
            return Err(Error::Config(
                "internal error: the header's bound section differs from the one the key \
                 records were bound to"
                    .into(),
            ));
        }
        Ok(SealKey { header, key, salt })
    }

    /// Wraps an existing key for every provider (re-wrapping), bound to
    /// `ctx`.
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

    /// Unwraps and verifies the data key of the object with `header`, whose
    /// body starts with `prefix` (salt and commitment).
    ///
    /// 1. If `expected_name` is given, the header's name must equal it
    ///    ([`sealstream_format::Error::NameMismatch`] names both; an object
    ///    bound to no name is refused the same way when a non-empty name is
    ///    expected). `None` accepts any name (plain `decrypt`).
    /// 2. Only records whose provider is configured (and, in strict mode,
    ///    whose key id is configured) are tried, in header order, at most
    ///    `max_attempts` of them. Each record is unwrapped bound to the
    ///    header's bound section, the prefix's salt and the header's name.
    /// 3. Every unwrapped key is checked against the body's key commitment
    ///    (docs/FORMAT.md, Reading): a record that unwraps to a key which
    ///    does not match the body (planted by anyone holding a recipient's
    ///    public key) is skipped, counts as an attempt, and the next record is
    ///    tried. The key returned is one that opens this body.
    ///
    /// If every attempt failed with a transient error (throttling, KMS
    /// unreachable), that error is returned so the caller can retry
    /// ([`Error::is_retryable`]); otherwise [`Error::NoMatchingKey`] lists
    /// what the object was sealed for and what each attempt said.
    pub async fn open_key(
        &self,
        header: &Header,
        prefix: &BodyPrefix,
        expected_name: Option<&str>,
    ) -> Result<DataKey> {
        if let Some(expected) = expected_name {
            header.check_name(expected)?;
        }
        let ctx = WrapContext {
            suite: header.suite(),
            context: header.context(),
            bound: header.bound_section(),
            salt: &prefix.salt,
            name: header.name(),
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
                    return Err(self.no_match(header, failures));
                }
                attempts += 1;
                let outcome = match p.unwrap_unverified(record, ctx).await {
                    Ok(key) => {
                        ChunkOpener::new(header.suite(), &key, prefix, header.bound_section())
                            .map(|_| key)
                            .map_err(|e| Error::UnwrapFailed {
                                provider: p.provider_id(),
                                key_id: record.key_id().to_owned(),
                                reason: format!(
                                    "the record unwraps, but to a key that does not open this body \
                             ({e}): a record planted or copied from another object"
                                ),
                            })
                    }
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
            _ => Err(self.no_match(header, failures)),
        }
    }

    /// A header for the same object with its data key re-wrapped for
    /// `new_keys`; the body is untouched. `self` must be able to open it
    /// ([`Keyring::open_key`], commitment checked, so a wrong or planted key
    /// is never re-wrapped). `prefix` is the body's first 56 bytes.
    ///
    /// `new_name`: `None` keeps the header's name, `Some(n)` binds the new
    /// records to `n` instead (renaming an object without re-encrypting it;
    /// `Some("")` unbinds it). The header's current name is authenticated by
    /// the unwrap; a caller that addresses the object by name compares it
    /// first ([`Header::check_name`]).
    pub async fn rewrap(
        &self,
        header: &Header,
        prefix: &BodyPrefix,
        new_keys: &Keyring,
        new_name: Option<&str>,
    ) -> Result<Header> {
        let name = new_name.unwrap_or(header.name());
        validate_name(name)?;
        let key = self.open_key(header, prefix, None).await?;
        let ctx = WrapContext {
            suite: header.suite(),
            context: header.context(),
            bound: header.bound_section(),
            salt: &prefix.salt,
            name,
        };
        let records = new_keys.wrap_all(&key, ctx).await?;
        Ok(header.with_name_and_records(name, records)?)
    }
}

impl Keyring {
    /// The error when no key opened the object: what it was sealed for,
    /// and what was tried (each attempt's answer, or, when no configured
    /// key matched any record, the configured keys themselves).
    fn no_match(&self, header: &Header, failures: Vec<String>) -> Error {
        let sealed_for = header
            .records()
            .iter()
            .take(8)
            .map(|r| format!("{} key {}", r.provider(), r.key_id()))
            .collect::<Vec<_>>()
            .join(", ");
        let detail = if !failures.is_empty() {
            format!("; tried: {}", failures.join("; "))
        } else if self.providers.is_empty() {
            "; no key was configured".to_owned()
        } else {
            let given: Vec<String> = self
                .providers
                .iter()
                .take(8)
                .map(|p| p.describe())
                .collect();
            format!(
                "; the keys given match none of its records: {}",
                given.join(", ")
            )
        };
        Error::NoMatchingKey { sealed_for, detail }
    }
}
