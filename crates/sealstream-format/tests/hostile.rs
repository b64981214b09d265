#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! Hostile headers: giant declared lengths, counts far above the limits, as many real records
//! as fit in 64 KiB, headers at exactly the 64 KiB limit and one byte over, invalid UTF-8,
//! duplicate and unsorted context keys, and a `header_len` that lies in each direction.
//!
//! Every case goes through every header entry point: `Header::parse`, `Header::parse_prefix`,
//! `Header::read_from`, `SealedReader`, `read_header_at`, `RandomAccess` and
//! `RandomAccessReader`, once with the bytes alone and once followed by gigabytes of zeros
//! (a reader must stop after at most 64 KiB of header). Each must give the error
//! docs/FORMAT.md, Reading, names, and none may allocate more than [`MEMORY_BOUND`] bytes
//! while doing so: this test binary counts every heap byte with `peak_alloc`'s global
//! allocator (the workspace forbids `unsafe` even in tests, so the counting allocator comes
//! from that crate instead of being written here).

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use peak_alloc::PeakAlloc;
use sealstream_format::{
    BODY_PREFIX_LEN, DataKey, EncryptionContext, Error, Header, HeaderParse, KeyRecord, MAGIC,
    MAX_HEADER_LEN, PEEK_LEN, RandomAccess, RandomAccessReader, ReadAt, SEALED_CHUNK_SIZE,
    SealedReader, Suite, layout, read_header_at, seal_to_vec,
};

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

/// The most heap a header entry point may use on any input, live bytes at its peak: 16 times
/// the largest header, far below what a declared length taken at its word would cost (4 GiB).
const MEMORY_BOUND: usize = 1 << 20;

/// "Gigabytes" of input behind a hostile prefix.
const FLOOD: u64 = 4 << 30;

/// Bytes a reader may consume for the header, the body prefix and one chunk.
const READ_BOUND: u64 = (PEEK_LEN + MAX_HEADER_LEN + BODY_PREFIX_LEN + SEALED_CHUNK_SIZE) as u64;

/// The peak counter is global: measured sections run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` and fails if the heap grew by [`MEMORY_BOUND`] or more at any point during it.
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    PEAK.reset_peak_usage();
    let base = PEAK.current_usage();
    let out = f();
    let peak = PEAK.peak_usage().saturating_sub(base);
    assert!(
        peak < MEMORY_BOUND,
        "{what}: peak heap use {peak} bytes, bound {MEMORY_BOUND}"
    );
    out
}

fn key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

/// Header bytes written field by field, lengths as given (hostile or not).
struct Raw(Vec<u8>);

impl Raw {
    /// Magic, a `header_len` placeholder, version 1 and `suite`.
    fn new(suite: u8) -> Self {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&[1, suite]);
        Raw(b)
    }

    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }

    /// `n` zero bytes: filler after the field a case breaks, so that the header is not
    /// refused for being shorter than the 25-byte minimum first.
    fn pad(self, n: usize) -> Self {
        self.bytes(&vec![0; n])
    }

    /// A context pair with honest lengths.
    fn pair(self, key: &[u8], value: &[u8]) -> Self {
        self.u8(key.len() as u8)
            .bytes(key)
            .u16(value.len() as u16)
            .bytes(value)
    }

    /// A key record with honest lengths.
    fn record(self, provider: &[u8], key_id: &[u8], wrapped: &[u8]) -> Self {
        self.u8(provider.len() as u8)
            .bytes(provider)
            .u16(key_id.len() as u16)
            .bytes(key_id)
            .u16(wrapped.len() as u16)
            .bytes(wrapped)
    }

    /// The bytes, with `header_len` set to their length.
    fn finish(self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.declaring(len)
    }

    /// The bytes, with `header_len` set to `declared` whatever their length.
    fn declaring(mut self, declared: u32) -> Vec<u8> {
        self.0[8..12].copy_from_slice(&declared.to_be_bytes());
        self.0
    }
}

