//! The sans-IO core: key derivation, commitment, and sealing or opening
//! chunk `i` of a body given its index (docs/FORMAT.md, "Body").
//!
//! ```text
//!  body = salt (24) || commitment (32) || chunk 0 || chunk 1 || ... || final chunk
//!  chunk i   = AEAD-Seal(key, base_nonce XOR be(i), plaintext[i*16384 ..][..16384], aad = "")
//!  final     = the one chunk with fewer than 16384 plaintext bytes (possibly 0)
//! ```
//!
//! Chunks are independent, so a [`ChunkSealer`] or [`ChunkOpener`] is
//! `Sync` and may seal or open chunks on many threads in any order. The
//! two directions are separate types (ring's `SealingKey`/`OpeningKey`):
//! only a sealer makes ciphertext, and only an opener whose commitment
//! was checked opens it.

use std::fmt;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
/// The library that computes suite 1's AES-256-GCM in this build: `ring`,
/// or `aws-lc-rs` with the `aws-lc` feature (the same bytes either way).
pub const AES_BACKEND: &str = if cfg!(feature = "aws-lc") {
    "aws-lc-rs"
} else {
    "ring"
};

// Suite 1's AEAD: ring by default, aws-lc-rs with the `aws-lc` feature.
// Both expose the same API and produce the same bytes (docs/PERFORMANCE.md).
#[cfg(feature = "aws-lc")]
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
#[cfg(not(feature = "aws-lc"))]
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use ring::hkdf::{HKDF_SHA512, KeyType, Prk};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::key::{DataKey, SALT_LEN, Salt};
use crate::suite::Suite;

/// Plaintext bytes in every chunk but the final one.
pub const CHUNK_SIZE: usize = 16_384;
/// AEAD tag length of both suites.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full (non-final) chunk.
pub const SEALED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;
/// Length of the key commitment after the salt.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes before the first chunk in a body: salt and commitment.
pub const BODY_PREFIX_LEN: usize = SALT_LEN + COMMITMENT_LEN;
/// Chunk indices must stay below 2^38 (C2SP chunked-encryption).
pub const MAX_CHUNKS: u64 = 1 << 38;

const HKDF_LABEL: &[u8] = b"c2sp.org/chunked-encryption@v1+";
const MAX_NONCE_LEN: usize = 24;

/// The salt and commitment that start a body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BodyPrefix {
    /// The random salt.
    pub salt: [u8; SALT_LEN],
    /// The key commitment derived from the data key, salt and context.
    pub commitment: [u8; COMMITMENT_LEN],
}

impl BodyPrefix {
    /// The 56 bytes as they appear in the body.
    pub fn to_bytes(&self) -> [u8; BODY_PREFIX_LEN] {
        let mut out = [0u8; BODY_PREFIX_LEN];
        let (s, c) = out.split_at_mut(SALT_LEN);
        s.copy_from_slice(&self.salt);
        c.copy_from_slice(&self.commitment);
        out
    }

    /// Splits 56 body bytes into salt and commitment.
    pub fn from_bytes(bytes: &[u8; BODY_PREFIX_LEN]) -> Self {
        let mut salt = [0u8; SALT_LEN];
        let mut commitment = [0u8; COMMITMENT_LEN];
        let (s, c) = bytes.split_at(SALT_LEN);
        salt.copy_from_slice(s);
        commitment.copy_from_slice(c);
        BodyPrefix { salt, commitment }
    }
}

impl fmt::Debug for BodyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyPrefix").finish_non_exhaustive()
    }
}

enum Aead {
    Aes(Box<LessSafeKey>),
    XChaCha(XChaCha20Poly1305),
}

/// The per-object AEAD key and base nonce shared by both directions.
struct Keys {
    suite: Suite,
    aead: Aead,
    base_nonce: [u8; MAX_NONCE_LEN],
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.base_nonce.zeroize();
    }
}

struct OkmLen(usize);

