//! A blocking API for programs without an async runtime.
//!
//! [`Keyring`] owns a current-thread tokio runtime and runs the async
//! [`crate::Keyring`] on it. Build KMS providers on the same runtime
//! ([`Runtime::block_on`]) so that their connection pool lives there too.
//! Calling these from inside an async runtime is refused with an error (it
//! would block that runtime's thread).
//!
//! ```no_run
//! use std::sync::Arc;
//! use sealstream_kms::{blocking, EncryptionContext, LocalKeyProvider, Suite};
//!
//! # fn main() -> Result<(), sealstream_kms::Error> {
//! let local = LocalKeyProvider::from_file("sealstream.key")?;
//! let keyring = blocking::Keyring::new(sealstream_kms::Keyring::new(vec![Arc::new(local)])?)?;
//! let sealed = keyring.seal_key(Suite::Aes256Gcm, EncryptionContext::new(), "")?;
//! let object = sealstream_format::seal_to_vec(&sealed.header, &sealed.key, sealed.salt, b"hi")?;
//! let start = sealstream_format::HEADER_LEN;
//! let prefix: [u8; sealstream_format::BODY_PREFIX_LEN] =
//!     object[start..start + sealstream_format::BODY_PREFIX_LEN].try_into().unwrap();
//! let prefix = sealstream_kms::BodyPrefix::from_bytes(&prefix);
//! let opened = keyring.open_key(&sealed.header, &prefix, None)?;
//! assert_eq!(opened.expose_secret(), sealed.key.expose_secret());
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use sealstream_format::{BodyPrefix, DataKey, EncryptionContext, Header, Suite};

use crate::error::{Error, Result};
use crate::keyring::SealKey;

/// A current-thread tokio runtime for blocking callers.
pub struct Runtime(tokio::runtime::Runtime);

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("blocking::Runtime")
    }
}

impl Runtime {
    /// A new current-thread runtime with I/O and timers enabled.
    pub fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Runtime(rt))
    }

    /// Runs `fut` to completion on this runtime. Fails (instead of
    /// panicking) when called from inside an async runtime.
    pub fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Config(
                "the blocking sealstream API was called from inside an async runtime; use the \
                 async sealstream_kms::Keyring there"
                    .into(),
            ));
        }
        Ok(self.0.block_on(fut))
    }
}

/// The blocking counterpart of [`crate::Keyring`].
#[derive(Clone, Debug)]
pub struct Keyring {
    rt: Arc<Runtime>,
    inner: crate::Keyring,
}

impl Keyring {
    /// A blocking keyring with its own runtime.
    pub fn new(inner: crate::Keyring) -> Result<Self> {
        Ok(Keyring {
            rt: Arc::new(Runtime::new()?),
            inner,
        })
    }

    /// A blocking keyring on a shared runtime (the one the providers were
    /// built on).
    pub fn with_runtime(rt: Arc<Runtime>, inner: crate::Keyring) -> Self {
        Keyring { rt, inner }
    }

    /// The async keyring.
    pub fn inner(&self) -> &crate::Keyring {
        &self.inner
    }

    /// See [`crate::Keyring::seal_key`].
    pub fn seal_key(
        &self,
        suite: Suite,
        context: EncryptionContext,
        name: &str,
    ) -> Result<SealKey> {
        self.rt
            .block_on(self.inner.seal_key(suite, context, name))?
    }

    /// See [`crate::Keyring::open_key`].
    pub fn open_key(
        &self,
        header: &Header,
        prefix: &BodyPrefix,
        expected_name: Option<&str>,
    ) -> Result<DataKey> {
        self.rt
            .block_on(self.inner.open_key(header, prefix, expected_name))?
    }

    /// See [`crate::Keyring::rewrap`].
    pub fn rewrap(
        &self,
        header: &Header,
        prefix: &BodyPrefix,
        new_keys: &crate::Keyring,
        new_name: Option<&str>,
    ) -> Result<Header> {
        self.rt
            .block_on(self.inner.rewrap(header, prefix, new_keys, new_name))?
    }
}
