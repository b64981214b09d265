//! The wrapped-key framing that `local` and `x25519` records share
//! (docs/FORMAT.md, "Key records"):
//!
//! ```text
//! wrapped = 0x01 || prefix (P) || AEAD(wrap key, nonce, data key, aad) (32) || tag (16)
//! ```
//!
//! The prefix is what opening needs besides the wrap key: the random nonce
//! of a `local` record (P = 12), the ephemeral public key of an `x25519`
//! record (P = 32). The AAD is [`crate::provider::wrap_aad`]'s. Each
//! provider chooses its AEAD, nonce and error messages; this module writes
//! and checks the bytes.

use ring::aead::{Aad, LessSafeKey, Nonce};
use sealstream_format::{DATA_KEY_LEN, DataKey, TAG_LEN};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The record version byte this code writes and reads.
const VERSION: u8 = 0x01;

/// The sealed data key and its tag.
const SEALED_LEN: usize = DATA_KEY_LEN + TAG_LEN;

/// The length of a record whose prefix is `prefix_len` bytes.
pub(crate) const fn record_len(prefix_len: usize) -> usize {
    1 + prefix_len + SEALED_LEN
}

/// Seals `key` with `aead` under `nonce` and `aad` into a record with
/// `prefix`. The record is built at its final capacity, so the data key is
/// sealed in place and no unwiped copy is left behind by a reallocation.
pub(crate) fn seal(
    aead: &LessSafeKey,
    nonce: Nonce,
    aad: Vec<u8>,
    prefix: &[u8],
    key: &DataKey,
) -> std::result::Result<Vec<u8>, ring::error::Unspecified> {
    let mut out = Vec::with_capacity(record_len(prefix.len()));
    out.push(VERSION);
    out.extend_from_slice(prefix);
    out.extend_from_slice(key.expose_secret());
    let (_, body) = out.split_at_mut(1 + prefix.len());
    let tag = aead.seal_in_place_separate_tag(nonce, Aad::from(aad), body)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Checks the version and length of `wrapped`, a record of `provider`, and
/// splits it into its prefix (named `prefix_name` in messages) and its
/// sealed data key.
pub(crate) fn parse<'a, const P: usize>(
    provider: &'static str,
    prefix_name: &str,
    wrapped: &'a [u8],
) -> Result<(&'a [u8; P], &'a [u8; SEALED_LEN])> {
    let malformed = |reason: String| Error::MalformedRecord { provider, reason };
    let (version, rest) = wrapped
        .split_first()
        .ok_or_else(|| malformed("empty wrapped key".into()))?;
    if *version != VERSION {
        return Err(malformed(format!(
            "record version {version} is not supported (this version reads version 1)"
        )));
    }
    if wrapped.len() != record_len(P) {
        return Err(malformed(format!(
            "a version-1 record is {} bytes, this one is {}",
            record_len(P),
            wrapped.len()
        )));
    }
    let (prefix, sealed) = rest
        .split_first_chunk::<P>()
        .ok_or_else(|| malformed(format!("too short for {prefix_name}")))?;
    let sealed = sealed.try_into().map_err(|_| {
        malformed(format!(
            "the sealed key after {prefix_name} is not {SEALED_LEN} bytes"
        ))
    })?;
    Ok((prefix, sealed))
}

/// Opens `sealed` (from [`parse`]) with `aead` under `nonce` and `aad`; a
/// failed authentication is `failed()`. The plaintext lives only in
/// zeroizing storage until it is the returned key.
pub(crate) fn open(
    aead: &LessSafeKey,
    nonce: Nonce,
    aad: Vec<u8>,
    sealed: &[u8; SEALED_LEN],
    failed: impl FnOnce() -> Error,
) -> Result<DataKey> {
    let mut buf = Zeroizing::new(*sealed);
    let plain = aead
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .map_err(|_| failed())?;
    Ok(DataKey::from_slice(plain)?)
}
