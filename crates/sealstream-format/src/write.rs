//! The encrypting `std::io::Write` adapter.

use std::fmt;
use std::io::{self, Write};

use zeroize::Zeroizing;

use crate::chunk::{CHUNK_SIZE, ChunkSealer, SEALED_CHUNK_SIZE, TAG_LEN};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::key::{DataKey, Salt};

/// Seals everything written to it into a sealstream object written to `W`.
///
/// The header and the body prefix are written by [`EncryptingWriter::new`];
/// each full 16 KiB chunk is sealed and written as soon as it is complete.
///
/// **[`EncryptingWriter::finish`] is the only way to produce a valid
/// object.** It seals and writes the final (short) chunk. A writer dropped
/// without `finish` leaves an object that every reader rejects as
/// truncated, never one that silently decrypts to a prefix of the data.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    cipher: ChunkSealer,
    /// Plaintext of the chunk being filled, with room for the tag.
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    failed: bool,
}

impl<W: Write> fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("suite", &self.cipher.suite())
            .field("chunks_sealed", &self.index)
            .finish_non_exhaustive()
    }
}

impl<W: Write> EncryptingWriter<W> {
    /// Writes `header` and the body prefix for `salt` (the salt the
    /// header's key records were bound to) to `inner` and returns a writer
    /// that seals under `data_key`.
    pub fn new(mut inner: W, header: &Header, data_key: &DataKey, salt: Salt) -> Result<Self> {
        let (cipher, prefix) =
            ChunkSealer::new(header.suite(), data_key, salt, header.bound_section())?;
        inner.write_all(&header.encode())?;
        inner.write_all(&prefix.to_bytes())?;
        Ok(Self::from_parts(inner, cipher, 0))
    }

    /// A writer that continues a body whose header and prefix were already
    /// written, starting at chunk `next_index` (the sans-IO core's output
    /// for chunks before it must already be in `inner`).
    pub fn from_parts(inner: W, cipher: ChunkSealer, next_index: u64) -> Self {
        EncryptingWriter {
            inner,
            cipher,
            buf: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_SIZE)),
            index: next_index,
            failed: false,
        }
    }

    /// Number of chunks sealed and written so far.
    pub fn chunks_written(&self) -> u64 {
        self.index
    }

    /// A reference to the underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn seal_and_write(&mut self, last: bool) -> Result<()> {
        if self.failed {
            return Err(Error::Io(io::Error::other(
                "the encrypting writer failed earlier; the object is incomplete",
            )));
        }
        let plain_len = self.buf.len();
        self.buf.resize(plain_len + TAG_LEN, 0);
        let res = self
            .cipher
            .seal_chunk_in_buf(self.index, &mut self.buf, last)
            .and_then(|()| self.inner.write_all(&self.buf).map_err(Error::from));
        self.buf.clear();
        match res {
            Ok(()) => {
                self.index += 1;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// **Seals and writes the final chunk, flushes, and returns the inner
    /// writer. Without this call the object is not valid.**
    pub fn finish(mut self) -> Result<W> {
        self.seal_and_write(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_SIZE - self.buf.len();
        let take = room.min(data.len());
        self.buf.extend_from_slice(data.get(..take).unwrap_or(&[]));
        // A full chunk is never the final one, so it can be sealed now.
        if self.buf.len() == CHUNK_SIZE {
            self.seal_and_write(false)?;
        }
        Ok(take)
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.write(data)?;
            data = data.get(n..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Flushes the inner writer. Buffered plaintext of an incomplete chunk
    /// stays buffered: only full chunks and `finish` produce ciphertext.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
