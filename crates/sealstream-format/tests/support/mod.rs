//! Helpers shared by roundtrip.rs, tamper.rs and props.rs: test keys and
//! headers, deterministic plaintext, every reading entry point behind one
//! signature, and an oracle (written from docs/FORMAT.md, not from the
//! crate) for what each entry point must do with a damaged body.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Cursor, Read, Seek, SeekFrom};

use sealstream_format::{
    BODY_PREFIX_LEN, CHUNK_SIZE, DataKey, DecryptingReader, EncryptionContext, Error, Header,
    KeyRecord, RandomAccess, RandomAccessReader, SEALED_CHUNK_SIZE, Salt, SealedReader, Suite,
    TAG_LEN, open_slice, seal_to_vec,
};

/// The data key of most tests. Distinctive bytes, so that a test can search
/// formatted output for them.
pub(crate) const KEY_BYTES: [u8; 32] = [
    0xd3, 0x5e, 0xa1, 0x9c, 0x47, 0xb2, 0x0f, 0xe8, 0x61, 0x3a, 0xc5, 0x7d, 0x92, 0x1b, 0xf4, 0x86,
    0x2e, 0xb9, 0x50, 0xca, 0x0d, 0x73, 0xe6, 0x48, 0xaf, 0x15, 0x8b, 0xd0, 0x3c, 0x69, 0xf7, 0x24,
];

/// A second key, for wrong-key and cross-object cases.
pub(crate) const OTHER_KEY_BYTES: [u8; 32] = [
    0x41, 0x0b, 0xee, 0x72, 0x9d, 0x36, 0xc8, 0x5a, 0x13, 0xf1, 0x84, 0x2f, 0x67, 0xbd, 0x08, 0xe3,
    0x95, 0x4c, 0x21, 0xda, 0x7e, 0xb6, 0x03, 0x58, 0xcf, 0x9a, 0x46, 0xe1, 0x1d, 0x80, 0x6b, 0x3f,
];

/// Full chunk plaintext size, as a `u64`.
pub(crate) const CHUNK: u64 = CHUNK_SIZE as u64;
/// Full sealed chunk size, as a `u64`.
pub(crate) const SEALED: u64 = SEALED_CHUNK_SIZE as u64;

/// Sizes every round trip covers (FORMAT.md, "Chunking": 0, 1, chunk-1,
/// chunk, chunk+1, k*chunk, k*chunk+1, and about 1 MiB that is not a
/// multiple of the chunk size).
pub(crate) const SIZES: [usize; 9] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    2 * CHUNK_SIZE,
    3 * CHUNK_SIZE,
    3 * CHUNK_SIZE + 1,
    (1 << 20) + 4321,
];

pub(crate) fn data_key() -> DataKey {
    DataKey::from_bytes(KEY_BYTES)
}

pub(crate) fn other_key() -> DataKey {
    DataKey::from_bytes(OTHER_KEY_BYTES)
}

/// The context pairs of [`context`], in wire (sorted) order.
pub(crate) const CONTEXT_PAIRS: [(&str, &str); 2] = [("app", "backup"), ("path", "db.tar")];

/// A non-empty encryption context.
pub(crate) fn context() -> EncryptionContext {
    EncryptionContext::from_pairs(CONTEXT_PAIRS).unwrap()
}

/// The provider, key id and wrapped bytes of [`record`]. The wrapped bytes
/// are a stand-in (nothing here unwraps them) and unrelated to the key.
pub(crate) const RECORD_PROVIDER: &str = "local";
pub(crate) const RECORD_KEY_ID: &str = "k1";
pub(crate) const RECORD_WRAPPED_LEN: usize = 60;

pub(crate) fn record() -> KeyRecord {
    KeyRecord::new(
        RECORD_PROVIDER,
        RECORD_KEY_ID,
        vec![0xAA; RECORD_WRAPPED_LEN],
    )
    .unwrap()
}

/// The object name of most tests.
pub(crate) const NAME: &str = "backups/db.tar";