impl KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-SHA-512 output: key || base nonce || commitment.
fn derive(
    suite: Suite,
    data_key: &DataKey,
    salt: &[u8; SALT_LEN],
    context: &[u8],
) -> Result<([u8; 32], [u8; MAX_NONCE_LEN], [u8; COMMITMENT_LEN])> {
    let nonce_len = suite.nonce_len();
    let total = 32 + nonce_len + COMMITMENT_LEN;
    let prk = Prk::new_less_safe(HKDF_SHA512, data_key.expose_secret());
    let info: [&[u8]; 5] = [
        HKDF_LABEL,
        suite.aead_name().as_bytes(),
        &[0u8],
        salt,
        context,
    ];
    let mut okm = [0u8; 32 + MAX_NONCE_LEN + COMMITMENT_LEN];
    let okm_out = okm
        .get_mut(..total)
        .ok_or(Error::Internal("key derivation output is too short"))?;
    prk.expand(&info, OkmLen(total))
        .and_then(|o| o.fill(okm_out))
        .map_err(|_| Error::Internal("HKDF expansion failed"))?;
    let mut key = [0u8; 32];
    let mut nonce = [0u8; MAX_NONCE_LEN];
    let mut commitment = [0u8; COMMITMENT_LEN];
    let (k, rest) = okm.split_at(32);
    let (n, rest) = rest.split_at(nonce_len);
    key.copy_from_slice(k);
    // The base nonce is right-aligned in the 24-byte array so that the
    // counter XOR below works on the same low bytes for both suites.
    if let Some(dst) = nonce.get_mut(MAX_NONCE_LEN - nonce_len..) {
        dst.copy_from_slice(n);
    }
    if let Some(c) = rest.get(..COMMITMENT_LEN) {
        commitment.copy_from_slice(c);
    }
    okm.zeroize();
    Ok((key, nonce, commitment))
}

impl Keys {
    fn derive(
        suite: Suite,
        data_key: &DataKey,
        salt: &[u8; SALT_LEN],
        context: &[u8],
    ) -> Result<(Self, BodyPrefix)> {
        let (mut key, base_nonce, commitment) = derive(suite, data_key, salt, context)?;
        let aead = match suite {
            Suite::Aes256Gcm => {
                let unbound = UnboundKey::new(&AES_256_GCM, &key)
                    .map_err(|_| Error::Internal("AES-256-GCM key set-up failed"));
                Aead::Aes(Box::new(LessSafeKey::new(unbound?)))
            }
            Suite::XChaCha20Poly1305 => Aead::XChaCha(XChaCha20Poly1305::new(&key.into())),
        };
        key.zeroize();
        Ok((
            Keys {
                suite,
                aead,
                base_nonce,
            },
            BodyPrefix {
                salt: *salt,
                commitment,
            },
        ))
    }

    /// Derives the keys from the prefix's salt and checks its commitment
    /// in constant time.
    fn derive_checked(
        suite: Suite,
        data_key: &DataKey,
        prefix: &BodyPrefix,
        context: &[u8],
    ) -> Result<Self> {
        let (keys, expected) = Self::derive(suite, data_key, &prefix.salt, context)?;
        if bool::from(expected.commitment.ct_eq(&prefix.commitment)) {
            Ok(keys)
        } else {
            Err(Error::CommitmentMismatch)
        }
    }

    fn nonce(&self, index: u64, last: bool) -> Result<[u8; MAX_NONCE_LEN]> {
        // FORMAT.md, "Chunking": the final chunk's index is at most 2^38 - 1,
        // so a full (non-final) chunk there already exceeds the limit.
        if index >= MAX_CHUNKS || (!last && index == MAX_CHUNKS - 1) {
            return Err(Error::TooLarge);
        }
        let mut n = self.base_nonce;
        let (_, low) = n.split_at_mut(MAX_NONCE_LEN - 8);
        for (b, c) in low.iter_mut().zip(index.to_be_bytes()) {
            *b ^= c;
        }
        Ok(n)
    }
}

/// Seals chunk `i` of one body: the per-object AEAD key and base nonce,
/// derived from a data key and a fresh [`Salt`] (ring's `SealingKey`).
///
/// Holds no data key; the derived AEAD key is wiped on drop for suite 2
/// (ring does not wipe its expanded AES key schedule; see docs/SECURITY.md).
/// `Sync`: chunks may be sealed on many threads in any order. Sealing the
/// same index twice with different plaintext reuses a nonce, so each index
/// is sealed once; [`crate::codec`] seals runs of chunks.
pub struct ChunkSealer {
    keys: Keys,
}

