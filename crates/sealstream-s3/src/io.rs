//! Tokio `AsyncWrite` sealing and `AsyncRead` opening adapters over the
//! format crate's sans-IO core, with the same guarantees as the std ones:
//!
//! - [`SealingWriter`]: **only [`SealingWriter::finish`] or
//!   `poll_shutdown` (`AsyncWriteExt::shutdown`) produces a valid object**;
//!   dropping it unfinished leaves an object every reader rejects as
//!   truncated.
//! - [`OpeningReader`]: releases a chunk's plaintext only after its tag
//!   verifies; end of input before the final chunk is an error, never end
//!   of data; bytes after the final chunk are an error.
//!
//! ```text
//!  SealingWriter:  write(plaintext) -> [16 KiB chunk buffer] -> seal -> inner
//!                  (header and body prefix go out first; finish seals the
//!                   short final chunk)
//!  OpeningReader:  inner -> header -> data key (keyring) -> commitment check
//!                  -> [one sealed chunk] -> open -> read(plaintext)
//! ```
//!
//! Errors come out of the `poll_*` methods as `io::Error`s carrying this
//! crate's [`Error`]; [`Error::from_io`] gets it back.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use sealstream_format::{
    BODY_PREFIX_LEN, BodyPrefix, ChunkOpener, ChunkSealer, DataKey, Header, PEEK_LEN, Salt,
    StreamOpener, StreamSealer,
};
use sealstream_kms::Keyring;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::error::{Error, Result};
use crate::head::ObjectHead;

/// Where an opener gets the data key: a keyring (unwrapping a record of the
/// header) or a data key given directly (a share link).
#[derive(Clone, Copy)]
pub(crate) enum Unlock<'a> {
    Keyring(&'a Keyring),
    Key(&'a DataKey),
}

impl Unlock<'_> {
    /// The data key for an object with `header` and body `prefix`. The
    /// header's name must be `expected_name` when one is given. A keyring
    /// tries its records until one unwraps to a key that matches the key
    /// commitment; a given key is checked by the caller's
    /// `ChunkOpener::new`.
    pub(crate) async fn data_key(
        &self,
        header: &Header,
        prefix: &BodyPrefix,
        object: &str,
        expected_name: Option<&str>,
    ) -> Result<DataKey> {
        if let Some(name) = expected_name {
            header
                .check_name(name)
                .map_err(|e| Error::format(object, e))?;
        }
        match self {
            Unlock::Keyring(k) => {
                k.open_key(header, prefix, None)
                    .await
                    .map_err(|source| Error::NoKey {
                        object: object.to_owned(),
                        source,
                    })
            }
            Unlock::Key(k) => Ok(k.duplicate()),
        }
    }
}

/// Seals everything written to it into a sealstream object written to `W`.
///
/// The header and body prefix are written first; each full 16 KiB chunk is
/// sealed as soon as it is complete. At most one sealed chunk is buffered.
///
/// **[`SealingWriter::finish`] (or `shutdown`) is the only way to produce a
/// valid object.** It seals and writes the final, short chunk. A writer
/// dropped without it leaves an object that every reader rejects as
/// truncated, never one that decrypts to a prefix of the data.
pub struct SealingWriter<W> {
    inner: W,
    stream: StreamSealer,
    /// The header and body prefix, written before the first chunk, from
    /// `lead_pos`.
    lead: Vec<u8>,
    lead_pos: usize,
    state: WState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WState {
    Open,
    Finishing,
    Finished,
    Failed,
}

impl<W> fmt::Debug for SealingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingWriter")
            .field("suite", &self.stream.suite())
            .field("chunks_sealed", &self.stream.chunks_sealed())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn werr(e: sealstream_format::Error) -> io::Error {
    io::Error::from(Error::format("the sealed stream", e))
}

impl<W: AsyncWrite + Unpin> SealingWriter<W> {
    /// A writer that seals under `data_key` and `salt` with `header` (all
    /// three from one [`sealstream_kms::SealKey`]: the header's records are
    /// bound to that salt); the header and body prefix are written first.
    pub fn new(inner: W, header: &Header, data_key: &DataKey, salt: Salt) -> Result<Self> {
        let (cipher, prefix) =
            ChunkSealer::new(header.suite(), data_key, salt, header.bound_section())
                .map_err(|e| Error::format("the sealed stream", e))?;
        let mut lead = header.encode();
        lead.extend_from_slice(&prefix.to_bytes());
        Ok(SealingWriter {
            inner,
            stream: StreamSealer::new(cipher, 0),
            lead,
            lead_pos: 0,
            state: WState::Open,
        })
    }

