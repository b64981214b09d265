//! The sans-IO stream state machines: sealing plaintext that arrives in
//! pieces of any size, and opening sealed bytes that arrive the same way,
//! one chunk at a time. They do no I/O; the std adapters
//! ([`crate::EncryptingWriter`], [`crate::DecryptingReader`]) and the async
//! ones of the sealstream-s3 crate move bytes in and out of them, so that
//! every entry point cuts chunks, finds the final chunk and reports
//! truncation and trailing data in exactly the same way.
//!
//! ```text
//!  StreamSealer:  push(plaintext) ──▶ pending() sealed chunk ──▶ advance(n written)
//!                 finish() seals the final (short, possibly empty) chunk into pending()
//!
//!  StreamOpener:  space() ◀── read sealed bytes ── filled(n)   (n = 0: end of input)
//!                 a full 16400-byte chunk opens as a non-final chunk; end of input
//!                 with 16..16399 bytes buffered opens the final chunk; with 0 bytes
//!                 the final chunk is missing (Truncated)
//!                 plaintext() ──▶ consume(n)      trailing(n > 0) after the end: TrailingData
//! ```
//!
//! A chunk's plaintext is released only after its tag verified; after any
//! error the machine stays failed and releases nothing more.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::chunk::{CHUNK_SIZE, ChunkOpener, ChunkSealer, SEALED_CHUNK_SIZE, TAG_LEN};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Done,
    Failed,
}

fn failed_earlier() -> Error {
    Error::Io(std::io::Error::other(
        "the stream failed earlier; nothing more is sealed or released",
    ))
}

/// Cuts plaintext into chunks and seals each as soon as it is complete.
/// At most one chunk is buffered.
///
/// **[`StreamSealer::finish`] is the only way to end a valid object**: it
/// seals the final (short) chunk. Output that stops before it is rejected
/// by every reader as truncated, never opened as a prefix of the data.
pub struct StreamSealer {
    sealer: ChunkSealer,
    /// Plaintext of the chunk being filled, or, when `sealed`, the sealed
    /// chunk waiting to be taken from `out_pos`.
    buf: Zeroizing<Vec<u8>>,
    sealed: bool,
    out_pos: usize,
    index: u64,
    state: State,
}

