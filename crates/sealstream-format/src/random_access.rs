//! Random access: positional reads of any plaintext range, from many
//! threads, and a `Read + Seek` adapter on top.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use crate::chunk::{BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkOpener, SEALED_CHUNK_SIZE};
use crate::error::{Error, Result};
use crate::header::{Header, PEEK_LEN};
use crate::key::DataKey;
use crate::layout;

/// A source of object bytes that can be read at any offset through a
/// shared reference (a file, a byte slice, a memory map).
pub trait ReadAt {
    /// Fills `buf` with the bytes at `offset`; errors with
    /// `UnexpectedEof` if the source ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The total length of the source in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        buf.copy_from_slice(self.get(start..end).ok_or_else(eof)?);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

#[cfg(unix)]
impl ReadAt for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for std::sync::Arc<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

/// Adapts any `Read + Seek` into a [`ReadAt`] by locking around seek and read.
pub struct SeekSource<R>(Mutex<R>);

impl<R: Read + Seek> SeekSource<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        SeekSource(Mutex::new(inner))
    }
}

impl<R: Read + Seek> ReadAt for SeekSource<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut r = self
            .0
            .lock()
            .map_err(|_| io::Error::other("reader lock poisoned"))?;
        r.seek(SeekFrom::Start(offset))?;
        r.read_exact(buf)
    }

    fn size(&self) -> io::Result<u64> {
        let mut r = self
            .0
            .lock()
            .map_err(|_| io::Error::other("reader lock poisoned"))?;
        r.seek(SeekFrom::End(0))
    }
}

fn eof() -> io::Error {
    io::Error::from(io::ErrorKind::UnexpectedEof)
}

fn read_at_or_truncated<S: ReadAt + ?Sized>(
    source: &S,
    buf: &mut [u8],
    offset: u64,
    detail: &'static str,
) -> Result<()> {
    match source.read_exact_at(buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::Truncated { detail }),
        Err(e) => Err(Error::Io(e)),
    }
}

/// Reads the header of the object in `source`.
/// Returns the header and its encoded length.
pub fn read_header_at<S: ReadAt + ?Sized>(source: &S) -> Result<(Header, usize)> {
    let size = source.size()?;
    let mut prefix = [0u8; PEEK_LEN];
    let n = usize::try_from(size.min(PEEK_LEN as u64)).unwrap_or(0);
    let got = prefix.get_mut(..n).unwrap_or(&mut []);
    read_at_or_truncated(source, got, 0, "the header is incomplete")?;
    let Some(len) = Header::peek_len(got)? else {
        return Err(Error::Truncated {
            detail: if size == 0 {
                "the object is empty"
            } else {
                "the header is incomplete"
            },
        });
    };
    let mut buf = vec![0u8; len];
    read_at_or_truncated(source, &mut buf, 0, "the header is incomplete")?;
    Ok((Header::parse(&buf)?, len))
}

/// Authenticated random access to the plaintext of an object held by a
/// [`ReadAt`] source.
///
/// All reads take `&self`, so one `RandomAccess` can serve many threads
/// (it is `Sync` when `S` is). The plaintext length is computed from the
/// object length, and the final chunk is authenticated before that length
/// is reported or relied on, so a truncated or extended object is caught.
pub struct RandomAccess<S> {
    source: S,
    header: Header,
    body_offset: u64,
    cipher: ChunkOpener,
    plaintext_len: u64,
    final_verified: AtomicBool,
}