    /// Chunks sealed so far.
    pub fn chunks_sealed(&self) -> u64 {
        self.stream.chunks_sealed()
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.state = WState::Failed;
        e
    }

    /// Writes out the lead, then the sealed chunk the stream holds.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let from_lead = self.lead_pos < self.lead.len();
            let pending = if from_lead {
                self.lead.get(self.lead_pos..).unwrap_or(&[])
            } else {
                self.stream.pending()
            };
            if pending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.inner).poll_write(cx, pending)) {
                Ok(0) => return Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into()))),
                Ok(n) if from_lead => self.lead_pos += n,
                Ok(n) => self.stream.advance(n),
                Err(e) => return Poll::Ready(Err(self.fail(e))),
            }
        }
    }

    /// **Seals and writes the final chunk, flushes, and returns the inner
    /// writer (not shut down). Without this (or `shutdown`) the object is
    /// not valid.**
    pub async fn finish(mut self) -> Result<W> {
        if self.state != WState::Open {
            return Err(Error::io(
                "finishing a sealed stream",
                io::Error::other("the writer failed or was already finished"),
            ));
        }
        std::future::poll_fn(|cx| self.poll_drain(cx))
            .await
            .map_err(|e| Error::io("writing the sealed stream", e))?;
        if let Err(e) = self.stream.finish() {
            self.state = WState::Failed;
            return Err(Error::io("sealing the final chunk", werr(e)));
        }
        self.state = WState::Finishing;
        std::future::poll_fn(|cx| self.poll_drain(cx))
            .await
            .map_err(|e| Error::io("writing the sealed stream", e))?;
        self.inner
            .flush()
            .await
            .map_err(|e| Error::io("flushing the sealed stream", e))?;
        self.state = WState::Finished;
        Ok(self.inner)
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for SealingWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.state != WState::Open {
            return Poll::Ready(Err(io::Error::other(
                "write after the sealed stream was finished or failed",
            )));
        }
        // A chunk that becomes full is sealed at once and written by the
        // next call's drain (or flush), so at most one chunk is buffered.
        match this.stream.push(data) {
            Ok(take) => Poll::Ready(Ok(take)),
            Err(e) => Poll::Ready(Err(this.fail(werr(e)))),
        }
    }

    /// Writes out sealed chunks and flushes the inner writer. Plaintext of
    /// an incomplete chunk stays buffered: only full chunks and the finish
    /// produce ciphertext.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// **Seals the final chunk**, writes it, and shuts the inner writer
    /// down: the async counterpart of [`SealingWriter::finish`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state == WState::Open {
            ready!(this.poll_drain(cx))?;
            if let Err(e) = this.stream.finish() {
                return Poll::Ready(Err(this.fail(werr(e))));
            }
            this.state = WState::Finishing;
        }
        match this.state {
            WState::Finishing => {
                ready!(this.poll_drain(cx))?;
                ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                this.state = WState::Finished;
                Poll::Ready(Ok(()))
            }
            WState::Finished => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(io::Error::other(
                "the sealed stream failed earlier; the object is incomplete",
            ))),
        }
    }
}

/// Opens a sealstream object read from `R`, releasing each chunk's
/// plaintext only after its tag verifies.
///
/// [`OpeningReader::open`] reads the header, unwraps the data key with a
/// keyring and checks the key commitment before any chunk is opened. End of
/// input before the final (short) chunk is an error
/// ([`Error::Truncated`]), never a silent end of data, and so are bytes
/// after it ([`Error::TrailingData`]). After an error every further read
/// fails. The chunks are cut and opened by the format crate's
/// [`StreamOpener`], as in its std `DecryptingReader`.
pub struct OpeningReader<R> {
    inner: R,
    header: Header,
    header_len: usize,
    stream: StreamOpener,
    /// The final chunk opened and one more read found the end of input.
    checked_end: bool,
    object: String,
}