/// Opens chunk `i` of one body whose commitment was checked against the
/// data key (ring's `OpeningKey`). Plaintext of a chunk is released only
/// after its tag verifies. `Sync`, like [`ChunkSealer`].
pub struct ChunkOpener {
    keys: Keys,
}

impl fmt::Debug for ChunkSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSealer")
            .field("suite", &self.keys.suite)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ChunkOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkOpener")
            .field("suite", &self.keys.suite)
            .finish_non_exhaustive()
    }
}

impl ChunkSealer {
    /// Starts a new body under `salt`, which it consumes: the salt the key
    /// records were bound to (docs/FORMAT.md, "Key records"), drawn with
    /// [`Salt::generate`] before the data key was wrapped. Returns the
    /// sealer and the 56-byte prefix to write before chunk 0.
    pub fn new(
        suite: Suite,
        data_key: &DataKey,
        salt: Salt,
        context: &[u8],
    ) -> Result<(Self, BodyPrefix)> {
        let (keys, prefix) = Keys::derive(suite, data_key, salt.as_bytes(), context)?;
        Ok((ChunkSealer { keys }, prefix))
    }

    /// Continues sealing a body whose prefix was already written (a
    /// resumed upload): derives the keys from the prefix's salt and checks
    /// its commitment against `data_key` in constant time, so a wrong key
    /// or a damaged journal fails here with [`Error::CommitmentMismatch`]
    /// instead of producing an object no reader can open.
    ///
    /// **Danger:** the sealer produces the same nonces as the one that
    /// started the body. Seal only chunk indices that were never sealed
    /// before, or that are sealed again from exactly the same plaintext;
    /// sealing an index twice with different plaintext reuses a nonce and
    /// breaks the AEAD's confidentiality and integrity.
    pub fn danger_resume(
        suite: Suite,
        data_key: &DataKey,
        prefix: &BodyPrefix,
        context: &[u8],
    ) -> Result<Self> {
        Keys::derive_checked(suite, data_key, prefix, context).map(|keys| ChunkSealer { keys })
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.keys.suite
    }

    /// Seals chunk `index` in place and returns its tag.
    ///
    /// `plaintext` must be exactly [`CHUNK_SIZE`] bytes unless `last` is
    /// true, in which case it must be shorter (possibly empty).
    pub fn seal_chunk(
        &self,
        index: u64,
        plaintext: &mut [u8],
        last: bool,
    ) -> Result<[u8; TAG_LEN]> {
        check_plain_len(plaintext.len(), last)?;
        let nonce = self.keys.nonce(index, last)?;
        match &self.keys.aead {
            Aead::Aes(key) => {
                let n = Nonce::assume_unique_for_key(tail12(&nonce));
                let tag = key
                    .seal_in_place_separate_tag(n, Aad::empty(), plaintext)
                    .map_err(|_| Error::Internal("sealing a chunk failed"))?;
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(tag.as_ref());
                Ok(out)
            }
            Aead::XChaCha(aead) => {
                let tag = aead
                    .encrypt_inout_detached(&nonce.into(), b"", plaintext.into())
                    .map_err(|_| Error::Internal("sealing a chunk failed"))?;
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(&tag);
                Ok(out)
            }
        }
    }

    /// Seals chunk `index` held in `buf` as plaintext followed by
    /// [`TAG_LEN`] spare bytes; afterwards `buf` is the chunk's ciphertext.
    pub fn seal_chunk_in_buf(&self, index: u64, buf: &mut [u8], last: bool) -> Result<()> {
        let plain_len = buf.len().checked_sub(TAG_LEN).ok_or(Error::InvalidInput {
            what: "chunk buffer",
            reason: "has no room for the tag",
        })?;
        let (plain, tag_space) = buf.split_at_mut(plain_len);
        let tag = self.seal_chunk(index, plain, last)?;
        tag_space.copy_from_slice(&tag);
        Ok(())
    }
}

