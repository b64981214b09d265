//! The encrypting `std::io::Write` adapter.

use std::fmt;
use std::io::{self, Write};

use crate::chunk::ChunkSealer;
use crate::error::{Error, Result};
use crate::header::Header;
use crate::key::{DataKey, Salt};
use crate::stream::StreamSealer;

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
    stream: StreamSealer,
    failed: bool,
}

impl<W: Write> fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("suite", &self.stream.suite())
            .field("chunks_sealed", &self.stream.chunks_sealed())
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
            stream: StreamSealer::new(cipher, next_index),
            failed: false,
        }
    }

    /// Number of chunks sealed and written so far.
    pub fn chunks_written(&self) -> u64 {
        self.stream.chunks_sealed()
    }

    /// A reference to the underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn check(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Io(io::Error::other(
                "the encrypting writer failed earlier; the object is incomplete",
            )));
        }
        Ok(())
    }

    /// Writes out the sealed chunk the stream holds, if any.
    fn drain(&mut self) -> Result<()> {
        let pending = self.stream.pending();
        if pending.is_empty() {
            return Ok(());
        }
        let n = pending.len();
        match self.inner.write_all(pending) {
            Ok(()) => {
                self.stream.advance(n);
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e.into())
            }
        }
    }

    /// **Seals and writes the final chunk, flushes, and returns the inner
    /// writer. Without this call the object is not valid.**
    pub fn finish(mut self) -> Result<W> {
        self.check()?;
        self.drain()?;
        if let Err(e) = self.stream.finish() {
            self.failed = true;
            return Err(e);
        }
        self.drain()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.drain()?;
        let take = self.stream.push(data).inspect_err(|_| self.failed = true)?;
        // A full chunk was sealed: write it now, so that at most one chunk
        // is ever buffered.
        self.drain()?;
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