impl<R> fmt::Debug for OpeningReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpeningReader")
            .field("object", &self.object)
            .field("header", &self.header)
            .field("next_chunk", &self.stream.next_chunk())
            .field("failed", &self.stream.is_failed())
            .finish_non_exhaustive()
    }
}

/// Reads until `buf` is full or EOF.
async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = r.read(buf.get_mut(n..).unwrap_or(&mut [])).await?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

impl<R: AsyncRead + Unpin> OpeningReader<R> {
    /// Reads the header from `inner`, unwraps the data key with `keyring`
    /// and checks the key commitment.
    pub async fn open(inner: R, keyring: &Keyring) -> Result<Self> {
        Self::open_labeled(
            inner,
            Unlock::Keyring(keyring),
            "the sealed stream",
            None,
            None,
        )
        .await
    }

    /// Like [`OpeningReader::open`] with a data key given directly (from a
    /// share link); the header's key block is not used.
    pub async fn open_with_key(inner: R, data_key: &DataKey) -> Result<Self> {
        Self::open_labeled(
            inner,
            Unlock::Key(data_key),
            "the sealed stream",
            None,
            None,
        )
        .await
    }

    /// Opens `inner` (labelled `object` in messages); the header must be
    /// bound to `expected_name` when one is given. With `expect`, the
    /// header and body prefix read must equal that head's byte for byte
    /// ([`Error::ObjectChanged`] otherwise), so that the key is unwrapped
    /// from the bytes the caller checked.
    pub(crate) async fn open_labeled(
        mut inner: R,
        unlock: Unlock<'_>,
        object: &str,
        expected_name: Option<&str>,
        expect: Option<&ObjectHead>,
    ) -> Result<Self> {
        let read_err = |e| Error::io(format!("reading {object}"), e);
        let fmt_err = |e| Error::format(object, e);
        let mut peek = [0u8; PEEK_LEN];
        let got = read_full(&mut inner, &mut peek).await.map_err(read_err)?;
        let peeked = peek.get(..got).unwrap_or(&[]);
        let header_len = match Header::peek_len(peeked).map_err(fmt_err)? {
            Some(n) if got == PEEK_LEN => n,
            _ => {
                return Err(Error::Truncated {
                    object: object.to_owned(),
                    detail: if got == 0 {
                        "the object is empty".into()
                    } else {
                        "it ends inside its header".into()
                    },
                });
            }
        };
        let mut hbuf = vec![0u8; header_len];
        let (head, rest) = hbuf.split_at_mut(PEEK_LEN.min(header_len));
        head.copy_from_slice(peek.get(..head.len()).unwrap_or(&[]));
        if read_full(&mut inner, rest).await.map_err(read_err)? != rest.len() {
            return Err(Error::Truncated {
                object: object.to_owned(),
                detail: "it ends inside its header".into(),
            });
        }
        let header = Header::parse(&hbuf).map_err(fmt_err)?;
        let mut prefix = [0u8; BODY_PREFIX_LEN];
        if read_full(&mut inner, &mut prefix).await.map_err(read_err)? != BODY_PREFIX_LEN {
            return Err(Error::Truncated {
                object: object.to_owned(),
                detail: "it ends inside its salt and commitment".into(),
            });
        }
        if let Some(head) = expect {
            let mut read = hbuf;
            read.extend_from_slice(&prefix);
            head.check_sealed_start(&read)?;
        }
        let prefix = BodyPrefix::from_bytes(&prefix);
        let key = unlock
            .data_key(&header, &prefix, object, expected_name)
            .await?;
        let cipher = ChunkOpener::new(header.suite(), &key, &prefix, header.bound_section())
            .map_err(fmt_err)?;
        Ok(OpeningReader {
            inner,
            header,
            header_len,
            stream: StreamOpener::new(cipher, 0),
            checked_end: false,
            object: object.to_owned(),
        })
    }

    /// The object's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header's encoded length (the body's offset in the object).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Whether the final chunk has been authenticated and all plaintext
    /// read.
    pub fn is_done(&self) -> bool {
        self.checked_end && self.stream.is_done()
    }

