//! Streaming AES-256-GCM decryption with the tag checked at the end.
//!
//! An S3 Encryption Client object is one GCM message of up to 64 GiB
//! (S3 allows 5 TB): ring's one-shot AEAD would need all of it in memory.
//! This is GCM built from its parts (NIST SP 800-38D, section 7.2) out of
//! RustCrypto's `aes`, `ctr` and `ghash`: GHASH runs over each ciphertext
//! piece before CTR turns it into plaintext, and [`GcmOpener::finish`]
//! compares the tag in constant time. The plaintext it returns before
//! `finish` succeeded is **unauthenticated**; callers hold it back (a
//! temporary file, an upload that is aborted) until then.
//!
//! ```text
//!  J0 = IV (12) || 00 00 00 01      H = AES_K(0^128)
//!  P_i = C_i xor AES_K(inc32^i(J0)), i = 1..
//!  T  = GHASH_H(A || pad || C || pad || [len(A)]_64 || [len(C)]_64) xor AES_K(J0)
//! ```

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// AES-256 key length.
pub(crate) const KEY_LEN: usize = 32;
/// The only GCM IV length S3EC objects use.
pub(crate) const IV_LEN: usize = 12;
/// The only tag length S3EC objects use (`x-amz-tag-len: 128`).
pub(crate) const TAG_LEN: usize = 16;
/// The longest GCM plaintext: 2^39 - 256 bits (SP 800-38D, 5.2.1.1).
pub(crate) const MAX_CIPHERTEXT_LEN: u64 = (1 << 36) - 32;

type Ctr = ctr::Ctr32BE<Aes256>;

/// Why a GCM message did not open.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GcmError {
    /// The tag does not match: the ciphertext, IV, AAD or key is wrong.
    TagMismatch,
    /// More ciphertext than GCM can hold.
    TooLong,
}

/// Decrypts one GCM message piece by piece; see the module docs.
pub(crate) struct GcmOpener {
    ctr: Ctr,
    ghash: GHash,
    /// AES_K(J0), XORed into the GHASH output to form the tag.
    tag_mask: Zeroizing<[u8; 16]>,
    /// Ciphertext bytes not yet hashed because they do not fill a block.
    partial: [u8; 16],
    partial_len: usize,
    aad_len: u64,
    ct_len: u64,
}

impl GcmOpener {
    /// Starts opening a message sealed under `key` and `iv` with `aad`.
    pub(crate) fn new(key: &[u8; KEY_LEN], iv: &[u8; IV_LEN], aad: &[u8]) -> Self {
        let aes = Aes256::new(key.into());
        let mut h = ghash::Key::default();
        aes.encrypt_block(&mut h);
        let mut ghash = GHash::new(&h);
        zeroize::Zeroize::zeroize(h.as_mut_slice());
        ghash.update_padded(aad);

        let mut j0 = [0u8; 16];
        j0[..IV_LEN].copy_from_slice(iv);
        j0[15] = 1;
        let mut mask = aes::Block::from(j0);
        aes.encrypt_block(&mut mask);
        let tag_mask = Zeroizing::new(<[u8; 16]>::from(mask));

        // The first counter block of the payload is inc32(J0).
        j0[15] = 2;
        let ctr = Ctr::new(key.into(), (&j0).into());
        GcmOpener {
            ctr,
            ghash,
            tag_mask,
            partial: [0; 16],
            partial_len: 0,
            aad_len: aad.len() as u64,
            ct_len: 0,
        }
    }

    /// Hashes `buf` as ciphertext and decrypts it in place. What it leaves
    /// in `buf` is **not authenticated** until [`finish`](Self::finish)
    /// returns `Ok`.
    pub(crate) fn decrypt_in_place(&mut self, buf: &mut [u8]) -> Result<(), GcmError> {
        let new_len = self
            .ct_len
            .checked_add(buf.len() as u64)
            .filter(|n| *n <= MAX_CIPHERTEXT_LEN)
            .ok_or(GcmError::TooLong)?;
        self.hash_ciphertext(buf);
        self.ctr
            .try_apply_keystream(buf)
            .map_err(|_| GcmError::TooLong)?;
        self.ct_len = new_len;
        Ok(())
    }