impl<S> fmt::Debug for RandomAccess<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RandomAccess")
            .field("header", &self.header)
            .field("claimed_plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

impl<S: ReadAt> RandomAccess<S> {
    /// Reads the header and body prefix of the object in `source` and
    /// checks the key commitment with `data_key`.
    ///
    /// Use [`read_header_at`] first to learn which key records the object
    /// has, so that the right data key can be unwrapped.
    pub fn open(source: S, data_key: &DataKey) -> Result<Self> {
        let (header, header_len) = read_header_at(&source)?;
        let body_offset = header_len as u64;
        let size = source.size()?;
        let body_len = size.checked_sub(body_offset).ok_or(Error::Truncated {
            detail: "the object ends inside its header",
        })?;
        let mut prefix = [0u8; BODY_PREFIX_LEN];
        read_at_or_truncated(
            &source,
            &mut prefix,
            body_offset,
            "the body ends inside its salt and commitment",
        )?;
        let cipher = ChunkOpener::new(
            header.suite(),
            data_key,
            &BodyPrefix::from_bytes(&prefix),
            header.bound_section(),
        )?;
        let plaintext_len = layout::plaintext_len(body_len)?;
        Ok(RandomAccess {
            source,
            header,
            body_offset,
            cipher,
            plaintext_len,
            final_verified: AtomicBool::new(false),
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The authenticated plaintext length. The first call reads and
    /// authenticates the final chunk.
    pub fn plaintext_len(&self) -> Result<u64> {
        self.verify_final()?;
        Ok(self.plaintext_len)
    }

    fn verify_final(&self) -> Result<()> {
        if !self.final_verified.load(Ordering::Acquire) {
            let mut scratch = Zeroizing::new(vec![0u8; SEALED_CHUNK_SIZE]);
            self.open_chunk_into(layout::final_chunk_index(self.plaintext_len), &mut scratch)?;
        }
        Ok(())
    }

    /// Reads, authenticates and decrypts chunk `index` into `scratch`
    /// (at least 16400 bytes); returns the plaintext length.
    fn open_chunk_into(&self, index: u64, scratch: &mut [u8]) -> Result<usize> {
        let range = layout::chunk_body_range(index, self.plaintext_len)?;
        let last = index == layout::final_chunk_index(self.plaintext_len);
        let len = usize::try_from(range.end - range.start).unwrap_or(SEALED_CHUNK_SIZE);
        let sealed = scratch.get_mut(..len).ok_or(Error::InvalidInput {
            what: "scratch buffer",
            reason: "must hold a sealed chunk",
        })?;
        read_at_or_truncated(
            &self.source,
            sealed,
            self.body_offset + range.start,
            "the object is shorter than its length said (it changed while being read)",
        )?;
        let n = self.cipher.open_chunk(index, sealed, last)?.len();
        if last {
            self.final_verified.store(true, Ordering::Release);
        }
        Ok(n)
    }

    /// Reads plaintext at `offset` into `buf`, like `pread`: returns the
    /// number of bytes read, 0 at or past the end. Every byte returned is
    /// authenticated; reaching the end authenticates the final chunk.
    ///
    /// On an error, `buf` may already hold the (authenticated) plaintext of
    /// chunks before the one that failed, never any byte of the failed
    /// chunk; treat the whole read as failed.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if offset >= self.plaintext_len {
            // Saying "end of data" relies on the length: prove it first.
            self.verify_final()?;
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.plaintext_len - offset);
        let plan = layout::plan_range(offset..offset + want, self.plaintext_len)?;
        let mut scratch = Zeroizing::new(vec![0u8; SEALED_CHUNK_SIZE]);
        let mut written = 0usize;
        let mut skip = usize::try_from(plan.skip).unwrap_or(0);
        let total = usize::try_from(plan.len).unwrap_or(0);
        for index in plan.first_chunk..=plan.last_chunk {
            let n = self.open_chunk_into(index, &mut scratch)?;
            let src = scratch.get(skip..n).unwrap_or(&[]);
            let take = src.len().min(total - written);
            if let (Some(d), Some(s)) = (buf.get_mut(written..written + take), src.get(..take)) {
                d.copy_from_slice(s);
            }
            written += take;
            skip = 0;
        }
        Ok(written)
    }

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with
    /// [`Error::OutOfRange`] if the plaintext ends first.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let n = self.read_at(buf, offset)?;
        if n == buf.len() {
            Ok(())
        } else {
            Err(Error::OutOfRange {
                offset: offset.saturating_add(buf.len() as u64),
                len: self.plaintext_len,
            })
        }
    }

    /// Decrypts chunk `index` and returns its plaintext.
    pub fn read_chunk(&self, index: u64) -> Result<Zeroizing<Vec<u8>>> {
        let mut scratch = Zeroizing::new(vec![0u8; SEALED_CHUNK_SIZE]);
        let n = self.open_chunk_into(index, &mut scratch)?;
        scratch.truncate(n);
        Ok(scratch)
    }

    /// The number of chunks in the body, computed from the object length.
    /// It is authenticated only once [`RandomAccess::plaintext_len`] has
    /// succeeded (or the final chunk has been read).
    pub fn chunk_count(&self) -> u64 {
        layout::final_chunk_index(self.plaintext_len) + 1
    }

    /// Gives back the source.
    pub fn into_inner(self) -> S {
        self.source
    }
}

/// A `Read + Seek` view of an object's plaintext over a `Read + Seek`
/// source (a file, a cursor). Seeking from the end authenticates the final
/// chunk first.
pub struct RandomAccessReader<R> {
    inner: RandomAccess<SeekSource<R>>,
    pos: u64,
}

impl<R> fmt::Debug for RandomAccessReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RandomAccessReader")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> RandomAccessReader<R> {
    /// Opens the object in `source` with `data_key`.
    pub fn open(source: R, data_key: &DataKey) -> Result<Self> {
        Ok(RandomAccessReader {
            inner: RandomAccess::open(SeekSource::new(source), data_key)?,
            pos: 0,
        })
    }

    /// Reads only the header of the object in `source` (to pick the key),
    /// then gives `source` back.
    pub fn read_header(source: R) -> Result<(Header, R)> {
        let s = SeekSource::new(source);
        let (header, _) = read_header_at(&s)?;
        let inner =
            s.0.into_inner()
                .map_err(|_| io::Error::other("reader lock poisoned"))?;
        Ok((header, inner))
    }

    /// The random-access core, for positional reads.
    pub fn get_ref(&self) -> &RandomAccess<SeekSource<R>> {
        &self.inner
    }
}

impl<R: Read + Seek> Read for RandomAccessReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Cap each call at a chunk so that one read never buffers much.
        let cap = buf.len().min(CHUNK_SIZE * 4);
        let n = self
            .inner
            .read_at(buf.get_mut(..cap).unwrap_or(&mut []), self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for RandomAccessReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.inner.plaintext_len()?.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )),
        }
    }
}
