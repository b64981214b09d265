//! Data-key providers for sealstream: each object gets a fresh 256-bit data
//! key, wrapped by AWS KMS, a local key file or an X25519 recipient (or
//! several at once), and unwrapped again when the object is opened.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aws;
mod error;
mod keyring;
mod provider;

pub use error::{Error, Result};
pub use keyring::{DEFAULT_MAX_UNWRAP_ATTEMPTS, Keyring, SealKey};
pub use provider::{KeyProvider, WrapContext};
pub use sealstream_format::{DataKey, EncryptionContext, Header, KeyRecord, Suite};