impl ChunkOpener {
    /// Opens a body: derives the keys from the prefix's salt and checks
    /// the commitment in constant time before any chunk can be opened.
    pub fn new(
        suite: Suite,
        data_key: &DataKey,
        prefix: &BodyPrefix,
        context: &[u8],
    ) -> Result<Self> {
        Keys::derive_checked(suite, data_key, prefix, context).map(|keys| ChunkOpener { keys })
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.keys.suite
    }

    /// Opens chunk `index` in place: `sealed` holds ciphertext and tag.
    /// On success returns the plaintext (the first `sealed.len() - 16`
    /// bytes). On failure the buffer is wiped and nothing is released.
    ///
    /// A chunk that is not `last` must be exactly [`SEALED_CHUNK_SIZE`]
    /// bytes; the `last` chunk must be shorter (at least the tag).
    pub fn open_chunk<'b>(
        &self,
        index: u64,
        sealed: &'b mut [u8],
        last: bool,
    ) -> Result<&'b mut [u8]> {
        let len = sealed.len();
        if last {
            if len < TAG_LEN {
                return Err(Error::Truncated {
                    detail: "the final chunk is shorter than its 16-byte tag",
                });
            }
            if len >= SEALED_CHUNK_SIZE {
                return Err(Error::Truncated {
                    detail: "the last chunk present is full-sized, so the final chunk is missing",
                });
            }
        } else if len != SEALED_CHUNK_SIZE {
            return Err(Error::InvalidInput {
                what: "chunk buffer",
                reason: "a non-final chunk is exactly 16400 bytes",
            });
        }
        let (ct, tag) = sealed.split_at_mut(len - TAG_LEN);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        self.open_chunk_detached(index, ct, &t, last)?;
        Ok(sealed.get_mut(..len - TAG_LEN).unwrap_or(&mut []))
    }

    /// Opens chunk `index` whose ciphertext is `ciphertext` (decrypted in
    /// place) and whose tag is held apart, so that a caller can read the
    /// ciphertext straight into the plaintext's final place. On failure
    /// `ciphertext` is wiped and nothing is released.
    ///
    /// `ciphertext` must be exactly [`CHUNK_SIZE`] bytes unless `last`, in
    /// which case it must be shorter (possibly empty).
    pub fn open_chunk_detached(
        &self,
        index: u64,
        ciphertext: &mut [u8],
        tag: &[u8; TAG_LEN],
        last: bool,
    ) -> Result<()> {
        check_plain_len(ciphertext.len(), last)?;
        let nonce = self.keys.nonce(index, last)?;
        let ok = match &self.keys.aead {
            Aead::Aes(key) => {
                let n = Nonce::assume_unique_for_key(tail12(&nonce));
                #[cfg(not(feature = "aws-lc"))]
                let r = key.open_in_place_separate_tag(
                    n,
                    Aad::empty(),
                    Tag::from(*tag),
                    ciphertext,
                    0..,
                );
                #[cfg(feature = "aws-lc")]
                let r = key.open_in_place_separate_tag(n, Aad::empty(), tag, ciphertext);
                r.is_ok()
            }
            Aead::XChaCha(aead) => {
                let tag = chacha20poly1305::Tag::from(*tag);
                aead.decrypt_inout_detached(&nonce.into(), b"", ciphertext.into(), &tag)
                    .is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            ciphertext.zeroize();
            Err(Error::ChunkAuthentication {
                index,
                final_chunk: last,
            })
        }
    }
}

fn check_plain_len(len: usize, last: bool) -> Result<()> {
    let ok = if last {
        len < CHUNK_SIZE
    } else {
        len == CHUNK_SIZE
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "chunk plaintext",
            reason: "non-final chunks are 16384 bytes and the final chunk is shorter",
        })
    }
}

fn tail12(n: &[u8; MAX_NONCE_LEN]) -> [u8; 12] {
    let mut out = [0u8; 12];
    out.copy_from_slice(n.split_at(MAX_NONCE_LEN - 12).1);
    out
}