/// The header of most tests: non-empty context, a name, one key record.
pub(crate) fn header(suite: Suite) -> Header {
    Header::new(suite, context(), NAME, vec![record()]).unwrap()
}

/// A fresh salt (the tests' records are stand-ins, so nothing binds it).
pub(crate) fn salt() -> Salt {
    Salt::generate().unwrap()
}

/// `len` bytes from a seeded xorshift generator: different for every seed,
/// and never all zero (a reader that returns zeros would not pass).
pub(crate) fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A sealed object together with what went into it.
pub(crate) struct Sealed {
    pub(crate) suite: Suite,
    pub(crate) header: Header,
    pub(crate) object: Vec<u8>,
    pub(crate) header_len: usize,
    pub(crate) plaintext: Vec<u8>,
}

impl Sealed {
    pub(crate) fn new(suite: Suite, len: usize, seed: u64) -> Self {
        Self::with_header(header(suite), &data_key(), len, seed)
    }

    pub(crate) fn with_header(header: Header, key: &DataKey, len: usize, seed: u64) -> Self {
        let plaintext = plaintext(len, seed);
        let object = seal_to_vec(&header, key, salt(), &plaintext).unwrap();
        Sealed {
            suite: header.suite(),
            header_len: header.encoded_len(),
            header,
            object,
            plaintext,
        }
    }

    pub(crate) fn header_bytes(&self) -> &[u8] {
        &self.object[..self.header_len]
    }

    pub(crate) fn body(&self) -> &[u8] {
        &self.object[self.header_len..]
    }

    /// The sealed chunks, split as FORMAT.md "Lengths and offsets" says.
    pub(crate) fn chunks(&self) -> Vec<&[u8]> {
        split_chunks(&self.body()[BODY_PREFIX_LEN..])
    }

    /// Object offset of chunk `j`.
    pub(crate) fn chunk_offset(&self, j: usize) -> usize {
        self.header_len + BODY_PREFIX_LEN + j * SEALED_CHUNK_SIZE
    }

    /// Plaintext of chunks `0..j`.
    pub(crate) fn plaintext_before_chunk(&self, j: usize) -> &[u8] {
        &self.plaintext[..(j * CHUNK_SIZE).min(self.plaintext.len())]
    }

    /// This object's header followed by `body`.
    pub(crate) fn with_body(&self, body: &[u8]) -> Vec<u8> {
        let mut out = self.header_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }
}

/// Splits the bytes after the body prefix into chunks of 16400 bytes, the
/// last one shorter (possibly empty when the input ends on a boundary).
pub(crate) fn split_chunks(chunks: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = chunks.chunks(SEALED_CHUNK_SIZE).collect();
    if chunks.len().is_multiple_of(SEALED_CHUNK_SIZE) {
        out.push(&[]);
    }
    out
}

/// A reader that hands out at most one byte per `read` call.
pub(crate) struct OneByte<R>(pub(crate) R);

impl<R: Read> Read for OneByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match buf.first_mut() {
            None => Ok(0),
            Some(b) => self.0.read(std::slice::from_mut(b)),
        }
    }
}

/// What one entry point made of an object.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Plaintext handed to the caller before the end or the error, in order.
    pub(crate) released: Vec<u8>,
    /// The plaintext length the entry point reported on success.
    pub(crate) len: u64,
    pub(crate) result: Result<(), Error>,
}

impl Outcome {
    fn ok(released: Vec<u8>) -> Self {
        Outcome {
            len: released.len() as u64,
            released,
            result: Ok(()),
        }
    }

    fn err(released: Vec<u8>, e: Error) -> Self {
        Outcome {
            len: released.len() as u64,
            released,
            result: Err(e),
        }
    }
}

/// In which order an entry point authenticates chunks, which decides the
/// chunk index it reports when several are damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// A streaming reader: chunks 0, 1, 2, ... as the bytes arrive.
    Stream,
    /// Random access that authenticates the final chunk first (it needs
    /// the length), then reads from chunk 0.
    FinalFirst,
    /// Random access that reads from chunk 0 forward.
    Sequential,
}