/// What every entry point must answer.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// A valid header.
    Ok,
    /// `LimitExceeded` for a quantity whose description contains the text, with this value.
    Limit(&'static str, u64),
    /// `MalformedHeader` naming this field.
    Malformed(&'static str),
    /// `Truncated` (a slice parser says `NeedMore`).
    Truncated,
}

/// A result with its value dropped, for [`check`].
fn res<T>(r: &Result<T, Error>) -> Result<(), &Error> {
    r.as_ref().map(drop)
}

fn check(case: &str, path: &str, want: Expect, got: Result<(), &Error>) {
    let ok = match (want, got) {
        (Expect::Ok, Ok(())) => true,
        (
            Expect::Limit(what, value),
            Err(Error::LimitExceeded {
                what: w, actual, ..
            }),
        ) => w.contains(what) && *actual == value,
        (Expect::Malformed(field), Err(Error::MalformedHeader { field: f, .. })) => *f == field,
        (Expect::Truncated, Err(Error::Truncated { .. })) => true,
        _ => false,
    };
    assert!(
        ok,
        "{case}, {path}: expected {want:?}, got {:?}",
        got.map_err(ToString::to_string)
    );
}

/// Object bytes: `prefix`, then zeros up to `size`, served through `Read`, `Seek` and `ReadAt`
/// without ever being held in memory. Counts the bytes it serves.
struct Flood {
    prefix: Vec<u8>,
    size: u64,
    pos: u64,
    served: AtomicU64,
}

impl Flood {
    fn new(prefix: &[u8], size: u64) -> Self {
        Flood {
            prefix: prefix.to_vec(),
            size,
            pos: 0,
            served: AtomicU64::new(0),
        }
    }

    fn fill(&self, buf: &mut [u8], offset: u64) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = usize::try_from(offset + i as u64)
                .ok()
                .and_then(|at| self.prefix.get(at))
                .copied()
                .unwrap_or(0);
        }
        self.served.fetch_add(buf.len() as u64, Ordering::Relaxed);
    }

    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Read for Flood {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.size - self.pos).unwrap_or(usize::MAX));
        self.fill(&mut buf[..n], self.pos);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Flood {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.size.checked_add_signed(d).unwrap(),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).unwrap(),
        };
        Ok(self.pos)
    }
}

impl ReadAt for Flood {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.size {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.fill(buf, offset);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }
}

/// A reader that counts what it hands out.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Runs `bytes` through every entry point: `alone` is the answer for the bytes by
/// themselves, `flooded` for the bytes followed by gigabytes of zeros.
fn run_case(case: &str, bytes: &[u8], alone: Expect, flooded: Expect) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let parsed = bounded(case, || Header::parse(bytes));
    check(case, "Header::parse", alone, res(&parsed));
    let prefix = bounded(case, || Header::parse_prefix(bytes));
    let prefix = match prefix {
        Ok(HeaderParse::NeedMore { needed }) => {
            assert!(needed > bytes.len() && needed <= MAX_HEADER_LEN, "{case}");
            Err(Error::Truncated { detail: "NeedMore" })
        }
        Ok(HeaderParse::Complete { len, .. }) => {
            assert_eq!(
                len,
                bytes.len(),
                "{case}: parse_prefix took a different length"
            );
            Ok(())
        }
        Err(e) => Err(e),
    };
    check(case, "Header::parse_prefix", alone, res(&prefix));

    let read = bounded(case, || Header::read_from(&mut &bytes[..]));
    check(case, "Header::read_from", alone, res(&read));
    let sealed = bounded(case, || SealedReader::new(bytes));
    check(case, "SealedReader::new", alone, res(&sealed));
    if let Ok(reader) = sealed {
        // The body is missing.
        let opened = bounded(case, || reader.open(&key()));
        check(case, "SealedReader::open", Expect::Truncated, res(&opened));
    }
    let at = bounded(case, || read_header_at(bytes));
    check(case, "read_header_at", alone, res(&at));
    let random = bounded(case, || RandomAccess::open(bytes, &key()));
    let random_want = if matches!(alone, Expect::Ok) {
        Expect::Truncated
    } else {
        alone
    };
    check(case, "RandomAccess::open", random_want, res(&random));

    // Gigabytes behind the prefix: nothing may read on past the header (and the body prefix,
    // whose zeros then fail the commitment).
    let mut stream = Counting {
        inner: Cursor::new(bytes).chain(io::repeat(0).take(FLOOD)),
        read: 0,
    };
    let read = bounded(case, || Header::read_from(&mut stream));
    check(case, "Header::read_from (flood)", flooded, res(&read));
    assert!(
        stream.read <= MAX_HEADER_LEN as u64,
        "{case}: read {} bytes",
        stream.read
    );

    let mut flood = Flood::new(bytes, FLOOD);
    let sealed = bounded(case, || SealedReader::new(&mut flood));
    check(case, "SealedReader::new (flood)", flooded, res(&sealed));
    if let Ok(reader) = sealed {
        let opened = bounded(case, || reader.open(&key()));
        assert!(
            matches!(opened, Err(Error::CommitmentMismatch)),
            "{case}: SealedReader::open (flood) gave {:?}",
            opened.map(drop)
        );
    }
    assert!(
        flood.served() <= READ_BOUND,
        "{case}: {} bytes",
        flood.served()
    );

    let flood = Flood::new(bytes, FLOOD << 8);
    let at = bounded(case, || read_header_at(&flood));
    check(case, "read_header_at (flood)", flooded, res(&at));
    let random = bounded(case, || RandomAccess::open(&flood, &key()));
    let random_want = match flooded {
        Expect::Ok => None,
        other => Some(other),
    };
    match random_want {
        Some(want) => check(case, "RandomAccess::open (flood)", want, res(&random)),
        None => assert!(
            matches!(random, Err(Error::CommitmentMismatch)),
            "{case}: RandomAccess::open (flood) gave {:?}",
            random.map(drop)
        ),
    }
    assert!(
        flood.served() <= 2 * READ_BOUND,
        "{case}: {} bytes",
        flood.served()
    );

    let flood = Flood::new(bytes, FLOOD);
    let reader = bounded(case, || RandomAccessReader::open(flood, &key()));
    match random_want {
        Some(want) => check(case, "RandomAccessReader (flood)", want, res(&reader)),
        None => assert!(
            matches!(reader, Err(Error::CommitmentMismatch)),
            "{case}: RandomAccessReader::open (flood) gave {:?}",
            reader.map(drop)
        ),
    }
}

