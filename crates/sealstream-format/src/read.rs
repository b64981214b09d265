//! The decrypting `std::io::Read` adapter.

use std::fmt;
use std::io::{self, Read};

use crate::chunk::{BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkOpener, TAG_LEN};
use crate::error::{Error, Result};
use crate::header::{Header, read_full};
use crate::key::DataKey;
use crate::stream::StreamOpener;

/// An object whose header has been read, waiting for its data key.
///
/// Read the key block with [`SealedReader::header`], unwrap the data key
/// (the sealstream-kms crate does that), then call [`SealedReader::open`].
pub struct SealedReader<R: Read> {
    inner: R,
    header: Header,
    header_len: usize,
}

impl<R: Read> fmt::Debug for SealedReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedReader")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl<R: Read> SealedReader<R> {
    /// Reads and parses the header at the start of `inner`.
    pub fn new(mut inner: R) -> Result<Self> {
        let (header, header_len) = Header::read_from(&mut inner)?;
        Ok(SealedReader {
            inner,
            header,
            header_len,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header's encoded length (the body's offset in the object).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Reads the salt and commitment and checks the commitment against
    /// `data_key` before anything is decrypted.
    pub fn open(mut self, data_key: &DataKey) -> Result<DecryptingReader<R>> {
        let mut prefix = [0u8; BODY_PREFIX_LEN];
        if read_full(&mut self.inner, &mut prefix)? != BODY_PREFIX_LEN {
            return Err(Error::Truncated {
                detail: "the body ends inside its salt and commitment",
            });
        }
        let cipher = ChunkOpener::new(
            self.header.suite(),
            data_key,
            &BodyPrefix::from_bytes(&prefix),
            self.header.bound_section(),
        )?;
        Ok(DecryptingReader::from_parts(self.inner, cipher))
    }
}

/// Decrypts a sealstream body read from `R`, releasing each chunk's
/// plaintext only after its tag verifies.
///
/// End of input before the final (short) chunk is an [`Error::Truncated`],
/// never a silent end of data. Errors come out of `read` as `io::Error`s
/// that carry the format [`Error`] (see [`Error::from_io`]); after an error
/// every further `read` fails.
pub struct DecryptingReader<R: Read> {
    inner: R,
    stream: StreamOpener,
    /// The kind and message of the error that stopped the reader.
    failed: Option<(io::ErrorKind, String)>,
}

impl<R: Read> fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("suite", &self.stream.suite())
            .field("next_chunk", &self.stream.next_chunk())
            .field("failed", &self.failed.is_some())
            .finish_non_exhaustive()
    }
}

impl<R: Read> DecryptingReader<R> {
    /// A reader over body chunks (positioned just after the salt and
    /// commitment), starting at chunk 0.
    pub fn from_parts(inner: R, cipher: ChunkOpener) -> Self {
        DecryptingReader {
            inner,
            stream: StreamOpener::new(cipher, 0),
            failed: None,
        }
    }

    /// Whether the final chunk has been authenticated (all plaintext
    /// released and the length proven).
    pub fn is_done(&self) -> bool {
        self.stream.is_done()
    }

    /// Returns the inner reader. Only meaningful after [`is_done`](Self::is_done).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads into the stream until it has plaintext or is done.
    fn fill(&mut self) -> Result<()> {
        while self.stream.wants_input() {
            let n = loop {
                match self.inner.read(self.stream.space()) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            };
            self.stream.filled(n)?;
        }
        Ok(())
    }

    /// Reads the next chunk straight into `out` (at least [`CHUNK_SIZE`]
    /// bytes) and opens it there: the common case of a large `read`, with
    /// no copy through the stream's buffer. Returns the plaintext length
    /// placed at the start of `out`. A chunk shorter than full (the final
    /// one, or a cut) goes through the stream's buffer, which tells the two
    /// apart exactly as for any other read.
    fn read_in_place(&mut self, out: &mut [u8]) -> Result<usize> {
        let Some(dst) = out.get_mut(..CHUNK_SIZE) else {
            return Ok(0);
        };
        let n = read_full(&mut self.inner, dst)?;
        let mut tag = [0u8; TAG_LEN];
        let t = if n == CHUNK_SIZE {
            read_full(&mut self.inner, &mut tag)?
        } else {
            0
        };
        if t == TAG_LEN {
            self.stream.open_in_place(dst, &tag)?;
            return Ok(CHUNK_SIZE);
        }
        let got = n + t;
        if got > 0 {
            let space = self
                .stream
                .space()
                .get_mut(..got)
                .ok_or(Error::InvalidInput {
                    what: "decrypting reader",
                    reason: "a short chunk did not fit the stream's buffer",
                })?;
            let (a, b) = space.split_at_mut(n);
            a.copy_from_slice(dst.get(..n).unwrap_or(&[]));
            b.copy_from_slice(tag.get(..t).unwrap_or(&[]));
            self.stream.filled(got)?;
        }
        // End of input: what was read is the final chunk (or nothing, and
        // the object was cut on a chunk boundary).
        self.stream.filled(0)?;
        let avail = self.stream.plaintext();
        let k = avail.len().min(out.len());
        if let (Some(d), Some(s)) = (out.get_mut(..k), avail.get(..k)) {
            d.copy_from_slice(s);
        }
        self.stream.consume(k);
        Ok(k)
    }

