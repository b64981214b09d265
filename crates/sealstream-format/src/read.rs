//! The decrypting `std::io::Read` adapter.

use std::fmt;
use std::io::{self, Read};

use zeroize::Zeroizing;

use crate::chunk::{BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkOpener, SEALED_CHUNK_SIZE};
use crate::error::{Error, Result};
use crate::header::{Header, read_full};
use crate::key::DataKey;

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

#[derive(Clone, PartialEq, Eq, Debug)]
enum State {
    Reading,
    Done,
    /// The kind and message of the error that stopped the reader.
    Failed(io::ErrorKind, String),
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
    cipher: ChunkOpener,
    /// Holds one sealed chunk; after opening, `pos..end` is plaintext.
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    index: u64,
    state: State,
}

impl<R: Read> fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("suite", &self.cipher.suite())
            .field("next_chunk", &self.index)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R: Read> DecryptingReader<R> {
    /// A reader over body chunks (positioned just after the salt and
    /// commitment), starting at chunk 0.
    pub fn from_parts(inner: R, cipher: ChunkOpener) -> Self {
        DecryptingReader {
            inner,
            cipher,
            buf: Zeroizing::new(vec![0u8; SEALED_CHUNK_SIZE]),
            pos: 0,
            end: 0,
            index: 0,
            state: State::Reading,
        }
    }

    /// Whether the final chunk has been authenticated (all plaintext
    /// released and the length proven).
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.pos == self.end
    }

    /// Returns the inner reader. Only meaningful after [`is_done`](Self::is_done).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn next_chunk(&mut self) -> Result<()> {
        let got = read_full(&mut self.inner, &mut self.buf)?;
        if got == 0 {
            return Err(Error::Truncated {
                detail: "the object ends on a chunk boundary: the final chunk is missing",
            });
        }
        // A full-sized chunk is never final; anything shorter is, since
        // the read stopped only at end of input.
        let last = got < SEALED_CHUNK_SIZE;
        let sealed = self.buf.get_mut(..got).unwrap_or(&mut []);
        let plain = self.cipher.open_chunk(self.index, sealed, last)?.len();
        self.index += 1;
        self.pos = 0;
        self.end = plain;
        if last {
            self.state = State::Done;
        }
        Ok(())
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
        while self.pos == self.end {
            match &self.state {
                State::Done => return Ok(0),
                State::Failed(kind, msg) => {
                    return Err(io::Error::new(
                        *kind,
                        format!("{msg} (no more plaintext is released after this error)"),
                    ));
                }
                State::Reading => {
                    if let Err(e) = self.next_chunk() {
                        let e = io::Error::from(e);
                        self.state = State::Failed(e.kind(), e.to_string());
                        self.pos = 0;
                        self.end = 0;
                        return Err(e);
                    }
                }
            }
        }
        let avail = self.buf.get(self.pos..self.end).unwrap_or(&[]);
        let n = avail.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}