/// A case whose declared `header_len` covers exactly its bytes: the flood is never reached.
fn run_exact(case: &str, bytes: &[u8], want: Expect) {
    run_case(case, bytes, want, want);
}

#[test]
fn giant_declared_header_len() {
    let body = Raw::new(1).u16(0).u16(1).record(b"local", b"", &[1]);
    for declared in [
        u32::MAX,
        0x8000_0000,
        0x00FF_FFFF,
        MAX_HEADER_LEN as u32 + 1,
    ] {
        let bytes = Raw(body.0.clone()).declaring(declared);
        let want = Expect::Limit("header length", u64::from(declared));
        run_case(&format!("header_len {declared:#x}"), &bytes, want, want);
    }
    for declared in [0, 1, 12, 24] {
        let bytes = Raw(body.0.clone()).declaring(declared);
        let want = Expect::Malformed("header_len");
        run_case(&format!("header_len {declared}"), &bytes, want, want);
    }
}

#[test]
fn giant_field_lengths_with_little_data() {
    let value_ffff = || {
        Raw::new(1)
            .u16(1)
            .u8(1)
            .bytes(b"a")
            .u16(0xFFFF)
            .bytes(b"abcdefgh")
    };
    run_exact(
        "value_len 0xFFFF",
        &value_ffff().finish(),
        Expect::Limit("value", 0xFFFF),
    );
    // Declared 64 KiB: by itself the header is incomplete; with zeros behind it, value_len
    // is refused before any value byte is read.
    run_case(
        "value_len 0xFFFF, header_len 65536",
        &value_ffff().declaring(MAX_HEADER_LEN as u32),
        Expect::Truncated,
        Expect::Limit("value", 0xFFFF),
    );
    run_exact(
        "value_len 1024, 8 bytes",
        &Raw::new(1)
            .u16(1)
            .u8(1)
            .bytes(b"a")
            .u16(1024)
            .bytes(b"abcdefgh")
            .finish(),
        Expect::Malformed("context value"),
    );

    let record_head = || Raw::new(2).u16(0).u16(1).u8(5).bytes(b"local");
    run_exact(
        "key_id_len 0xFFFF",
        &record_head().u16(0xFFFF).bytes(b"k1").finish(),
        Expect::Limit("key id", 0xFFFF),
    );
    run_exact(
        "key_id_len 2048, 2 bytes",
        &record_head().u16(2048).bytes(b"k1").finish(),
        Expect::Malformed("key_id"),
    );
    let wrapped_ffff = record_head().u16(0).u16(0xFFFF).bytes(&[0xAA; 4]);
    run_exact(
        "wrapped_len 0xFFFF",
        &Raw(wrapped_ffff.0.clone()).finish(),
        Expect::Limit("wrapped", 0xFFFF),
    );
    run_case(
        "wrapped_len 0xFFFF, header_len 65536",
        &Raw(wrapped_ffff.0).declaring(MAX_HEADER_LEN as u32),
        Expect::Truncated,
        Expect::Limit("wrapped", 0xFFFF),
    );
    run_exact(
        "wrapped_len 8192, 4 bytes",
        &record_head().u16(0).u16(8192).bytes(&[0xAA; 4]).finish(),
        Expect::Malformed("wrapped"),
    );
    run_exact(
        "context_count 0xFFFF",
        &Raw::new(1).u16(0xFFFF).pair(b"a", b"b").pad(8).finish(),
        Expect::Limit("pair count", 0xFFFF),
    );
    run_exact(
        "key_len 200",
        &Raw::new(1).u16(1).u8(200).bytes(b"abc").pad(8).finish(),
        Expect::Limit("context key", 200),
    );
    run_exact(
        "provider_len 33",
        &Raw::new(1)
            .u16(0)
            .u16(1)
            .u8(33)
            .bytes(&[b'a'; 33])
            .u16(0)
            .u16(1)
            .u8(1)
            .finish(),
        Expect::Limit("provider", 33),
    );
    run_exact(
        "provider_len 0xFF, 2 bytes",
        &Raw::new(1)
            .u16(0)
            .u16(1)
            .u8(0xFF)
            .bytes(b"ab")
            .pad(8)
            .finish(),
        Expect::Limit("provider", 0xFF),
    );
    run_exact(
        "provider_len 0",
        &Raw::new(1)
            .u16(0)
            .u16(1)
            .u8(0)
            .u16(0)
            .u16(1)
            .u8(1)
            .pad(8)
            .finish(),
        Expect::Malformed("provider"),
    );
    run_exact(
        "wrapped_len 0",
        &Raw::new(1)
            .u16(0)
            .u16(1)
            .u8(1)
            .bytes(b"a")
            .u16(0)
            .u16(0)
            .pad(8)
            .finish(),
        Expect::Malformed("wrapped"),
    );
}