/// One way of reading an object.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) order: Order,
    /// Whether the entry point hands plaintext out chunk by chunk (so a
    /// prefix may be released before an error) or verifies only.
    pub(crate) releases: bool,
    pub(crate) run: fn(&[u8], &DataKey) -> Outcome,
}

/// Every reading entry point of the crate.
pub(crate) fn entries() -> Vec<Entry> {
    vec![
        Entry {
            name: "open_slice",
            order: Order::FinalFirst,
            releases: true,
            run: via_open_slice,
        },
        Entry {
            name: "SealedReader/DecryptingReader, 4096-byte reads",
            order: Order::Stream,
            releases: true,
            run: |o, k| via_stream(o, k, 4096),
        },
        Entry {
            name: "SealedReader/DecryptingReader, 16400-byte reads",
            order: Order::Stream,
            releases: true,
            run: |o, k| via_stream(o, k, SEALED_CHUNK_SIZE),
        },
        Entry {
            name: "DecryptingReader over a one-byte-per-read source",
            order: Order::Stream,
            releases: true,
            run: |o, k| via_stream_one_byte(o, k, 1000),
        },
        Entry {
            name: "DecryptingReader::verify_to_end",
            order: Order::Stream,
            releases: false,
            run: via_verify_to_end,
        },
        Entry {
            name: "RandomAccess: plaintext_len, then one read_exact_at",
            order: Order::FinalFirst,
            releases: true,
            run: via_ra_len_first,
        },
        Entry {
            name: "RandomAccess: read_at loop, 5000-byte reads",
            order: Order::Sequential,
            releases: true,
            run: |o, k| via_ra_sequential(o, k, 5000),
        },
        Entry {
            name: "RandomAccess: read_chunk loop",
            order: Order::Sequential,
            releases: true,
            run: via_ra_chunks,
        },
        Entry {
            name: "RandomAccessReader: read_to_end",
            order: Order::Sequential,
            releases: true,
            run: via_ra_reader,
        },
        Entry {
            name: "RandomAccessReader: seek End(0), then read_to_end",
            order: Order::FinalFirst,
            releases: true,
            run: via_ra_reader_seek_end,
        },
    ]
}

fn via_open_slice(object: &[u8], key: &DataKey) -> Outcome {
    match open_slice(object, key) {
        Ok((_, plain)) => Outcome::ok(plain),
        Err(e) => Outcome::err(Vec::new(), e),
    }
}

/// Reads a `DecryptingReader` to the end with `buf`-sized reads, keeping
/// what each successful `read` returned.
pub(crate) fn drain<R: Read>(mut r: DecryptingReader<R>, buf: usize) -> Outcome {
    let mut out = Vec::new();
    let mut b = vec![0u8; buf];
    loop {
        match r.read(&mut b) {
            Ok(0) => {
                assert!(r.is_done(), "read returned 0 before the final chunk");
                return Outcome::ok(out);
            }
            Ok(n) => out.extend_from_slice(&b[..n]),
            Err(e) => return Outcome::err(out, Error::from(e)),
        }
    }
}

pub(crate) fn via_stream(object: &[u8], key: &DataKey, buf: usize) -> Outcome {
    let opened = SealedReader::new(object).and_then(|s| s.open(key));
    match opened {
        Ok(r) => drain(r, buf),
        Err(e) => Outcome::err(Vec::new(), e),
    }
}

pub(crate) fn via_stream_one_byte(object: &[u8], key: &DataKey, buf: usize) -> Outcome {
    let opened = SealedReader::new(OneByte(object)).and_then(|s| s.open(key));
    match opened {
        Ok(r) => drain(r, buf),
        Err(e) => Outcome::err(Vec::new(), e),
    }
}

fn via_verify_to_end(object: &[u8], key: &DataKey) -> Outcome {
    let opened = SealedReader::new(object).and_then(|s| s.open(key));
    match opened.and_then(|mut r| r.verify_to_end()) {
        Ok(n) => Outcome {
            released: Vec::new(),
            len: n,
            result: Ok(()),
        },
        Err(e) => Outcome::err(Vec::new(), e),
    }
}