    /// Reads and authenticates everything to the end, discarding plaintext.
    /// Useful to verify an object.
    pub fn verify_to_end(&mut self) -> Result<u64> {
        let mut total = 0u64;
        let mut sink = [0u8; CHUNK_SIZE];
        loop {
            let n = self.read(&mut sink).map_err(Error::from)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(
                *kind,
                format!("{msg} (no more plaintext is released after this error)"),
            ));
        }
        if out.len() >= CHUNK_SIZE && self.stream.at_chunk_boundary() {
            return self.read_in_place(out).map_err(|e| {
                let e = io::Error::from(e);
                self.failed = Some((e.kind(), e.to_string()));
                e
            });
        }
        if let Err(e) = self.fill() {
            let e = io::Error::from(e);
            self.failed = Some((e.kind(), e.to_string()));
            return Err(e);
        }
        let avail = self.stream.plaintext();
        let n = avail.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.stream.consume(n);
        Ok(n)
    }

    /// Grows `buf` one chunk at a time and reads each chunk straight into
    /// it (the default zero-fills ever larger stretches of spare capacity
    /// ahead of the reads; one chunk's worth is still in cache when the
    /// chunk lands on it). As with the default, what was read before an
    /// error stays in `buf`.
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let start = buf.len();
        loop {
            let at = buf.len();
            buf.resize(at + CHUNK_SIZE, 0);
            match self.read(buf.get_mut(at..).unwrap_or(&mut [])) {
                Ok(0) => {
                    buf.truncate(at);
                    return Ok(at - start);
                }
                Ok(n) => buf.truncate(at + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(at),
                Err(e) => {
                    buf.truncate(at);
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;
    use crate::{EncryptionContext, KeyRecord, SEALED_CHUNK_SIZE, Salt, Suite, seal_to_vec};

    #[test]
    fn read_to_end_appends_everything_or_exactly_the_chunks_before_the_damage() {
        let key = DataKey::from_bytes([3u8; 32]);
        let context = EncryptionContext::from_pairs([("a", "b")]).unwrap();
        let record = KeyRecord::new("local", "t", vec![0u8; 61]).unwrap();
        let header = Header::new(Suite::Aes256Gcm, context, "o", vec![record]).unwrap();
        let plain: Vec<u8> = (0..3 * CHUNK_SIZE + 7).map(|i| (i % 249) as u8).collect();
        let object = seal_to_vec(&header, &key, Salt::generate().unwrap(), &plain).unwrap();

        let mut out = b"kept".to_vec();
        let mut r = SealedReader::new(&object[..]).unwrap().open(&key).unwrap();
        assert_eq!(r.read_to_end(&mut out).unwrap(), plain.len());
        assert!(out[..4] == *b"kept" && out[4..] == plain[..]);
        assert!(r.is_done());

        let body = header.encoded_len() + BODY_PREFIX_LEN;
        for damaged in 0..4 {
            let mut bad = object.clone();
            bad[body + damaged * SEALED_CHUNK_SIZE + 5] ^= 1;
            let mut out = b"kept".to_vec();
            let mut r = SealedReader::new(&bad[..]).unwrap().open(&key).unwrap();
            let e = r.read_to_end(&mut out).unwrap_err();
            assert!(matches!(
                Error::from_io(&e),
                Some(Error::ChunkAuthentication { index, .. }) if *index == damaged as u64
            ));
            assert!(out[4..] == plain[..damaged * CHUNK_SIZE], "chunk {damaged}");
            assert!(r.read_to_end(&mut out).is_err(), "read after an error");
        }
    }
}