impl fmt::Debug for StreamSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSealer")
            .field("suite", &self.sealer.suite())
            .field("chunks_sealed", &self.index)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl StreamSealer {
    /// Seals from chunk `next_index` on (0 for a new body; the body's
    /// header and prefix are the caller's to write first).
    pub fn new(sealer: ChunkSealer, next_index: u64) -> Self {
        StreamSealer {
            sealer,
            buf: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_SIZE)),
            sealed: false,
            out_pos: 0,
            index: next_index,
            state: State::Open,
        }
    }

    /// The suite.
    pub fn suite(&self) -> crate::Suite {
        self.sealer.suite()
    }

    /// Chunks sealed so far (the next chunk's index).
    pub fn chunks_sealed(&self) -> u64 {
        self.index
    }

    /// Whether the final chunk was sealed and all of it taken.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done && self.pending().is_empty()
    }

    /// Sealed bytes waiting to be written; write them and call
    /// [`advance`](Self::advance) before pushing more.
    pub fn pending(&self) -> &[u8] {
        if self.sealed {
            self.buf.get(self.out_pos..).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// Records that the first `n` bytes of [`pending`](Self::pending) were
    /// written.
    pub fn advance(&mut self, n: usize) {
        self.out_pos = self.out_pos.saturating_add(n).min(self.buf.len());
        if self.sealed && self.out_pos == self.buf.len() {
            self.buf.clear();
            self.sealed = false;
            self.out_pos = 0;
        }
    }

    /// Takes up to one chunk's worth of `data` and returns how much it took;
    /// a chunk that becomes full is sealed at once and waits in
    /// [`pending`](Self::pending). Takes nothing while output is pending.
    pub fn push(&mut self, data: &[u8]) -> Result<usize> {
        self.check_open()?;
        if self.sealed {
            return Ok(0);
        }
        let take = (CHUNK_SIZE - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(data.get(..take).unwrap_or(&[]));
        // A full chunk is never the final one, so it can be sealed now.
        if self.buf.len() == CHUNK_SIZE {
            self.seal_buffered(false)?;
        }
        Ok(take)
    }

    /// Seals the final chunk (what is buffered, possibly nothing) into
    /// [`pending`](Self::pending). Call it once, with no output pending.
    pub fn finish(&mut self) -> Result<()> {
        self.check_open()?;
        if self.sealed {
            return Err(Error::InvalidInput {
                what: "stream sealer",
                reason: "finish was called before the pending chunk was written",
            });
        }
        self.seal_buffered(true)?;
        self.state = State::Done;
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        match self.state {
            State::Open => Ok(()),
            State::Done => Err(Error::InvalidInput {
                what: "stream sealer",
                reason: "the final chunk was already sealed",
            }),
            State::Failed => Err(failed_earlier()),
        }
    }

    fn seal_buffered(&mut self, last: bool) -> Result<()> {
        let n = self.buf.len();
        self.buf.resize(n + TAG_LEN, 0);
        match self
            .sealer
            .seal_chunk_in_buf(self.index, &mut self.buf, last)
        {
            Ok(()) => {
                self.index += 1;
                self.sealed = true;
                self.out_pos = 0;
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed;
                self.buf.clear();
                Err(e)
            }
        }
    }
}

/// Reassembles sealed chunks from bytes that arrive in pieces and opens
/// each one; finds the final chunk by the end of input.
pub struct StreamOpener {
    opener: ChunkOpener,
    /// One sealed chunk being filled, or (after opening) plaintext at
    /// `pos..end`.
    buf: Zeroizing<Vec<u8>>,
    filled: usize,
    pos: usize,
    end: usize,
    index: u64,
    state: State,
}

impl fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOpener")
            .field("suite", &self.opener.suite())
            .field("next_chunk", &self.index)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl StreamOpener {
    /// Opens from chunk `first_index` on (0 for a whole body, positioned
    /// after its salt and commitment).
    pub fn new(opener: ChunkOpener, first_index: u64) -> Self {
        StreamOpener {
            opener,
            buf: Zeroizing::new(vec![0u8; SEALED_CHUNK_SIZE]),
            filled: 0,
            pos: 0,
            end: 0,
            index: first_index,
            state: State::Open,
        }
    }

    /// The suite.
    pub fn suite(&self) -> crate::Suite {
        self.opener.suite()
    }

    /// The index of the next chunk to open.
    pub fn next_chunk(&self) -> u64 {
        self.index
    }

    /// Authenticated plaintext not yet consumed.
    pub fn plaintext(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }

    /// Records that the first `n` bytes of [`plaintext`](Self::plaintext)
    /// were taken.
    pub fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.end);
    }

    /// Whether more sealed input is wanted: no plaintext waiting, the final
    /// chunk not yet opened, and no error.
    pub fn wants_input(&self) -> bool {
        self.state == State::Open && self.pos == self.end
    }

    /// Whether the final chunk authenticated and all plaintext was taken.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.pos == self.end
    }

    /// Whether an error stopped the stream.
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Where to read the next sealed bytes (empty unless
    /// [`wants_input`](Self::wants_input)).
    pub fn space(&mut self) -> &mut [u8] {
        if self.wants_input() {
            self.buf.get_mut(self.filled..).unwrap_or(&mut [])
        } else {
            &mut []
        }
    }

    /// Whether the next chunk may be read straight into the caller's
    /// buffer and opened there with [`open_in_place`](Self::open_in_place):
    /// input is wanted and no part of a chunk is buffered.
    pub fn at_chunk_boundary(&self) -> bool {
        self.wants_input() && self.filled == 0
    }

    /// Opens, in the caller's buffer, a full chunk read straight into
    /// place: its ciphertext (exactly [`CHUNK_SIZE`] bytes, decrypted in
    /// place) and the [`TAG_LEN`] bytes after it, so that no byte is copied
    /// through the stream's own buffer. Only at a chunk boundary; input
    /// shorter than a full chunk goes through [`space`](Self::space) and
    /// [`filled`](Self::filled) as usual. On failure `ciphertext` is wiped,
    /// the stream fails, and nothing is released.
    pub fn open_in_place(&mut self, ciphertext: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<()> {
        match self.state {
            State::Open => {}
            State::Done => return self.trailing(ciphertext.len() + TAG_LEN),
            State::Failed => return Err(failed_earlier()),
        }
        if !self.at_chunk_boundary() {
            return Err(Error::InvalidInput {
                what: "stream opener",
                reason: "a chunk opened in place must start at a chunk boundary",
            });
        }
        match self
            .opener
            .open_chunk_detached(self.index, ciphertext, tag, false)
        {
            Ok(()) => {
                self.index += 1;
                Ok(())
            }
            Err(e) => {
                ciphertext.zeroize();
                Err(self.fail(e))
            }
        }
    }

    /// Records `n` bytes read into [`space`](Self::space); `n == 0` means
    /// the end of input. Opens a chunk once it is complete: a full one as
    /// soon as it is full, the final one at the end of input.
    pub fn filled(&mut self, n: usize) -> Result<()> {
        match self.state {
            State::Open => {}
            State::Done => return self.trailing(n),
            State::Failed => return Err(failed_earlier()),
        }
        if self.pos != self.end {
            return Err(Error::InvalidInput {
                what: "stream opener",
                reason: "sealed input was given while plaintext was waiting",
            });
        }
        if n == 0 {
            if self.filled == 0 {
                return Err(self.fail(Error::Truncated {
                    detail: "the object ends on a chunk boundary: the final chunk is missing",
                }));
            }
            // A full chunk was opened as soon as it was full, so what is
            // buffered at the end of input is shorter: the final chunk.
            return self.open_buffered(true);
        }
        self.filled = self.filled.saturating_add(n).min(SEALED_CHUNK_SIZE);
        if self.filled == SEALED_CHUNK_SIZE {
            self.open_buffered(false)?;
        }
        Ok(())
    }

    /// Records `n` bytes found after the final chunk: none is the clean
    /// end of the object; any is [`Error::TrailingData`].
    pub fn trailing(&mut self, n: usize) -> Result<()> {
        match (self.state, n) {
            (State::Failed, _) => Err(failed_earlier()),
            (State::Done, 0) => Ok(()),
            (State::Done, _) => Err(self.fail(Error::TrailingData)),
            (State::Open, _) => Err(Error::InvalidInput {
                what: "stream opener",
                reason: "the final chunk was not opened yet",
            }),
        }
    }

    /// Stops the stream for an error found outside it (the input failed):
    /// nothing more is released.
    pub fn abort(&mut self) {
        self.state = State::Failed;
        self.pos = 0;
        self.end = 0;
        self.filled = 0;
    }

    fn fail(&mut self, e: Error) -> Error {
        self.abort();
        e
    }

    fn open_buffered(&mut self, last: bool) -> Result<()> {
        let sealed = self.buf.get_mut(..self.filled).unwrap_or(&mut []);
        match self.opener.open_chunk(self.index, sealed, last) {
            Ok(p) => {
                self.end = p.len();
                self.pos = 0;
                self.filled = 0;
                self.index += 1;
                if last {
                    self.state = State::Done;
                }
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
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
    use crate::{DataKey, Salt, Suite, codec};

    fn pair() -> (ChunkSealer, ChunkOpener, ChunkOpener) {
        let key = DataKey::from_bytes([9u8; 32]);
        let (s, prefix) = ChunkSealer::new(
            Suite::Aes256Gcm,
            &key,
            Salt::danger_from_bytes([2u8; 24]),
            b"c",
        )
        .unwrap();
        let o1 = ChunkOpener::new(Suite::Aes256Gcm, &key, &prefix, b"c").unwrap();
        let o2 = ChunkOpener::new(Suite::Aes256Gcm, &key, &prefix, b"c").unwrap();
        (s, o1, o2)
    }

    fn seal_in_pieces(s: ChunkSealer, plain: &[u8], piece: usize) -> Vec<u8> {
        let mut st = StreamSealer::new(s, 0);
        let mut out = Vec::new();
        let mut rest = plain;
        while !rest.is_empty() {
            let n = st.push(&rest[..piece.min(rest.len())]).unwrap();
            rest = &rest[n..];
            // Take the pending output a few bytes at a time.
            while !st.pending().is_empty() {
                let k = st.pending().len().min(7000);
                out.extend_from_slice(&st.pending()[..k]);
                st.advance(k);
            }
        }
        st.finish().unwrap();
        out.extend_from_slice(st.pending());
        let k = st.pending().len();
        st.advance(k);
        assert!(st.is_finished());
        assert!(st.push(b"x").is_err(), "pushed after finish");
        out
    }

    fn open_in_pieces(o: ChunkOpener, sealed: &[u8], piece: usize) -> Result<Vec<u8>> {
        let mut st = StreamOpener::new(o, 0);
        let mut out = Vec::new();
        let mut rest = sealed;
        while !st.is_done() {
            if st.wants_input() {
                let space = st.space();
                let n = space.len().min(piece).min(rest.len());
                space[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                st.filled(n)?;
            }
            let p = st.plaintext().len();
            out.extend_from_slice(st.plaintext());
            st.consume(p);
        }
        st.trailing(rest.len())?;
        Ok(out)
    }

    #[test]
    fn pieces_of_any_size_give_the_codec_bytes_and_back() {
        for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 3] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let (s, o, _) = pair();
            let mut want = vec![0u8; codec::sealed_run_len(len, true).unwrap()];
            codec::seal_into(&s, 0, &plain, true, &mut want, 1).unwrap();
            for piece in [1, 999, CHUNK_SIZE, 100_000] {
                if piece == 1 && len > CHUNK_SIZE {
                    continue;
                }
                let (s, o1, _) = pair();
                let sealed = seal_in_pieces(s, &plain, piece);
                assert!(sealed == want, "len {len} piece {piece}");
                assert!(open_in_pieces(o1, &sealed, piece).unwrap() == plain);
            }
            drop(o);
        }
    }

    #[test]
    fn truncation_and_trailing_data_are_named() {
        let plain = vec![5u8; 2 * CHUNK_SIZE];
        let (s, _, _) = pair();
        let sealed = seal_in_pieces(s, &plain, 4096);
        // Cut on a chunk boundary: the final chunk is missing.
        let (_, o, o2) = pair();
        let cut = &sealed[..2 * SEALED_CHUNK_SIZE];
        assert!(matches!(
            open_in_pieces(o, cut, 5000),
            Err(Error::Truncated { .. })
        ));
        // Cut inside a chunk: that chunk fails as the final one.
        assert!(matches!(
            open_in_pieces(o2, &sealed[..SEALED_CHUNK_SIZE + 100], 5000),
            Err(Error::ChunkAuthentication {
                index: 1,
                final_chunk: true
            })
        ));
        // Bytes after the final chunk.
        let (_, o, _) = pair();
        let mut st = StreamOpener::new(o, 0);
        for c in sealed.chunks(SEALED_CHUNK_SIZE) {
            let space = st.space();
            space[..c.len()].copy_from_slice(c);
            st.filled(c.len()).unwrap();
            let n = st.plaintext().len();
            st.consume(n);
        }
        st.filled(0).unwrap();
        assert!(st.is_done());
        assert!(matches!(st.trailing(1), Err(Error::TrailingData)));
        assert!(st.is_failed());
        assert!(st.plaintext().is_empty());
    }
}