fn via_ra_len_first(object: &[u8], key: &DataKey) -> Outcome {
    let run = || -> Result<Vec<u8>, Error> {
        let ra = RandomAccess::open(object, key)?;
        let len = ra.plaintext_len()?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap()];
        ra.read_exact_at(&mut buf, 0)?;
        // Past the end: nothing, and no error.
        assert_eq!(ra.read_at(&mut [0u8; 8], len)?, 0);
        Ok(buf)
    };
    match run() {
        Ok(p) => Outcome::ok(p),
        Err(e) => Outcome::err(Vec::new(), e),
    }
}

pub(crate) fn via_ra_sequential(object: &[u8], key: &DataKey, step: usize) -> Outcome {
    let ra = match RandomAccess::open(object, key) {
        Ok(ra) => ra,
        Err(e) => return Outcome::err(Vec::new(), e),
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; step];
    loop {
        match ra.read_at(&mut buf, out.len() as u64) {
            Ok(0) => return Outcome::ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Outcome::err(out, e),
        }
    }
}

fn via_ra_chunks(object: &[u8], key: &DataKey) -> Outcome {
    let ra = match RandomAccess::open(object, key) {
        Ok(ra) => ra,
        Err(e) => return Outcome::err(Vec::new(), e),
    };
    let mut out = Vec::new();
    for i in 0..ra.chunk_count() {
        match ra.read_chunk(i) {
            Ok(c) => out.extend_from_slice(&c),
            Err(e) => return Outcome::err(out, e),
        }
    }
    Outcome::ok(out)
}

fn via_ra_reader(object: &[u8], key: &DataKey) -> Outcome {
    let mut r = match RandomAccessReader::open(Cursor::new(object), key) {
        Ok(r) => r,
        Err(e) => return Outcome::err(Vec::new(), e),
    };
    let mut out = Vec::new();
    match r.read_to_end(&mut out) {
        Ok(_) => Outcome::ok(out),
        Err(e) => Outcome::err(out, Error::from(e)),
    }
}

fn via_ra_reader_seek_end(object: &[u8], key: &DataKey) -> Outcome {
    let mut r = match RandomAccessReader::open(Cursor::new(object), key) {
        Ok(r) => r,
        Err(e) => return Outcome::err(Vec::new(), e),
    };
    let end = match r.seek(SeekFrom::End(0)) {
        Ok(end) => end,
        Err(e) => return Outcome::err(Vec::new(), Error::from(e)),
    };
    let mut out = Vec::new();
    let res = r
        .seek(SeekFrom::Start(0))
        .and_then(|_| r.read_to_end(&mut out));
    match res {
        Ok(_) => {
            assert_eq!(end, out.len() as u64, "seek End(0) disagrees with the data");
            Outcome::ok(out)
        }
        Err(e) => Outcome::err(out, Error::from(e)),
    }
}

/// The outcome an entry point must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Opens, to this plaintext.
    Plaintext(Vec<u8>),
    NotSealstream,
    UnsupportedVersion(u8),
    UnsupportedSuite(u8),
    Malformed,
    Limit,
    /// A structural header field was changed: malformed or over a limit.
    MalformedOrLimit,
    Truncated,
    Commitment,
    Chunk {
        index: u64,
        final_chunk: bool,
    },
}

impl Want {
    pub(crate) fn matches(&self, e: &Error) -> bool {
        match (self, e) {
            (Want::NotSealstream, Error::NotSealstream)
            | (Want::Malformed | Want::MalformedOrLimit, Error::MalformedHeader { .. })
            | (Want::Limit | Want::MalformedOrLimit, Error::LimitExceeded { .. })
            | (Want::Truncated, Error::Truncated { .. })
            | (Want::Commitment, Error::CommitmentMismatch) => true,
            (Want::UnsupportedVersion(a), Error::UnsupportedVersion(b))
            | (Want::UnsupportedSuite(a), Error::UnsupportedSuite(b)) => a == b,
            (
                Want::Chunk { index, final_chunk },
                Error::ChunkAuthentication {
                    index: i,
                    final_chunk: f,
                },
            ) => index == i && final_chunk == f,
            _ => false,
        }
    }
}

