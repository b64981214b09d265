//! The provider interface: make, wrap and unwrap data keys.

use std::fmt::Debug;

use async_trait::async_trait;
use sealstream_format::{DataKey, EncryptionContext, KeyRecord, Suite};

use crate::error::Result;

/// What a wrapping is bound to: the object's suite and encryption context.
///
/// Providers MUST bind both (KMS: as encryption context with the reserved
/// `sealstream:version` / `sealstream:suite` pairs; local and x25519: as AEAD
/// associated data), so a wrapped key moved to another object fails to
/// unwrap.
#[derive(Clone, Copy, Debug)]
pub struct WrapContext<'a> {
    /// The object's suite.
    pub suite: Suite,
    /// The object's encryption context.
    pub context: &'a EncryptionContext,
}

/// A source of data keys: generates and wraps them for new objects, and
/// unwraps them from the header's key records when opening.
#[async_trait]
pub trait KeyProvider: Debug + Send + Sync {
    /// The provider id written into key records (`aws-kms`, `local`, `x25519`).
    fn provider_id(&self) -> &'static str;

    /// A human description of which key this provider uses (a KMS ARN, a
    /// key file's id, a recipient fingerprint), for messages. Never secret.
    fn describe(&self) -> String;

    /// A fresh data key and its wrapping by this provider. The default
    /// draws the key locally and calls [`KeyProvider::wrap`]; KMS overrides
    /// it with GenerateDataKey.
    async fn generate(&self, ctx: WrapContext<'_>) -> Result<(DataKey, KeyRecord)> {
        let key = DataKey::generate()?;
        let record = self.wrap(&key, ctx).await?;
        Ok((key, record))
    }

    /// Wraps an existing data key (multi-wrapping, re-wrapping).
    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord>;

    /// Whether this provider would try `record`, decided without any
    /// network call (provider id matches and, in strict mode, the key id is
    /// one of the configured keys).
    fn accepts(&self, record: &KeyRecord) -> bool;

    /// Unwraps `record`. Called only for records [`KeyProvider::accepts`].
    async fn unwrap(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey>;
}

/// The associated data of the `local` and `x25519` wrappings
/// (docs/FORMAT.md, "Key records"):
/// `label || 0x00 || u16 len(key_id) || key_id || u8 suite || context.encode()`.
pub(crate) fn wrap_aad(label: &[u8], key_id: &str, ctx: WrapContext<'_>) -> Vec<u8> {
    let context = ctx.context.encode();
    let mut aad = Vec::with_capacity(label.len() + 4 + key_id.len() + context.len());
    aad.extend_from_slice(label);
    aad.push(0);
    // Key ids are at most 2048 bytes (FORMAT.md, Limits); saturating keeps
    // this total without a panic path.
    let len = u16::try_from(key_id.len()).unwrap_or(u16::MAX);
    aad.extend_from_slice(&len.to_be_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(ctx.suite.id());
    aad.extend_from_slice(&context);
    aad
}
