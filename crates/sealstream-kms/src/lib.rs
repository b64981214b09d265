//! Data-key providers for sealstream: each object gets a fresh 256-bit data
//! key, wrapped by AWS KMS, a local key file or an X25519 recipient (or
//! several at once), and unwrapped again when the object is opened. Only
//! wrapped keys are stored, as the header's key records (docs/FORMAT.md,
//! "Key records", specifies every record byte for byte).
//!
//! # Which type for which job
//!
//! | job | use |
//! |---|---|
//! | seal and open with a key file on this host (the CLI default) | [`LocalKeyProvider`] ([`LocalKeyProvider::generate`] makes the file) |
//! | seal with AWS KMS (`GenerateDataKey`), open with `Decrypt` | [`KmsProvider`] with [`KmsConfig::strict`]; [`aws::load_sdk_config`] for the SDK config |
//! | open objects of any KMS key of some accounts | [`KmsConfig::discovery`] |
//! | seal for someone else's public key; open with the secret key | [`X25519Recipient`] / [`X25519Identity`] |
//! | several readers for one object (KMS in two Regions, a recovery key) | a [`Keyring`] of several providers: the first generates, every one wraps |
//! | fewer KMS calls for many small objects | [`CachingKeyring`] ([`Keyring::with_cache`]) |
//! | add or remove readers without re-encrypting | [`Keyring::rewrap_verified`] |
//! | no async runtime | [`blocking::Keyring`] |
//!
//! Opening tries only records of configured providers (and, in strict
//! mode, configured keys), in header order, at most
//! [`Keyring::max_attempts`] times, so a hostile header cannot make a
//! reader issue many KMS calls.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use sealstream_kms::{
//!     EncryptionContext, Keyring, LocalKeyProvider, Overwrite, Suite, X25519Identity,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("sealstream-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let _ = std::fs::remove_file(dir.join("local.key"));
//! # let _ = std::fs::remove_file(dir.join("me.secret"));
//! let local = LocalKeyProvider::generate(dir.join("local.key"), Overwrite::Never)?;
//! let me = X25519Identity::generate(dir.join("me.secret"), None, Overwrite::Never)?;
//! // Seal for the local key and for a recipient's public key.
//! let keyring = Keyring::new(vec![Arc::new(local), Arc::new(me.recipient().clone())])?;
//! let context = EncryptionContext::from_pairs([("path", "db.tar")])?;
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let sealed = keyring.seal_key(Suite::Aes256Gcm, context).await?;
//! let object = sealstream_format::seal_to_vec(&sealed.header, &sealed.key, b"hello")?;
//!
//! // The secret-key holder alone can open it.
//! let reader = Keyring::new(vec![Arc::new(me)])?;
//! let key = reader.open_key(&sealed.header).await?;
//! let (_, plain) = sealstream_format::open_slice(&object, &key)?;
//! assert_eq!(plain, b"hello");
//! # Ok::<_, Box<dyn std::error::Error>>(()) })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
//!
//! # Secrets
//!
//! Data keys live in [`DataKey`] (a fixed array, wiped on drop, no `Clone`
//! or `Debug` of the bytes). Key files are read into zeroizing buffers;
//! no `Debug` or `Display` of a provider, configuration, record or error
//! contains key material (a test formats them all and searches for the
//! test keys). ring does not wipe its expanded AES or ChaCha20 keys, and the
//! AWS SDK does not wipe its HTTP buffers (docs/SECURITY.md).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aws;
pub mod blocking;
mod cache;
mod error;
mod keyfile;
mod keyring;
mod kms;
mod local;
mod provider;
#[cfg(test)]
mod test_vectors;
mod x25519;

pub use cache::{CachingKeyring, DataKeyCacheConfig, MAX_CACHED_OBJECTS};
pub use error::{Error, KmsErrorKind, Result};
pub use keyfile::Overwrite;
pub use keyring::{DEFAULT_MAX_UNWRAP_ATTEMPTS, Keyring, SealKey};
pub use kms::{
    AWS_KMS_PROVIDER_ID, KMS_CONTEXT_SUITE_KEY, KMS_CONTEXT_VERSION_KEY, KmsConfig, KmsDiscovery,
    KmsProvider, RetryPolicy,
};
pub use local::{LOCAL_KEY_FILE_VERSION_LINE, LOCAL_PROVIDER_ID, LocalKeyProvider};
pub use provider::{KeyProvider, WrapContext};
pub use sealstream_format::{BodyPrefix, DataKey, EncryptionContext, Header, KeyRecord, Suite};
pub use x25519::{
    X25519_PROVIDER_ID, X25519_PUBLIC_PREFIX, X25519_SECRET_PREFIX, X25519Identity, X25519Recipient,
};