#[test]
fn record_count_far_above_the_limit() {
    run_exact(
        "record_count 0xFFFF, no records",
        &Raw::new(1).u16(0).u16(0xFFFF).pad(8).finish(),
        Expect::Limit("record count", 0xFFFF),
    );
    // As many real 7-byte records as fit in 64 KiB: 9359.
    let fit = (MAX_HEADER_LEN - 12 - 4 - 2) / 7;
    assert_eq!(fit, 9359);
    for declared in [0xFFFF, fit as u16, 33] {
        let mut raw = Raw::new(1).u16(0).u16(declared);
        for _ in 0..fit {
            raw = raw.record(b"a", b"", &[1]);
        }
        let bytes = raw.finish();
        assert!(bytes.len() <= MAX_HEADER_LEN);
        run_exact(
            &format!("record_count {declared}, {fit} real records"),
            &bytes,
            Expect::Limit("record count", u64::from(declared)),
        );
    }
    run_exact(
        "record_count 0",
        &Raw::new(1).u16(0).u16(0).pad(8).finish(),
        Expect::Malformed("record_count"),
    );
}

fn max_key(i: usize) -> Vec<u8> {
    format!("{i:03}")
        .bytes()
        .chain(std::iter::repeat_n(b'k', 125))
        .collect()
}

#[test]
fn deep_repetition_at_maximum_sizes() {
    // 64 context pairs at 128 + 1024 bytes: 73924 bytes of bound section.
    let mut pairs = Raw::new(1).u16(64);
    for i in 0..64 {
        pairs = pairs.pair(&max_key(i), &[b'v'; 1024]);
    }
    let pairs = pairs.u16(1).record(b"local", b"", &[1]);
    let real = pairs.0.len() as u64;
    assert_eq!(real, 12 + 73924 + 13);
    run_exact(
        "64 pairs at max sizes",
        &Raw(pairs.0.clone()).finish(),
        Expect::Limit("header length", real),
    );
    // The same bytes declaring 64 KiB: the 57th value runs past header_len.
    run_exact(
        "64 pairs at max sizes, header_len 65536",
        &Raw(pairs.0).declaring(MAX_HEADER_LEN as u32),
        Expect::Malformed("context value"),
    );

    // 32 records at 32 + 2048 + 8192 bytes: 328866 bytes of key block.
    let mut records = Raw::new(2).u16(0).u16(32);
    for i in 0..32 {
        let provider = format!("p{i:02}{}", "x".repeat(29));
        records = records.record(provider.as_bytes(), &[b'i'; 2048], &[0xAA; 8192]);
    }
    let real = records.0.len() as u64;
    assert_eq!(real, 12 + 4 + 328_866);
    run_exact(
        "32 records at max sizes",
        &Raw(records.0.clone()).finish(),
        Expect::Limit("header length", real),
    );
    run_exact(
        "32 records at max sizes, header_len 65536",
        &Raw(records.0).declaring(MAX_HEADER_LEN as u32),
        Expect::Malformed("wrapped"),
    );
}