    fn hash_ciphertext(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (16 - self.partial_len).min(data.len());
            let (head, rest) = data.split_at(take);
            // partial_len < 16 and take <= 16 - partial_len: in bounds.
            if let Some(dst) = self
                .partial
                .get_mut(self.partial_len..self.partial_len + take)
            {
                dst.copy_from_slice(head);
            }
            self.partial_len += take;
            data = rest;
            if self.partial_len < 16 {
                return;
            }
            self.ghash.update_padded(&self.partial);
            self.partial_len = 0;
        }
        let whole = data.len() - data.len() % 16;
        let (blocks, tail) = data.split_at(whole);
        // A multiple of 16 bytes: no padding is added.
        self.ghash.update_padded(blocks);
        // tail is shorter than a block.
        if let Some(dst) = self.partial.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
        self.partial_len = tail.len();
    }

    /// Checks `tag` in constant time. Only after `Ok` is the plaintext
    /// returned so far authentic.
    pub(crate) fn finish(mut self, tag: &[u8; TAG_LEN]) -> Result<u64, GcmError> {
        let partial = self.partial;
        self.ghash
            .update_padded(partial.get(..self.partial_len).unwrap_or(&[]));
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.ct_len * 8).to_be_bytes());
        self.ghash.update_padded(&lengths);
        let ct_len = self.ct_len;
        let s = self.ghash.finalize();
        let mut expected = Zeroizing::new([0u8; 16]);
        for ((e, s), m) in expected.iter_mut().zip(s.iter()).zip(self.tag_mask.iter()) {
            *e = s ^ m;
        }
        if bool::from(expected.ct_eq(tag)) {
            Ok(ct_len)
        } else {
            Err(GcmError::TagMismatch)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use ring::rand::{SecureRandom, SystemRandom};

    fn seal(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut buf = pt.to_vec();
        k.seal_in_place_append_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), &mut buf)
            .unwrap();
        buf
    }

    fn open_split(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
        step: usize,
    ) -> Result<Vec<u8>, GcmError> {
        let (ct, tag) = sealed.split_at(sealed.len() - 16);
        let mut o = GcmOpener::new(key, iv, aad);
        let mut out = Vec::new();
        for piece in ct.chunks(step.max(1)) {
            let mut p = piece.to_vec();
            o.decrypt_in_place(&mut p)?;
            out.extend_from_slice(&p);
        }
        o.finish(tag.try_into().unwrap())?;
        Ok(out)
    }

    /// Known answers: ring's one-shot AES-256-GCM seals, the streaming
    /// opener opens, over random sizes (0, 1, 15, 16, 17 and around
    /// several block multiples), random AAD and every split size class.
    #[test]
    fn matches_ring_on_random_sizes_and_splits() {
        let rng = SystemRandom::new();
        let mut sizes = vec![
            0usize,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            4095,
            4096,
            4097,
            65_536 + 7,
        ];
        for _ in 0..24 {
            let mut b = [0u8; 4];
            rng.fill(&mut b).unwrap();
            sizes.push(u32::from_le_bytes(b) as usize % 70_000);
        }
        for size in sizes {
            let mut key = [0u8; 32];
            let mut iv = [0u8; 12];
            let mut pt = vec![0u8; size];
            let mut aad = vec![0u8; size % 40];
            rng.fill(&mut key).unwrap();
            rng.fill(&mut iv).unwrap();
            rng.fill(&mut pt).unwrap();
            rng.fill(&mut aad).unwrap();
            let sealed = seal(&key, &iv, &aad, &pt);
            for step in [7usize, 16, 17, 1000, 1 << 20] {
                assert_eq!(
                    open_split(&key, &iv, &aad, &sealed, step).unwrap(),
                    pt,
                    "size {size} step {step}"
                );
            }
        }
    }

    /// NIST GCM test case 16 (AES-256, 60-byte plaintext, 20-byte AAD),
    /// from "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega.
    #[test]
    fn nist_test_case_16() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let key: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .try_into()
            .unwrap();
        let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let pt = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let ct = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        );
        let tag = hex("76fc6ece0f4e1768cddf8853bb2d551b");
        let mut sealed = ct.clone();
        sealed.extend_from_slice(&tag);
        assert_eq!(open_split(&key, &iv, &aad, &sealed, 13).unwrap(), pt);
    }

    #[test]
    fn every_flipped_byte_fails() {
        let key = [7u8; 32];
        let iv = [9u8; 12];
        let aad = [0x00, 0x73];
        let sealed = seal(&key, &iv, &aad, &[0x42; 40]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open_split(&key, &iv, &aad, &bad, 5),
                Err(GcmError::TagMismatch),
                "byte {i}"
            );
        }
        assert_eq!(
            open_split(&key, &iv, &[0x00, 0x74], &sealed, 5),
            Err(GcmError::TagMismatch)
        );
        assert_eq!(
            open_split(&[8u8; 32], &iv, &aad, &sealed, 5),
            Err(GcmError::TagMismatch)
        );
    }
}
