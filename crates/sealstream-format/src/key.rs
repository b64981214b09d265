//! The per-object data key.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// Length of a data key in bytes.
pub const DATA_KEY_LEN: usize = 32;

/// A 256-bit data key: the C2SP *input key* of one object (or of a bounded
/// run of objects, when a data-key cache reuses it).
///
/// The bytes live in a fixed array that is zeroized on drop. The type is
/// deliberately not `Clone`, `Copy` or `Default`, and its `Debug` prints no
/// key material. Use [`DataKey::duplicate`] where a second owner is needed.
pub struct DataKey([u8; DATA_KEY_LEN]);

impl DataKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut key = DataKey([0u8; DATA_KEY_LEN]);
        SystemRandom::new()
            .fill(&mut key.0)
            .map_err(|_| Error::Random)?;
        Ok(key)
    }

    /// Takes ownership of raw key bytes.
    ///
    /// The array passed in is moved; if the caller holds other copies of
    /// these bytes, wiping them is the caller's job.
    pub fn from_bytes(bytes: [u8; DATA_KEY_LEN]) -> Self {
        DataKey(bytes)
    }

    /// Copies a key from a slice, which must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let mut key = DataKey([0u8; DATA_KEY_LEN]);
        if bytes.len() != DATA_KEY_LEN {
            return Err(Error::InvalidInput {
                what: "data key",
                reason: "a data key is exactly 32 bytes",
            });
        }
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// The key bytes. Do not copy them anywhere that is not wiped.
    pub fn expose_secret(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }

    /// A second, independently zeroized copy of this key (for a data-key
    /// cache handing the same key to several objects).
    pub fn duplicate(&self) -> Self {
        DataKey(self.0)
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for DataKey {}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Random)?;
    Ok(out)
}