/// Runs `object` through every entry point and checks each against `want`.
/// On an error, a streaming entry point must have released exactly
/// `stream_released` (the plaintext of the chunks before the damaged one)
/// and a random-access one a prefix of it; nothing else.
pub(crate) fn check_all(
    case: &str,
    object: &[u8],
    key: &DataKey,
    want: impl Fn(Order) -> Want,
    stream_released: &[u8],
) {
    for entry in entries() {
        let w = want(entry.order);
        let out = (entry.run)(object, key);
        check_one(case, &entry, &out, &w, stream_released);
    }
}

pub(crate) fn check_one(case: &str, entry: &Entry, out: &Outcome, want: &Want, prefix: &[u8]) {
    let name = entry.name;
    match (want, &out.result) {
        (Want::Plaintext(p), Ok(())) => {
            assert_eq!(out.len, p.len() as u64, "{case}: {name}: wrong length");
            if entry.releases {
                assert!(out.released == *p, "{case}: {name}: wrong plaintext");
            }
        }
        (Want::Plaintext(_), Err(e)) => {
            panic!("{case}: {name}: expected to open, got {e:?} ({e})")
        }
        (w, Ok(())) => panic!(
            "{case}: {name}: expected {w:?}, but it opened ({} bytes)",
            out.len
        ),
        (w, Err(e)) => {
            assert!(w.matches(e), "{case}: {name}: expected {w:?}, got {e:?}");
            if !entry.releases {
                return;
            }
            if entry.order == Order::Stream {
                assert!(
                    out.released == prefix,
                    "{case}: {name}: released {} bytes before the error, expected exactly \
                     the {} bytes of the chunks before the damaged one",
                    out.released.len(),
                    prefix.len()
                );
            } else {
                assert!(
                    out.released.len() <= prefix.len()
                        && out.released == prefix[..out.released.len()],
                    "{case}: {name}: released {} bytes that are not a prefix of the \
                     {} authentic bytes",
                    out.released.len(),
                    prefix.len()
                );
            }
        }
    }
}

/// What each kind of entry point must make of a damaged body.
#[derive(Clone, Debug)]
pub(crate) struct BodyExpect {
    pub(crate) stream: Want,
    pub(crate) final_first: Want,
    pub(crate) sequential: Want,
    /// The plaintext a streaming reader releases before it fails.
    pub(crate) released: Vec<u8>,
}

impl BodyExpect {
    fn all(w: Want) -> Self {
        BodyExpect {
            stream: w.clone(),
            final_first: w.clone(),
            sequential: w,
            released: Vec::new(),
        }
    }

    pub(crate) fn want(&self, order: Order) -> Want {
        match order {
            Order::Stream => self.stream.clone(),
            Order::FinalFirst => self.final_first.clone(),
            Order::Sequential => self.sequential.clone(),
        }
    }
}

/// What every entry point must make of `orig`'s header followed by `body`
/// (a damaged body), read with the right key. Derived from FORMAT.md
/// ("Reading", "Lengths and offsets"), not from the crate: a chunk
/// authenticates only at its own index, with its own length, and as final
/// only if it was sealed as final.
pub(crate) fn expect_body(orig: &Sealed, body: &[u8]) -> BodyExpect {
    expect_body_prefix(orig, body, false)
}

