//! Cipher suites: which AEAD seals the chunks.

use crate::error::{Error, Result};

/// The AEAD that seals an object's chunks (docs/FORMAT.md, "Suites").
///
/// Both suites use a 256-bit key, a 16-byte tag and the same C2SP
/// chunked-encryption construction; they differ in the AEAD and nonce size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// Suite 1: AES-256-GCM, 12-byte nonces. This is C2SP Cobblestone-256.
    Aes256Gcm,
    /// Suite 2: XChaCha20-Poly1305, 24-byte nonces (a sealstream extension).
    XChaCha20Poly1305,
}

impl Suite {
    /// Every suite this build implements, in id order.
    pub const ALL: [Suite; 2] = [Suite::Aes256Gcm, Suite::XChaCha20Poly1305];

    /// The one-byte id stored in the header.
    pub const fn id(self) -> u8 {
        match self {
            Suite::Aes256Gcm => 1,
            Suite::XChaCha20Poly1305 => 2,
        }
    }

    /// The suite with header id `id`.
    pub fn from_id(id: u8) -> Result<Self> {
        match id {
            1 => Ok(Suite::Aes256Gcm),
            2 => Ok(Suite::XChaCha20Poly1305),
            other => Err(Error::UnsupportedSuite(other)),
        }
    }

    /// The AEAD's name from the IANA AEAD registry, as fed to HKDF.
    pub const fn aead_name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "AEAD_AES_256_GCM",
            Suite::XChaCha20Poly1305 => "AEAD_XCHACHA20_POLY1305",
        }
    }

    /// Nonce length in bytes.
    pub const fn nonce_len(self) -> usize {
        match self {
            Suite::Aes256Gcm => 12,
            Suite::XChaCha20Poly1305 => 24,
        }
    }

    /// A short lowercase name for humans and command lines.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "aes-256-gcm",
            Suite::XChaCha20Poly1305 => "xchacha20-poly1305",
        }
    }

    /// Parses [`Suite::name`] (also accepts the numeric id).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "aes-256-gcm" | "aes256gcm" | "aes" | "1" => Ok(Suite::Aes256Gcm),
            "xchacha20-poly1305" | "xchacha20poly1305" | "xchacha" | "2" => {
                Ok(Suite::XChaCha20Poly1305)
            }
            _ => Err(Error::InvalidInput {
                what: "suite name",
                reason: "expected aes-256-gcm or xchacha20-poly1305",
            }),
        }
    }
}

impl std::fmt::Display for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