/// 56 pairs at maximum size and one `local` record with `wrapped` of `wrapped_len` bytes:
/// 12 + 4 + 56 * 1155 + 2 + 10 + wrapped_len bytes.
fn near_limit_pairs(wrapped_len: usize) -> (EncryptionContext, Vec<KeyRecord>) {
    let context = EncryptionContext::from_pairs(
        (0..56).map(|i| (String::from_utf8(max_key(i)).unwrap(), "v".repeat(1024))),
    )
    .unwrap();
    let record = KeyRecord::new("local", "", vec![0xAA; wrapped_len]).unwrap();
    (context, vec![record])
}

/// 32 records of 32-byte providers, 2048-byte key ids and wrapped keys sized so that the
/// header is `total` bytes long.
fn near_limit_records(total: usize) -> Vec<KeyRecord> {
    // Magic and header_len, version, suite, context_count, record_count; then per record
    // provider_len, provider, key_id_len, wrapped_len.
    let fixed = 12 + 4 + 2 + 32 * (1 + 32 + 2 + 2);
    let wrapped = total - fixed;
    (0..32)
        .map(|i| {
            let w = wrapped / 32 + if i == 31 { wrapped % 32 } else { 0 };
            let provider = format!("p{i:02}{}", "x".repeat(29));
            KeyRecord::new(provider, "", vec![0xBB; w]).unwrap()
        })
        .collect()
}

#[test]
fn header_at_exactly_the_limit_and_one_byte_over() {
    let (context, records) = near_limit_pairs(828);
    let header = Header::new(Suite::Aes256Gcm, context, records).unwrap();
    let bytes = header.encode();
    assert_eq!(bytes.len(), MAX_HEADER_LEN);
    run_case(
        "56 max pairs, exactly 65536 bytes",
        &bytes,
        Expect::Ok,
        Expect::Ok,
    );

    let (context, records) = near_limit_pairs(829);
    let refused = Header::new(Suite::Aes256Gcm, context.clone(), records.clone());
    assert!(
        matches!(refused, Err(Error::LimitExceeded { actual: 65537, .. })),
        "{refused:?}"
    );
    let mut raw = Raw::new(1).u16(56);
    for (k, v) in context.iter() {
        raw = raw.pair(k.as_bytes(), v.as_bytes());
    }
    let bytes = raw.u16(1).record(b"local", b"", &[0xAA; 829]).finish();
    assert_eq!(bytes.len(), MAX_HEADER_LEN + 1);
    run_exact(
        "56 max pairs, 65537 bytes",
        &bytes,
        Expect::Limit("header length", 65537),
    );

    let records = near_limit_records(MAX_HEADER_LEN);
    let header = Header::new(Suite::XChaCha20Poly1305, EncryptionContext::new(), records).unwrap();
    let bytes = header.encode();
    assert_eq!(bytes.len(), MAX_HEADER_LEN);
    run_case(
        "32 records, exactly 65536 bytes",
        &bytes,
        Expect::Ok,
        Expect::Ok,
    );

    let records = near_limit_records(MAX_HEADER_LEN + 1);
    let refused = Header::new(
        Suite::XChaCha20Poly1305,
        EncryptionContext::new(),
        records.clone(),
    );
    assert!(
        matches!(refused, Err(Error::LimitExceeded { actual: 65537, .. })),
        "{refused:?}"
    );
    let mut raw = Raw::new(2).u16(0).u16(32);
    for r in &records {
        raw = raw.record(r.provider().as_bytes(), r.key_id().as_bytes(), r.wrapped());
    }
    let bytes = raw.finish();
    assert_eq!(bytes.len(), MAX_HEADER_LEN + 1);
    run_exact(
        "32 records, 65537 bytes",
        &bytes,
        Expect::Limit("header length", 65537),
    );
    // A 33rd record in a header that is otherwise valid.
    let mut raw = Raw::new(1).u16(0).u16(33);
    for _ in 0..33 {
        raw = raw.record(b"local", b"k", &[1; 61]);
    }
    run_exact(
        "33 records",
        &raw.finish(),
        Expect::Limit("record count", 33),
    );
}