/// [`expect_body`] for a body whose salt and commitment may come from
/// another object sealed under the same key and header
/// (`foreign_prefix_valid`): the commitment then verifies, but the derived
/// key differs, so no chunk of `orig` authenticates.
pub(crate) fn expect_body_prefix(
    orig: &Sealed,
    body: &[u8],
    foreign_prefix_valid: bool,
) -> BodyExpect {
    if body.len() < BODY_PREFIX_LEN {
        return BodyExpect::all(Want::Truncated);
    }
    let own_prefix = body[..BODY_PREFIX_LEN] == orig.body()[..BODY_PREFIX_LEN];
    if !own_prefix && !foreign_prefix_valid {
        return BodyExpect::all(Want::Commitment);
    }
    let orig_chunks = orig.chunks();
    let orig_final = orig_chunks.len() - 1;
    let rest = &body[BODY_PREFIX_LEN..];
    let k = rest.len() / SEALED_CHUNK_SIZE;
    let f = rest.len() % SEALED_CHUNK_SIZE;
    let chunks = split_chunks(rest);
    let valid = |i: usize| -> bool {
        own_prefix
            && i < orig_chunks.len()
            && chunks[i] == orig_chunks[i]
            && (i == k) == (i == orig_final)
    };
    let bad = |i: usize| Want::Chunk {
        index: i as u64,
        final_chunk: i == k,
    };

    // Streaming (Reading, step 9): full chunks in order, then the short one.
    let (stream, released) = match (0..k).find(|&i| !valid(i)) {
        Some(i) => (bad(i), orig.plaintext_before_chunk(i).to_vec()),
        None => {
            let w = if f < TAG_LEN {
                Want::Truncated
            } else if !valid(k) {
                bad(k)
            } else {
                Want::Plaintext(orig.plaintext.clone())
            };
            (w, orig.plaintext_before_chunk(k).to_vec())
        }
    };
    // Random access checks the length before any chunk.
    if f < TAG_LEN {
        return BodyExpect {
            stream,
            final_first: Want::Truncated,
            sequential: Want::Truncated,
            released,
        };
    }
    let sequential = match (0..=k).find(|&i| !valid(i)) {
        None => Want::Plaintext(orig.plaintext.clone()),
        Some(i) => bad(i),
    };
    let final_first = if valid(k) { sequential.clone() } else { bad(k) };
    BodyExpect {
        stream,
        final_first,
        sequential,
        released,
    }
}

/// Runs `orig`'s header followed by `body` through every entry point and
/// checks each against [`expect_body`].
pub(crate) fn check_body(case: &str, orig: &Sealed, body: &[u8]) -> BodyExpect {
    check_body_prefix(case, orig, body, false)
}

/// [`check_body`] with [`expect_body_prefix`].
pub(crate) fn check_body_prefix(
    case: &str,
    orig: &Sealed,
    body: &[u8],
    foreign_prefix_valid: bool,
) -> BodyExpect {
    let exp = expect_body_prefix(orig, body, foreign_prefix_valid);
    check_all(
        case,
        &orig.with_body(body),
        &data_key(),
        |o| exp.want(o),
        &exp.released,
    );
    exp
}

/// Every `Debug` and `Display` rendering must be free of the test key:
/// its raw bytes, its hex (either case) and its decimal `Debug` form.
pub(crate) fn assert_no_key_material(what: &str, text: &str) {
    let raw = text.as_bytes();
    for key in [&KEY_BYTES, &OTHER_KEY_BYTES] {
        for w in key.windows(6) {
            assert!(
                !raw.windows(w.len()).any(|x| x == w),
                "{what} contains raw key bytes: {text}"
            );
            let lower: String = w.iter().map(|b| format!("{b:02x}")).collect();
            let lower_text = text.to_ascii_lowercase();
            assert!(
                !lower_text.contains(&lower),
                "{what} contains key bytes in hex: {text}"
            );
        }
        for w in key.windows(3) {
            let dec = format!("{}, {}, {}", w[0], w[1], w[2]);
            let hex = format!("{:x}, {:x}, {:x}", w[0], w[1], w[2]);
            let alt_hex = format!("{:#x}, {:#x}, {:#x}", w[0], w[1], w[2]);
            let lower_text = text.to_ascii_lowercase();
            assert!(
                !text.contains(&dec)
                    && !lower_text.contains(&hex)
                    && !lower_text.contains(&alt_hex),
                "{what} contains key bytes as a list: {text}"
            );
        }
    }
}
