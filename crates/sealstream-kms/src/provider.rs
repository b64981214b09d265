//! The provider interface: make, wrap and unwrap data keys.

use std::fmt::Debug;

use async_trait::async_trait;
use sealstream_format::{DataKey, EncryptionContext, KeyRecord, SALT_LEN, Suite};

use crate::error::{Error, Result};

/// What a wrapping is bound to (docs/FORMAT.md, "Key records"): the
/// object's whole bound section (version, suite, context), the body's salt
/// and the object name.
///
/// Providers MUST bind all of it (KMS: as encryption context, the context
/// pairs plus the reserved `sealstream:version`, `sealstream:suite`,
/// `sealstream:salt` and `sealstream:name` pairs; local and x25519: as AEAD
/// associated data), so a record moved to another object, to a body with
/// another salt or to a header with another name fails to unwrap. Built by
/// [`crate::Keyring`]; `bound` is always
/// `Header::bound_section_for(suite, context)`.
#[derive(Clone, Copy, Debug)]
pub struct WrapContext<'a> {
    /// The object's suite.
    pub suite: Suite,
    /// The object's encryption context (the pairs of the bound section).
    pub context: &'a EncryptionContext,
    /// The object's bound section, byte for byte.
    pub bound: &'a [u8],
    /// The body's 24-byte salt (not secret).
    pub salt: &'a [u8; SALT_LEN],
    /// The object name (`""`: bound to no name).
    pub name: &'a str,
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
    ///
    /// **Unverified**: the key is not checked against the body's key
    /// commitment, so a record planted by anyone who holds a recipient's
    /// public key unwraps to a key of the planter's choosing. Open objects
    /// with [`crate::Keyring::open_key`], which checks every unwrapped key.
    async fn unwrap_unverified(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey>;
}

/// The associated data of the `local` and `x25519` wrappings
/// (docs/FORMAT.md, "Key records"):
///
/// ```text
/// label || 0x00 || u16 len(key_id) || key_id || u16 len(bound) || bound
///       || salt (24) || u16 len(name) || name
/// ```
pub(crate) fn wrap_aad(label: &[u8], key_id: &str, ctx: WrapContext<'_>) -> Result<Vec<u8>> {
    let mut aad = Vec::with_capacity(
        label.len() + 7 + key_id.len() + ctx.bound.len() + SALT_LEN + ctx.name.len(),
    );
    aad.extend_from_slice(label);
    aad.push(0);
    put_field(&mut aad, "key id", key_id.as_bytes())?;
    put_field(&mut aad, "bound section", ctx.bound)?;
    aad.extend_from_slice(ctx.salt);
    put_field(&mut aad, "object name", ctx.name.as_bytes())?;
    Ok(aad)
}

/// `u16 len || bytes`. Every field is far below 2^16 in a valid header
/// (4096 bytes in all); a longer one is refused rather than truncated.
fn put_field(out: &mut Vec<u8>, what: &str, bytes: &[u8]) -> Result<()> {
    let len = u16::try_from(bytes.len()).map_err(|_| {
        Error::Config(format!(
            "the {what} is too long to bind ({} bytes)",
            bytes.len()
        ))
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}