#[test]
fn invalid_utf8_in_every_text_field() {
    let bad: [(&str, &[u8]); 5] = [
        ("0xFF", &[0xFF, 0xFE]),
        ("cut sequence", &[b'a', 0xC3]),
        ("overlong slash", &[0xC0, 0xAF]),
        ("surrogate", &[0xED, 0xA0, 0x80]),
        ("above U+10FFFF", &[0xF4, 0x90, 0x80, 0x80]),
    ];
    for (name, b) in bad {
        run_exact(
            &format!("context key {name}"),
            &Raw::new(1)
                .u16(1)
                .pair(b, b"v")
                .u16(1)
                .record(b"a", b"", &[1])
                .finish(),
            Expect::Malformed("context key"),
        );
        run_exact(
            &format!("context value {name}"),
            &Raw::new(1)
                .u16(1)
                .pair(b"k", b)
                .u16(1)
                .record(b"a", b"", &[1])
                .finish(),
            Expect::Malformed("context value"),
        );
        run_exact(
            &format!("key_id {name}"),
            &Raw::new(1).u16(0).u16(1).record(b"local", b, &[1]).finish(),
            Expect::Malformed("key_id"),
        );
        run_exact(
            &format!("provider {name}"),
            &Raw::new(1).u16(0).u16(1).record(b, b"", &[1]).finish(),
            Expect::Malformed("provider"),
        );
    }
}

/// A context pair as raw key and value bytes.
type Pair<'a> = (&'a [u8], &'a [u8]);

