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
//! | seal with AWS KMS (`GenerateDataKey`), open with `Decrypt` | [`KmsProvider`] with [`KmsConfig::strict`], over [`KmsProvider::client`] of the caller's `SdkConfig` |
//! | open objects of any KMS key of some accounts | [`KmsConfig::discovery`] |
//! | seal for someone else's public key; open with the secret key | [`X25519Recipient`] / [`X25519Identity`] |
//! | several readers for one object (KMS in two Regions, a recovery key) | a [`Keyring`] of several providers: the first generates, every one wraps |
//! | add or remove readers, or rename, without re-encrypting | [`Keyring::rewrap`] |
//! | no async runtime | [`blocking::Keyring`] |
//!
//! Every record is bound to its object: the header's bound section (version,
//! suite, context), the body's salt (drawn before the data key is wrapped)
//! and the object's name. A data key protects exactly one object.
//!
//! Opening ([`Keyring::open_key`]) compares the header's name with the
//! expected one first, then tries only records of configured providers (and,
//! in strict mode, configured keys), in header order, at most
//! [`Keyring::max_attempts`] times, so a hostile header cannot make a reader
//! issue many KMS calls; every unwrapped key is checked against the body's
//! commitment, so a planted record is skipped rather than trusted.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use sealstream_kms::{
//!     BodyPrefix, EncryptionContext, Keyring, LocalKeyProvider, Overwrite, Suite, X25519Identity,
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
//! let sealed = keyring.seal_key(Suite::Aes256Gcm, context, "backups/db.tar").await?;
//! let object =
//!     sealstream_format::seal_to_vec(&sealed.header, &sealed.key, sealed.salt, b"hello")?;
//!
//! // The secret-key holder alone can open it, under its name.
//! let start = sealstream_format::HEADER_LEN;
//! let prefix = BodyPrefix::from_bytes(
//!     object[start..start + sealstream_format::BODY_PREFIX_LEN].try_into()?,
//! );
//! let reader = Keyring::new(vec![Arc::new(me)])?;
//! let key = reader.open_key(&sealed.header, &prefix, Some("backups/db.tar")).await?;
//! let (_, plain) = sealstream_format::open_slice(&object, &key)?;
//! assert_eq!(plain, b"hello");
//! # Ok::<_, Box<dyn std::error::Error>>(()) })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
//!
//! # Key files
//!
//! A **local key file** ([`LocalKeyProvider::generate`], the CLI's `sealstream keygen`) is UTF-8
//! text of lines ended by LF or CRLF; empty lines and lines starting with `#` are comments; the
//! other lines are exactly these, with no white space before or after them:
//!
//! ```text
//! sealstream-local-key v1
//! id e4ff7ec5704cfb7c
//! key 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
//! ```
//!
//! where `key` is the 256-bit key in lowercase hex and `id` the first 8 bytes of
//! `SHA-256("sealstream local key id v1" || 0x00 || key)` in hex (checked on load; it names the
//! key in records without revealing it). **X25519 keys** are one line each:
//! `sealstream-x25519-pub1:` or `sealstream-x25519-secret1:` followed by 48 characters of
//! unpadded base64url of the 32-byte key and a 4-byte SHA-256 check
//! ([`X25519Identity::generate`] writes both files). Secret files are created with mode 0600,
//! atomically, never replacing an existing file unless [`Overwrite::DangerReplaceExisting`] is
//! passed. Reading opens without blocking and refuses anything but a regular file of at most
//! 4096 bytes before reading it (a FIFO is refused at once), then a public key given as a secret
//! one ("this is a public key"), then a secret file that group or others may read or write (with
//! the `chmod 600` that fixes it). docs/FORMAT.md, "Key records", specifies the files and every
//! record byte.
//!
//! # AWS KMS
//!
//! [`KmsProvider`] seals with `GenerateDataKey` (`AES_256`) under its key; further KMS providers
//! of the keyring (a second Region, a recovery key) wrap the same data key with `Encrypt`. The
//! KMS encryption context is the object's context pairs plus `sealstream:version = "2"`,
//! `sealstream:suite = "<suite id>"`, `sealstream:salt = "<salt hex>"` and (for a named object)
//! `sealstream:name = "<name>"`. A record holds the key ARN KMS answered with and the
//! `CiphertextBlob`. Opening calls `Decrypt` with `KeyId` pinned to the record's ARN; strict mode
//! (the default) tries only the configured key's records, [`KmsConfig::discovery`] any key ARN of
//! the named accounts. Throttling and transient failures are retried with exponential backoff
//! and jitter ([`RetryPolicy`]); errors name the key and classify the cause ([`KmsErrorKind`]).
//! The KMS provider is the `aws` feature (on by default); without it the crate has no AWS
//! SDK dependency and offers local key files and X25519 recipients only.
//! The caller loads the AWS SDK configuration (`aws_config::defaults`, the sealstream CLI's
//! `aws.rs`) and passes the `SdkConfig`; for a KMS-compatible server, set its endpoint URL.
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

pub mod blocking;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod keyfile;
mod keyring;
#[cfg(feature = "aws")]
mod kms;
mod local;
mod provider;
mod record;
mod retry;
#[cfg(test)]
mod test_vectors;
mod x25519;

pub use error::{Error, KmsErrorKind, Result};
pub use keyfile::{Overwrite, read_secret_file};
pub use keyring::{DEFAULT_MAX_UNWRAP_ATTEMPTS, Keyring, SealKey};
#[cfg(feature = "aws")]
pub use kms::{
    AWS_KMS_BATCH_PROVIDER_ID, AWS_KMS_PROVIDER_ID, BATCH_RECORD_VERSION, BatchLimits,
    KMS_CONTEXT_BATCH_VALUE, KMS_CONTEXT_KEY_KEY, KMS_CONTEXT_NAME_KEY, KMS_CONTEXT_SALT_KEY,
    KMS_CONTEXT_SUITE_KEY, KMS_CONTEXT_VERSION_KEY, KmsConfig, KmsDiscovery, KmsProvider,
    OPEN_CACHE_ENTRIES, OPEN_CACHE_TTL,
};
pub use local::{LOCAL_KEY_FILE_VERSION_LINE, LOCAL_PROVIDER_ID, LocalKeyProvider};
pub use provider::{KeyProvider, WrapContext};
pub use retry::{GaveUp, RetryPolicy};
pub use sealstream_format::{
    BodyPrefix, DataKey, EncryptionContext, Header, KeyRecord, SALT_LEN, Salt, Suite,
};
pub use x25519::{
    X25519_PROVIDER_ID, X25519_PUBLIC_PREFIX, X25519_SECRET_PREFIX, X25519Identity, X25519Recipient,
};
