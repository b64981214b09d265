//! The sealstream object format: a [C2SP chunked-encryption] body under an
//! envelope header. Pure crypto and framing; std only, no async runtime,
//! no cloud SDK. docs/FORMAT.md is the normative specification.
//!
//! [C2SP chunked-encryption]: https://c2sp.org/chunked-encryption
//!
//! # Which type for which job
//!
//! | job | use |
//! |---|---|
//! | seal a stream | [`EncryptingWriter`] (`std::io::Write`; **call `finish`**) |
//! | open a stream | [`SealedReader`] → [`DecryptingReader`] (`std::io::Read`) |
//! | read any range, from many threads | [`RandomAccess`] over a [`ReadAt`] source |
//! | `Read + Seek` over a file | [`RandomAccessReader`] |
//! | seal or open a file or stream on every core | [`pipeline`] |
//! | seal or open chunk `i` yourself (parallel pipelines, S3 parts) | [`ChunkCipher`] |
//! | plaintext range → chunks and byte range; lengths | [`layout`] |
//! | whole objects in memory | [`seal_to_vec`], [`open_slice`] |
//!
//! The data key comes from a key provider (the sealstream-kms crate), which
//! also makes the [`KeyRecord`]s for the header and later reads them back
//! from [`Header::records`] to unwrap the key.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use sealstream_format::{
//!     DataKey, EncryptingWriter, EncryptionContext, Header, KeyRecord, SealedReader, Suite,
//! };
//!
//! # fn main() -> Result<(), sealstream_format::Error> {
//! let key = DataKey::generate()?;
//! let context = EncryptionContext::from_pairs([("path", "db.tar")])?;
//! // A real provider wraps `key`; these bytes stand in for its output.
//! let record = KeyRecord::new("local", "example", vec![0u8; 60])?;
//! let header = Header::new(Suite::Aes256Gcm, context, vec![record])?;
//!
//! let mut w = EncryptingWriter::new(Vec::new(), &header, &key)?;
//! w.write_all(b"hello, world")?;
//! let object = w.finish()?; // without finish the object is invalid
//!
//! let sealed = SealedReader::new(&object[..])?;
//! assert_eq!(sealed.header().context().get("path"), Some("db.tar"));
//! let mut plain = Vec::new();
//! sealed.open(&key)?.read_to_end(&mut plain)?;
//! assert_eq!(plain, b"hello, world");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chunk;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod key;
pub mod layout;
pub mod pipeline;
mod random_access;
mod read;
mod suite;
mod write;

pub use chunk::{
    BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, COMMITMENT_LEN, ChunkCipher, MAX_CHUNKS, SALT_LEN,
    SEALED_CHUNK_SIZE, TAG_LEN,
};
pub use error::{Error, Result};
pub use header::{
    EncryptionContext, FIXED_PREFIX_LEN, FORMAT_VERSION, Header, HeaderParse, KeyRecord, MAGIC,
    MAX_CONTEXT_KEY_LEN, MAX_CONTEXT_PAIRS, MAX_CONTEXT_VALUE_LEN, MAX_HEADER_LEN, MAX_KEY_ID_LEN,
    MAX_KEY_RECORDS, MAX_PROVIDER_LEN, MAX_WRAPPED_LEN, MIN_HEADER_LEN, PEEK_LEN, RESERVED_PREFIX,
};
pub use key::{DATA_KEY_LEN, DataKey};
pub use random_access::{RandomAccess, RandomAccessReader, ReadAt, SeekSource, read_header_at};
pub use read::{DecryptingReader, SealedReader};
pub use suite::Suite;
pub use write::EncryptingWriter;

/// Seals `plaintext` into a complete object in memory.
pub fn seal_to_vec(header: &Header, data_key: &DataKey, plaintext: &[u8]) -> Result<Vec<u8>> {
    let (cipher, prefix) = ChunkCipher::seal_new(header.suite(), data_key, header.bound_section())?;
    seal_body_into(header, &cipher, &prefix, plaintext)
}

/// Seals with a given salt. **Only for known-answer tests**: a salt must
/// never repeat under one data key.
pub fn danger_seal_with_salt(
    header: &Header,
    data_key: &DataKey,
    salt: &[u8; SALT_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (cipher, prefix) =
        ChunkCipher::with_salt(header.suite(), data_key, salt, header.bound_section())?;
    seal_body_into(header, &cipher, &prefix, plaintext)
}

fn seal_body_into(
    header: &Header,
    cipher: &ChunkCipher,
    prefix: &BodyPrefix,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let body_len = layout::body_len(plaintext.len() as u64)?;
    let header_bytes = header.encode();
    let total = usize::try_from(body_len)
        .ok()
        .and_then(|b| b.checked_add(header_bytes.len()))
        .ok_or(Error::TooLarge)?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&prefix.to_bytes());
    let mut chunks = plaintext.chunks_exact(CHUNK_SIZE);
    let mut index = 0u64;
    for chunk in chunks.by_ref() {
        let start = out.len();
        out.extend_from_slice(chunk);
        out.resize(start + SEALED_CHUNK_SIZE, 0);
        cipher.seal_chunk_in_buf(index, out.get_mut(start..).unwrap_or(&mut []), false)?;
        index += 1;
    }
    let rest = chunks.remainder();
    let start = out.len();
    out.extend_from_slice(rest);
    out.resize(start + rest.len() + TAG_LEN, 0);
    cipher.seal_chunk_in_buf(index, out.get_mut(start..).unwrap_or(&mut []), true)?;
    Ok(out)
}

/// Opens a complete object held in memory; returns the header and the
/// plaintext. Nothing is returned unless every chunk authenticates.
pub fn open_slice(object: &[u8], data_key: &DataKey) -> Result<(Header, Vec<u8>)> {
    let ra = RandomAccess::open(object, data_key)?;
    let len = usize::try_from(ra.plaintext_len()?).map_err(|_| Error::TooLarge)?;
    let mut out = vec![0u8; len];
    let n = ra.read_at(&mut out, 0)?;
    debug_assert_eq!(n, len);
    let header = ra.header().clone();
    Ok((header, out))
}