#[test]
fn duplicate_unsorted_and_reserved_context_keys() {
    let header = |pairs: &[Pair<'_>]| {
        let mut raw = Raw::new(1).u16(pairs.len() as u16);
        for (k, v) in pairs {
            raw = raw.pair(k, v);
        }
        raw.u16(1).record(b"local", b"", &[1]).finish()
    };
    let cases: [(&str, &[Pair<'_>]); 6] = [
        ("duplicate key", &[(b"a", b"1"), (b"a", b"2")]),
        ("duplicate key and value", &[(b"a", b"1"), (b"a", b"1")]),
        ("unsorted keys", &[(b"b", b""), (b"a", b"")]),
        ("longer key first", &[(b"ab", b""), (b"a", b"")]),
        (
            "byte order, not char order",
            &[(b"\xc3\xa9", b""), (b"z", b"")],
        ),
        ("reserved key", &[(b"sealstream:suite", b"1")]),
    ];
    for (name, pairs) in cases {
        run_exact(name, &header(pairs), Expect::Malformed("context key"));
    }
    run_exact(
        "empty key",
        &Raw::new(1)
            .u16(1)
            .u8(0)
            .u16(0)
            .u16(1)
            .record(b"a", b"", &[1])
            .finish(),
        Expect::Malformed("context key"),
    );
    // The canonical order of the same pairs parses.
    run_exact(
        "sorted keys",
        &header(&[(b"a", b"1"), (b"ab", b""), (b"z", b""), (b"\xc3\xa9", b"")]),
        Expect::Ok,
    );
}

#[test]
fn header_len_that_lies_in_each_direction() {
    let context = EncryptionContext::from_pairs([("app", "backup"), ("path", "db.tar")]).unwrap();
    let records = vec![
        KeyRecord::new("local", "e4ff7ec5704cfb7c", vec![0xAA; 61]).unwrap(),
        KeyRecord::new("x25519", "a137c894770fdf79", vec![0xBB; 81]).unwrap(),
    ];
    let valid = Header::new(Suite::Aes256Gcm, context, records)
        .unwrap()
        .encode();
    let len = valid.len() as u32;
    run_exact("honest header_len", &valid, Expect::Ok);

    // The last record: provider_len at 130, provider, key_id_len at 137, key_id at 139,
    // wrapped_len at 155, wrapped at 157..238.
    assert_eq!(len, 238);
    for (short, field) in [
        (1, "wrapped"),
        (10, "wrapped"),
        (81, "wrapped"),
        (82, "wrapped_len"),
        (90, "key_id"),
        (100, "key_id_len"),
    ] {
        // Declares fewer bytes than the fields use: a field runs past header_len.
        let bytes = Raw(valid.clone()).declaring(len - short);
        run_exact(
            &format!("header_len {short} short, bytes cut to it"),
            &bytes[..(len - short) as usize],
            Expect::Malformed(field),
        );
        // The whole header given: parse_prefix stops at the declared length all the same.
        let want = Expect::Malformed(field);
        run_case(&format!("header_len {short} short"), &bytes, want, want);
    }
    for long in [1, 10, 1000] {
        // Declares more than the fields use, padded with zeros to the declared length.
        let mut padded = Raw(valid.clone()).declaring(len + long);
        padded.resize((len + long) as usize, 0);
        run_exact(
            &format!("header_len {long} long, padded"),
            &padded,
            Expect::Malformed("header_len"),
        );
        // Not padded: alone the header is incomplete; what follows it fills the gap.
        let bare = Raw(valid.clone()).declaring(len + long);
        run_case(
            &format!("header_len {long} long"),
            &bare,
            Expect::Truncated,
            Expect::Malformed("header_len"),
        );
    }
    // A valid header followed by more bytes than header_len covers: only Header::parse
    // (which takes exactly one header) refuses them.
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let mut trailing = valid.clone();
    trailing.extend_from_slice(&[0; 100]);
    let parsed = bounded("trailing", || Header::parse(&trailing));
    check(
        "trailing bytes",
        "Header::parse",
        Expect::Malformed("header_len"),
        res(&parsed),
    );
    let (_, read_len) = bounded("trailing", || Header::read_from(&mut &trailing[..])).unwrap();
    assert_eq!(read_len, valid.len());
}

/// A valid header and body prefix in front of a terabyte-long body: the readers take the
/// length at its word only as far as the arithmetic goes, and read one chunk to refuse it.
#[test]
fn valid_header_in_front_of_a_terabyte() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let header = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::new(),
        vec![KeyRecord::new("local", "k", vec![1; 61]).unwrap()],
    )
    .unwrap();
    let object = seal_to_vec(&header, &key(), b"hello").unwrap();
    let start = &object[..header.encoded_len() + BODY_PREFIX_LEN];
    let plaintext: u64 = 1 << 40;
    let size = header.encoded_len() as u64 + layout::body_len(plaintext).unwrap();

    let flood = Flood::new(start, size);
    let ra = bounded("terabyte", || RandomAccess::open(&flood, &key())).unwrap();
    let last = layout::final_chunk_index(plaintext);
    let len = bounded("terabyte", || ra.plaintext_len());
    assert!(
        matches!(len, Err(Error::ChunkAuthentication { index, final_chunk: true }) if index == last),
        "{len:?}"
    );
    let mut buf = vec![0u8; 100];
    let read = bounded("terabyte", || ra.read_at(&mut buf, 1 << 39));
    assert!(
        matches!(read, Err(Error::ChunkAuthentication { index, final_chunk: false }) if index == (1 << 39) / 16384),
        "{read:?}"
    );
    assert!(flood.served() <= 2 * READ_BOUND, "{} bytes", flood.served());

    let mut flood = Flood::new(start, size);
    let reader = bounded("terabyte", || {
        SealedReader::new(&mut flood).unwrap().open(&key())
    });
    let mut reader = reader.unwrap();
    let got = bounded("terabyte", || reader.read(&mut buf));
    let e = got.unwrap_err();
    assert!(
        matches!(
            Error::from_io(&e),
            Some(Error::ChunkAuthentication {
                index: 0,
                final_chunk: false
            })
        ),
        "{e}"
    );
    drop(reader);
    assert!(flood.served() <= READ_BOUND, "{} bytes", flood.served());
}

/// The allocator really counts: a 2 MiB allocation inside `bounded` fails the check.
#[test]
fn memory_bound_catches_a_large_allocation() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let caught = std::panic::catch_unwind(|| {
        bounded("self-check", || {
            std::hint::black_box(vec![1u8; 2 << 20]).len()
        })
    });
    assert!(caught.is_err(), "a 2 MiB allocation went unnoticed");
    assert_eq!(
        bounded("small", || std::hint::black_box(vec![1u8; 1000]).len()),
        1000
    );
}
