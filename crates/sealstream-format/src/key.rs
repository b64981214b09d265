//! The per-object data key and salt.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// Length of a data key in bytes.
pub const DATA_KEY_LEN: usize = 32;

/// A 256-bit data key: the C2SP *input key* of exactly one object. Format
/// version 2 binds every key record to its object's salt, so a data key is
/// never reused across objects (docs/FORMAT.md, "Data key and salt").
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

    /// A second, independently zeroized copy of this key (for a task that
    /// needs its own owner, such as a parallel upload's workers).
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

/// Length of the body's salt in bytes.
pub const SALT_LEN: usize = 24;

/// The 24-byte salt of one object (docs/FORMAT.md, "Data key and salt").
///
/// A key provider draws it *before* it wraps the data key, because every key
/// record binds the salt; sealing the body then consumes it
/// ([`crate::ChunkSealer::new`]), so one `Salt` seals one body. It is not
/// secret (it is stored in the body), but it is deliberately not `Clone` or
/// `Copy`: a salt must never seal two bodies.
pub struct Salt([u8; SALT_LEN]);

impl Salt {
    /// A fresh salt from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        random_bytes().map(Salt)
    }

    /// A salt with given bytes. **Only for known-answer tests and for
    /// resuming an upload whose body prefix was already written**: a salt
    /// must never seal two bodies under one data key.
    pub fn danger_from_bytes(bytes: [u8; SALT_LEN]) -> Self {
        Salt(bytes)
    }

    /// The salt's bytes (what key providers bind in their records).
    pub fn as_bytes(&self) -> &[u8; SALT_LEN] {
        &self.0
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Random)?;
    Ok(out)
}
