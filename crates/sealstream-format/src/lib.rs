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
//! | seal or open chunk `i` yourself | [`ChunkSealer`], [`ChunkOpener`] |
//! | seal or open a run of chunks in a buffer (S3 parts, segments) | [`codec`] |
//! | plaintext range → chunks and byte range; lengths | [`layout`] |
//! | whole objects in memory | [`seal_to_vec`], [`open_slice`] |
//!
//! The data key comes from a key provider (the sealstream-kms crate), which
//! draws the object's [`Salt`] first, makes the [`KeyRecord`]s for the
//! header (each bound to the bound section, the salt and the object's name:
//! docs/FORMAT.md, "Key records") and later reads them back from
//! [`Header::records`] to unwrap the key. A data key seals exactly one
//! object, and its salt is consumed by sealing.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use sealstream_format::{
//!     DataKey, EncryptingWriter, EncryptionContext, Header, KeyRecord, Salt, SealedReader,
//!     Suite, layout,
//! };
//!
//! # fn main() -> Result<(), sealstream_format::Error> {
//! let key = DataKey::generate()?;
//! let salt = Salt::generate()?; // drawn before wrapping: records bind it
//! let context = EncryptionContext::from_pairs([("app", "backup")])?;
//! // A real provider wraps `key` for (bound section, salt, name); these
//! // bytes stand in for its output.
//! let record = KeyRecord::new("local", "example", vec![0u8; 61])?;
//! let header = Header::new(Suite::Aes256Gcm, context, "backups/db.tar", vec![record])?;
//!
//! let mut w = EncryptingWriter::new(Vec::new(), &header, &key, salt)?;
//! w.write_all(b"hello, world")?;
//! let object = w.finish()?; // without finish the object is invalid
//! assert_eq!(layout::plaintext_len_from_object_len(object.len() as u64)?, 12);
//!
//! let sealed = SealedReader::new(&object[..])?;
//! sealed.header().check_name("backups/db.tar")?;
//! assert_eq!(sealed.header().context().get("app"), Some("backup"));
//! let mut plain = Vec::new();
//! sealed.open(&key)?.read_to_end(&mut plain)?;
//! assert_eq!(plain, b"hello, world");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chunk;
pub mod codec;
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
mod stream;
mod suite;
mod write;

pub use chunk::{
    AES_BACKEND, BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, COMMITMENT_LEN, ChunkOpener, ChunkSealer,
    MAX_CHUNKS, SEALED_CHUNK_SIZE, TAG_LEN,
};
pub use error::{Error, Result};
pub use header::{
    EncryptionContext, FIXED_PREFIX_LEN, FORMAT_VERSION, FileMetadata, FileTime, HEADER_LEN,
    Header, HeaderParse, KeyRecord, MAGIC, MAX_CONTEXT_KEY_LEN, MAX_CONTEXT_PAIRS,
    MAX_CONTEXT_VALUE_LEN, MAX_KEY_ID_LEN, MAX_KEY_RECORDS, MAX_NAME_LEN, MAX_PROVIDER_LEN,
    MAX_WRAPPED_LEN, MIN_FIELDS_LEN, MODE_KEY, MTIME_KEY, PEEK_LEN, RESERVED_PREFIX, validate_name,
};
pub use key::{DATA_KEY_LEN, DataKey, SALT_LEN, Salt};
pub use random_access::{RandomAccess, RandomAccessReader, ReadAt, SeekSource, read_header_at};
pub use read::{DecryptingReader, SealedReader};
pub use stream::{StreamOpener, StreamSealer};
pub use suite::Suite;
pub use write::EncryptingWriter;

/// Seals `plaintext` into a complete object in memory, under the `salt`
/// the header's key records were bound to.
pub fn seal_to_vec(
    header: &Header,
    data_key: &DataKey,
    salt: Salt,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (sealer, prefix) =
        ChunkSealer::new(header.suite(), data_key, salt, header.bound_section())?;
    let body_len = layout::body_len(plaintext.len() as u64)?;
    let header_bytes = header.encode();
    let total = usize::try_from(body_len)
        .ok()
        .and_then(|b| b.checked_add(header_bytes.len()))
        .ok_or(Error::TooLarge)?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&prefix.to_bytes());
    let start = out.len();
    out.resize(total, 0);
    let run = out
        .get_mut(start..)
        .ok_or(Error::Internal("the output is shorter than its header"))?;
    codec::seal_into(&sealer, 0, plaintext, true, run, 1)?;
    Ok(out)
}

/// Opens a complete object held in memory; returns the header and the
/// plaintext. Nothing is returned unless every chunk authenticates.
pub fn open_slice(object: &[u8], data_key: &DataKey) -> Result<(Header, Vec<u8>)> {
    // The same checks, in the same order, as `RandomAccess`: header, salt
    // and commitment, length, the final chunk, then every chunk in order.
    let (header, header_len) = read_header_at(object)?;
    let body = object.get(header_len..).ok_or(Error::Truncated {
        detail: "the object ends inside its header",
    })?;
    let (prefix, chunks) = body
        .split_at_checked(BODY_PREFIX_LEN)
        .ok_or(Error::Truncated {
            detail: "the body ends inside its salt and commitment",
        })?;
    let mut p = [0u8; BODY_PREFIX_LEN];
    p.copy_from_slice(prefix);
    let opener = ChunkOpener::new(
        header.suite(),
        data_key,
        &BodyPrefix::from_bytes(&p),
        header.bound_section(),
    )?;
    let plaintext_len = layout::plaintext_len(body.len() as u64)?;
    let final_start = chunks.len() - chunks.len() % SEALED_CHUNK_SIZE;
    let mut final_chunk =
        zeroize::Zeroizing::new(chunks.get(final_start..).unwrap_or(&[]).to_vec());
    opener.open_chunk(
        layout::final_chunk_index(plaintext_len),
        &mut final_chunk,
        true,
    )?;
    let len = usize::try_from(plaintext_len).map_err(|_| Error::TooLarge)?;
    let mut out = vec![0u8; len];
    codec::open_into(&opener, 0, chunks, true, &mut out, 1)?;
    Ok((header, out))
}