    fn fail(&mut self, e: sealstream_format::Error) -> io::Error {
        io::Error::from(Error::format(&self.object, e))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for OpeningReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let avail = this.stream.plaintext();
            if !avail.is_empty() {
                let n = avail.len().min(out.remaining());
                out.put_slice(avail.get(..n).unwrap_or(&[]));
                this.stream.consume(n);
                return Poll::Ready(Ok(()));
            }
            if this.stream.is_failed() {
                return Poll::Ready(Err(io::Error::other(
                    "the opening reader failed earlier; no more plaintext is released",
                )));
            }
            if this.stream.is_done() {
                if this.checked_end {
                    return Poll::Ready(Ok(()));
                }
                // The final chunk opened at the end of input; one more read
                // must find the end again (nothing follows the final chunk).
                let mut one = [0u8; 1];
                let mut rb = ReadBuf::new(&mut one);
                if let Err(e) = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb)) {
                    let e = Error::io(format!("reading {}", this.object), e);
                    // Nothing more is released after an I/O error either.
                    this.stream.abort();
                    return Poll::Ready(Err(io::Error::from(e)));
                }
                let n = rb.filled().len();
                if let Err(e) = this.stream.trailing(n) {
                    return Poll::Ready(Err(this.fail(e)));
                }
                this.checked_end = true;
                continue;
            }
            let index = this.stream.next_chunk();
            let mut rb = ReadBuf::new(this.stream.space());
            if let Err(e) = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb)) {
                let e = match Error::io(format!("reading {}", this.object), e) {
                    Error::Truncated { object, detail } => Error::Truncated {
                        object,
                        detail: format!("in chunk {index}: {detail}"),
                    },
                    other => other,
                };
                this.stream.abort();
                return Poll::Ready(Err(io::Error::from(e)));
            }
            let n = rb.filled().len();
            if let Err(e) = this.stream.filled(n) {
                return Poll::Ready(Err(this.fail(e)));
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
    use sealstream_format::{
        CHUNK_SIZE, EncryptionContext, KeyRecord, SEALED_CHUNK_SIZE, Suite, TAG_LEN,
    };

    fn header() -> Header {
        let rec = KeyRecord::new("test-fake", "k", vec![1]).unwrap();
        Header::new(Suite::Aes256Gcm, EncryptionContext::new(), "", vec![rec]).unwrap()
    }

    async fn seal(plain: &[u8], key: &DataKey, write_size: usize) -> Vec<u8> {
        let mut w =
            SealingWriter::new(Vec::new(), &header(), key, Salt::generate().unwrap()).unwrap();
        for part in plain.chunks(write_size.max(1)) {
            w.write_all(part).await.unwrap();
        }
        w.finish().await.unwrap()
    }

    #[tokio::test]
    async fn round_trips_all_boundary_sizes() {
        let key = DataKey::from_bytes([3u8; 32]);
        for n in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE,
        ] {
            let plain: Vec<u8> = (0..n).map(|i| (i % 241) as u8).collect();
            for ws in [1usize, 1000, 70_000] {
                if ws == 1 && n > CHUNK_SIZE + 1 {
                    continue;
                }
                let obj = seal(&plain, &key, ws).await;
                // Interop with the std reader of the format crate.
                let (_, std_plain) = sealstream_format::open_slice(&obj, &key).unwrap();
                assert_eq!(std_plain, plain);
                let mut r = OpeningReader::open_with_key(&obj[..], &key).await.unwrap();
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                assert_eq!(got, plain, "n={n} ws={ws}");
                assert!(r.is_done());
            }
        }
    }

    #[tokio::test]
    async fn shutdown_finishes_and_drop_does_not() {
        let key = DataKey::from_bytes([4u8; 32]);
        let mut w =
            SealingWriter::new(Vec::new(), &header(), &key, Salt::generate().unwrap()).unwrap();
        w.write_all(b"hello").await.unwrap();
        w.shutdown().await.unwrap();
        assert!(w.write_all(b"more").await.is_err());
        let obj = w.inner.clone();
        assert_eq!(
            sealstream_format::open_slice(&obj, &key).unwrap().1,
            b"hello"
        );

        // Without finish: only full chunks were written, no final chunk.
        let mut w =
            SealingWriter::new(Vec::new(), &header(), &key, Salt::generate().unwrap()).unwrap();
        w.write_all(&vec![0u8; CHUNK_SIZE]).await.unwrap();
        w.flush().await.unwrap();
        let partial = w.inner.clone();
        drop(w);
        let mut r = OpeningReader::open_with_key(&partial[..], &key)
            .await
            .unwrap();
        let err = r.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(
            matches!(Error::from_io(&err), Some(Error::Truncated { .. })),
            "{err}"
        );
    }

    /// The std reader (format crate) and this async reader cut chunks with
    /// the same state machine, so the same damage gets the same error.
    #[tokio::test]
    async fn std_and_async_readers_report_damage_identically() {
        use std::io::Read as _;
        let key = DataKey::from_bytes([6u8; 32]);
        let plain = vec![3u8; 3 * CHUNK_SIZE + 100];
        let obj = seal(&plain, &key, 5000).await;
        let body = obj.len() - (3 * SEALED_CHUNK_SIZE + 100 + TAG_LEN);
        let mut flipped = obj.clone();
        flipped[body + SEALED_CHUNK_SIZE + 9] ^= 1;
        let mut longer = obj.clone();
        longer.push(0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "cut on a boundary",
                obj[..body + 3 * SEALED_CHUNK_SIZE].to_vec(),
            ),
            (
                "cut inside a chunk",
                obj[..body + SEALED_CHUNK_SIZE + 40].to_vec(),
            ),
            ("a flipped bit", flipped),
            ("a byte appended", longer),
        ];
        let kind = |e: &sealstream_format::Error| match e {
            sealstream_format::Error::Truncated { .. } => "truncated".to_owned(),
            sealstream_format::Error::ChunkAuthentication { index, final_chunk } => {
                format!("chunk {index} final={final_chunk}")
            }
            other => format!("{other:?}"),
        };
        for (what, bytes) in cases {
            let std_err = {
                let r = sealstream_format::SealedReader::new(&bytes[..]).unwrap();
                let mut out = Vec::new();
                let e = r.open(&key).unwrap().read_to_end(&mut out).unwrap_err();
                kind(&sealstream_format::Error::from(e))
            };
            let mut r = OpeningReader::open_with_key(&bytes[..], &key)
                .await
                .unwrap();
            let mut out = Vec::new();
            let e = r.read_to_end(&mut out).await.unwrap_err();
            let async_err = match Error::from_io(&e).unwrap() {
                Error::Truncated { .. } => "truncated".to_owned(),
                Error::ChunkAuthentication {
                    index, final_note, ..
                } => format!("chunk {index} final={}", !final_note.is_empty()),
                other => format!("{other:?}"),
            };
            assert_eq!(std_err, async_err, "{what}");
        }
    }

    #[tokio::test]
    async fn truncation_trailing_data_and_tampering_fail() {
        let key = DataKey::from_bytes([5u8; 32]);
        let plain = vec![7u8; 2 * CHUNK_SIZE + 10];
        let obj = seal(&plain, &key, 4096).await;
        let read = |bytes: Vec<u8>| async move {
            let mut r =
                OpeningReader::open_with_key(&bytes[..], &DataKey::from_bytes([5u8; 32])).await?;
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .await
                .map_err(|e| Error::from_io_owned(e).unwrap_or_else(|e| Error::io("t", e)))?;
            Ok::<_, Error>(out)
        };
        let mut extra = obj.clone();
        extra.push(0);
        // Appended bytes join the final chunk, which then fails.
        assert!(matches!(
            read(extra).await,
            Err(Error::ChunkAuthentication {
                index: 2,
                final_note: " (the final chunk)",
                ..
            })
        ));
        let body = obj.len() - (2 * SEALED_CHUNK_SIZE + 10 + TAG_LEN);
        let cut = obj[..body + SEALED_CHUNK_SIZE].to_vec();
        assert!(matches!(read(cut).await, Err(Error::Truncated { .. })));
        let mut bad = obj.clone();
        bad[body + SEALED_CHUNK_SIZE + 5] ^= 1;
        assert!(matches!(
            read(bad).await,
            Err(Error::ChunkAuthentication { index: 1, .. })
        ));
        let wrong = OpeningReader::open_with_key(&obj[..], &DataKey::from_bytes([6u8; 32])).await;
        assert!(matches!(wrong, Err(Error::WrongKey { .. })));
        let not = OpeningReader::open_with_key(&b"plain text, not sealed"[..], &key).await;
        assert!(matches!(not, Err(Error::NotSealstream { .. })));
    }
}
