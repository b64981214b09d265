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
