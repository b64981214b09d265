//! Shared fixtures for the sealstream benches and the `seal_file` example:
//! a test header and key, a plaintext generator, the sizes to run, and the
//! raw AEADs (the limit the format is measured against).
//!
//! Run `cargo bench -p sealstream-benches` (set `SEALSTREAM_BENCH_LARGE=1`
//! to add the 1 GiB cases); docs/PERFORMANCE.md has the figures.

#![forbid(unsafe_code)]
#![allow(clippy::indexing_slicing, reason = "fixed-size bench fixtures")]

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sealstream_format::{
    CHUNK_SIZE, DataKey, EncryptionContext, Header, KeyRecord, Salt, Suite, TAG_LEN,
};

/// 1 MiB.
pub const MIB: usize = 1 << 20;

/// Plaintext sizes to bench: 1 MiB and 64 MiB, plus 1 GiB when the
/// environment variable `SEALSTREAM_BENCH_LARGE=1` is set.
pub fn sizes() -> Vec<usize> {
    let mut v = vec![MIB, 64 * MIB];
    if std::env::var("SEALSTREAM_BENCH_LARGE").is_ok_and(|v| v == "1") {
        v.push(1024 * MIB);
    }
    v
}

/// A header for `suite` with one placeholder key record, bound to no name.
pub fn header(suite: Suite) -> Header {
    let context =
        EncryptionContext::from_pairs([("bench", "sealstream")]).expect("a fixed, valid context");
    let record = KeyRecord::new("local", "bench", vec![0u8; 61]).expect("a fixed, valid record");
    Header::new(suite, context, "", vec![record]).expect("a fixed, valid header")
}

/// A fresh salt for one seal (every seal draws one, as real writers do).
pub fn salt() -> Salt {
    Salt::generate().expect("the system random number generator")
}

/// A fixed data key (benches only).
pub fn key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

/// `len` bytes of a cheap, non-constant pattern.
pub fn plaintext(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A short name for a suite in bench ids.
pub fn suite_id(suite: Suite) -> &'static str {
    match suite {
        Suite::Aes256Gcm => "aes",
        _ => "xchacha",
    }
}

/// The raw AEADs, with no framing: the upper bound for the format.
pub enum RawAead {
    /// ring's AES-256-GCM.
    RingAes(Box<LessSafeKey>),
    /// aws-lc-rs's AES-256-GCM.
    #[cfg(feature = "aws-lc")]
    AwsLcAes(Box<aws_lc_rs::aead::LessSafeKey>),
    /// The chacha20poly1305 crate's XChaCha20-Poly1305.
    XChaCha(XChaCha20Poly1305),
}

impl RawAead {
    /// ring AES-256-GCM under a fixed key.
    pub fn ring_aes() -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("32-byte key");
        RawAead::RingAes(Box::new(LessSafeKey::new(key)))
    }

    /// aws-lc-rs AES-256-GCM under a fixed key.
    #[cfg(feature = "aws-lc")]
    pub fn aws_lc_aes() -> Self {
        use aws_lc_rs::aead as a;
        let key = a::UnboundKey::new(&a::AES_256_GCM, &[7u8; 32]).expect("32-byte key");
        RawAead::AwsLcAes(Box::new(a::LessSafeKey::new(key)))
    }

    /// XChaCha20-Poly1305 under a fixed key.
    pub fn xchacha() -> Self {
        RawAead::XChaCha(XChaCha20Poly1305::new(&[7u8; 32].into()))
    }

    /// Seals `buf` in place as 16 KiB chunks, one AEAD call each, with a
    /// distinct nonce per chunk; returns the XOR of the tags' first bytes
    /// (so the work cannot be optimised away).
    pub fn seal_chunks(&self, buf: &mut [u8]) -> u8 {
        let mut acc = 0u8;
        for (i, chunk) in buf.chunks_mut(CHUNK_SIZE).enumerate() {
            let tag: [u8; TAG_LEN] = self.seal_one(i as u64, chunk);
            acc ^= tag[0];
        }
        acc
    }

    fn seal_one(&self, i: u64, chunk: &mut [u8]) -> [u8; TAG_LEN] {
        let mut nonce = [0u8; 24];
        nonce[16..].copy_from_slice(&i.to_be_bytes());
        let mut out = [0u8; TAG_LEN];
        match self {
            RawAead::RingAes(k) => {
                let n = Nonce::assume_unique_for_key(nonce[12..].try_into().expect("12 bytes"));
                let t = k
                    .seal_in_place_separate_tag(n, Aad::empty(), chunk)
                    .expect("chunk below the GCM limit");
                out.copy_from_slice(t.as_ref());
            }
            #[cfg(feature = "aws-lc")]
            RawAead::AwsLcAes(k) => {
                use aws_lc_rs::aead as a;
                let n = a::Nonce::assume_unique_for_key(nonce[12..].try_into().expect("12 bytes"));
                let t = k
                    .seal_in_place_separate_tag(n, a::Aad::empty(), chunk)
                    .expect("chunk below the GCM limit");
                out.copy_from_slice(t.as_ref());
            }
            RawAead::XChaCha(k) => {
                let t = k
                    .encrypt_inout_detached(&nonce.into(), b"", chunk.into())
                    .expect("chunk below the ChaCha20 limit");
                out.copy_from_slice(&t);
            }
        }
        out
    }
}
