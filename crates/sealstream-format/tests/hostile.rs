#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! Hostile headers: any declared `header_len` but 4096, giant declared lengths, counts far
//! above the limits, as many real records as fit in 4096 bytes, fields that take exactly 4096
//! bytes and one byte more, fields running past the end of the header, non-zero padding,
//! invalid UTF-8 and control characters, duplicate, unsorted and reserved context keys.
//!
//! Every case goes through every header entry point: `Header::parse`, `Header::parse_prefix`,
//! `Header::read_from`, `SealedReader`, `read_header_at`, `RandomAccess` and
//! `RandomAccessReader`, once with the bytes alone and once followed by gigabytes of zeros
//! (a reader must stop after the 4096-byte header). Each must give the error
//! docs/FORMAT.md, Reading, names, and none may allocate more than [`MEMORY_BOUND`] bytes
//! while doing so: this test binary counts every heap byte with `peak_alloc`'s global
//! allocator (the workspace forbids `unsafe` even in tests, so the counting allocator comes
//! from that crate instead of being written here).

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use peak_alloc::PeakAlloc;
use sealstream_format::{
    BODY_PREFIX_LEN, DataKey, EncryptionContext, Error, FileMetadata, FileTime, HEADER_LEN, Header,
    HeaderParse, KeyRecord, MAGIC, PEEK_LEN, RandomAccess, RandomAccessReader, ReadAt,
    SEALED_CHUNK_SIZE, Salt, SealedReader, Suite, layout, read_header_at, seal_to_vec,
};

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

/// The most heap a header entry point may use on any input, live bytes at its peak: 256 times
/// the header, far below what a declared length taken at its word would cost (4 GiB).
const MEMORY_BOUND: usize = 1 << 20;

/// "Gigabytes" of input behind a hostile prefix.
const FLOOD: u64 = 4 << 30;

/// Bytes a reader may consume for the header, the body prefix and one chunk.
const READ_BOUND: u64 = (PEEK_LEN + HEADER_LEN + BODY_PREFIX_LEN + SEALED_CHUNK_SIZE) as u64;

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
    /// Magic, a `header_len` placeholder, version 2 and `suite`.
    fn new(suite: u8) -> Self {
        Self::version(2, suite)
    }

    /// Magic, a `header_len` placeholder, `version` and `suite`.
    fn version(version: u8, suite: u8) -> Self {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&[version, suite]);
        Raw(b)
    }

    /// `name_len` and the name.
    fn name(self, name: &[u8]) -> Self {
        self.u16(name.len() as u16).bytes(name)
    }

    /// An empty name (`name_len` 0).
    fn no_name(self) -> Self {
        self.u16(0)
    }

    /// `n` context pairs of maximum size (1155 bytes each), sorted.
    fn max_pairs(mut self, n: usize) -> Self {
        for i in 0..n {
            self = self.pair(&max_key(i), &[b'v'; 1024]);
        }
        self
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

    /// The bytes, with `header_len` 4096 and zero padding up to 4096 (nothing is cut from
    /// fields that take more: those run past the end of the header).
    fn finish(self) -> Vec<u8> {
        let mut out = self.declaring(HEADER_LEN as u32);
        if out.len() < HEADER_LEN {
            out.resize(HEADER_LEN, 0);
        }
        out
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
    /// `UnsupportedVersion` with this version.
    Version(u8),
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
        (Expect::Version(v), Err(Error::UnsupportedVersion(got))) => v == *got,
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
            assert!(needed > bytes.len() && needed <= HEADER_LEN, "{case}");
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
        stream.read <= HEADER_LEN as u64,
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
fn every_header_len_but_4096_and_version_1() {
    let body = Raw::new(1)
        .u16(0)
        .no_name()
        .u16(1)
        .record(b"local", b"", &[1]);
    for declared in [
        u32::MAX,
        0x8000_0000,
        0x00FF_FFFF,
        65_536,
        4097,
        4095,
        102,
        25,
        24,
        12,
        1,
        0,
    ] {
        // The bytes padded to 4096 or not: header_len is refused before any field.
        let bytes = Raw(body.0.clone()).declaring(declared);
        let want = Expect::Malformed("header_len");
        run_case(&format!("header_len {declared:#x}"), &bytes, want, want);
        let mut padded = bytes.clone();
        padded.resize(HEADER_LEN, 0);
        run_exact(&format!("header_len {declared:#x}, padded"), &padded, want);
    }
    // A version-1 header (pre-release: variable header_len, no name): the version is
    // refused before header_len is looked at (FORMAT.md, Reading, step 2).
    let v1 = Raw::version(1, 1).u16(0).u16(1).record(b"local", b"", &[1]);
    let len = v1.0.len() as u32;
    let v1 = v1.declaring(len);
    run_exact("version 1 header", &v1, Expect::Version(1));
    let message = Header::parse(&v1).unwrap_err().to_string();
    assert!(
        message.contains("pre-release") && message.contains("version 2 only"),
        "{message}"
    );
    for version in [0, 3, 0xFF] {
        run_exact(
            &format!("version {version}"),
            &Raw(body.0.clone()).finish()[..]
                .iter()
                .enumerate()
                .map(|(i, &b)| if i == 12 { version } else { b })
                .collect::<Vec<u8>>(),
            Expect::Version(version),
        );
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
    // Not padded: by itself the header is incomplete; with zeros behind it, value_len is
    // refused before any value byte is read.
    run_case(
        "value_len 0xFFFF, not padded",
        &value_ffff().declaring(HEADER_LEN as u32),
        Expect::Truncated,
        Expect::Limit("value", 0xFFFF),
    );
    // Fields that run past the end of the header (offset 4096), after three maximum-size
    // pairs (16 + 3 * 1155 = 3481 bytes).
    run_exact(
        "value_len 1024 running past 4096",
        &Raw::new(1)
            .u16(4)
            .max_pairs(3)
            .u8(3)
            .bytes(b"zzz")
            .u16(1024)
            .bytes(b"abcdefgh")
            .finish(),
        Expect::Malformed("context value"),
    );
    run_exact(
        "name_len 1024 running past 4096",
        &Raw::new(1)
            .u16(3)
            .max_pairs(3)
            .u16(1024)
            .bytes(b"name")
            .finish(),
        Expect::Malformed("name"),
    );
    let record_head = || Raw::new(2).u16(0).no_name().u16(1).u8(5).bytes(b"local");
    run_exact(
        "key_id_len 0xFFFF",
        &record_head().u16(0xFFFF).bytes(b"k1").finish(),
        Expect::Limit("key id", 0xFFFF),
    );
    let deep_record_head = || {
        Raw::new(2)
            .u16(3)
            .max_pairs(3)
            .no_name()
            .u16(1)
            .u8(5)
            .bytes(b"local")
    };
    run_exact(
        "key_id_len 2048 running past 4096",
        &deep_record_head().u16(2048).bytes(b"k1").finish(),
        Expect::Malformed("key_id"),
    );
    let wrapped_ffff = record_head().u16(0).u16(0xFFFF).bytes(&[0xAA; 4]);
    run_exact(
        "wrapped_len 0xFFFF",
        &Raw(wrapped_ffff.0.clone()).finish(),
        Expect::Limit("wrapped", 0xFFFF),
    );
    run_case(
        "wrapped_len 0xFFFF, not padded",
        &Raw(wrapped_ffff.0).declaring(HEADER_LEN as u32),
        Expect::Truncated,
        Expect::Limit("wrapped", 0xFFFF),
    );
    run_exact(
        "wrapped_len 8192 running past 4096",
        &deep_record_head()
            .u16(0)
            .u16(8192)
            .bytes(&[0xAA; 4])
            .finish(),
        Expect::Malformed("wrapped"),
    );
    run_exact(
        "context_count 0xFFFF",
        &Raw::new(1).u16(0xFFFF).pair(b"a", b"b").finish(),
        Expect::Limit("pair count", 0xFFFF),
    );
    run_exact(
        "key_len 200",
        &Raw::new(1).u16(1).u8(200).bytes(b"abc").finish(),
        Expect::Limit("context key", 200),
    );
    run_exact(
        "name_len 0xFFFF",
        &Raw::new(1).u16(0).u16(0xFFFF).bytes(b"name").finish(),
        Expect::Limit("name", 0xFFFF),
    );
    run_exact(
        "name_len 1025",
        &Raw::new(1)
            .u16(0)
            .name(&[b'n'; 1025])
            .u16(1)
            .record(b"a", b"", &[1])
            .finish(),
        Expect::Limit("name", 1025),
    );
    run_exact(
        "provider_len 33",
        &Raw::new(1)
            .u16(0)
            .no_name()
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
            .no_name()
            .u16(1)
            .u8(0xFF)
            .bytes(b"ab")
            .finish(),
        Expect::Limit("provider", 0xFF),
    );
    run_exact(
        "provider_len 0",
        &Raw::new(1)
            .u16(0)
            .no_name()
            .u16(1)
            .u8(0)
            .u16(0)
            .u16(1)
            .u8(1)
            .finish(),
        Expect::Malformed("provider"),
    );
    run_exact(
        "wrapped_len 0",
        &Raw::new(1)
            .u16(0)
            .no_name()
            .u16(1)
            .u8(1)
            .bytes(b"a")
            .u16(0)
            .u16(0)
            .finish(),
        Expect::Malformed("wrapped"),
    );
}

#[test]
fn record_count_far_above_the_limit() {
    run_exact(
        "record_count 0xFFFF, no records",
        &Raw::new(1).u16(0).no_name().u16(0xFFFF).finish(),
        Expect::Limit("record count", 0xFFFF),
    );
    // As many real 7-byte records as fit in 4096 bytes: 582.
    let fit = (HEADER_LEN - 12 - 4 - 2 - 2) / 7;
    assert_eq!(fit, 582);
    for declared in [0xFFFF, fit as u16, 33] {
        let mut raw = Raw::new(1).u16(0).no_name().u16(declared);
        for _ in 0..fit {
            raw = raw.record(b"a", b"", &[1]);
        }
        let bytes = raw.finish();
        assert_eq!(bytes.len(), HEADER_LEN);
        run_exact(
            &format!("record_count {declared}, {fit} real records"),
            &bytes,
            Expect::Limit("record count", u64::from(declared)),
        );
    }
    run_exact(
        "record_count 0",
        &Raw::new(1).u16(0).no_name().u16(0).finish(),
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
    // 64 context pairs at 128 + 1024 bytes: 73924 bytes of bound section. The fourth value
    // runs past offset 4096.
    let pairs = Raw::new(1)
        .u16(64)
        .max_pairs(64)
        .no_name()
        .u16(1)
        .record(b"local", b"", &[1]);
    let real = pairs.0.len();
    assert_eq!(real, 12 + 73924 + 2 + 13);
    run_exact(
        "64 pairs at max sizes",
        &pairs.finish(),
        Expect::Malformed("context value"),
    );

    // 32 records at 32 + 2048 + 8192 bytes: 328866 bytes of records. The first wrapped key
    // runs past offset 4096.
    let mut records = Raw::new(2).u16(0).no_name().u16(32);
    for i in 0..32 {
        let provider = format!("p{i:02}{}", "x".repeat(29));
        records = records.record(provider.as_bytes(), &[b'i'; 2048], &[0xAA; 8192]);
    }
    assert_eq!(records.0.len(), 12 + 4 + 2 + 2 + 328_864);
    run_exact(
        "32 records at max sizes",
        &records.finish(),
        Expect::Malformed("wrapped"),
    );
}

/// Three pairs at maximum size and one `local` record with `wrapped` of `wrapped_len` bytes:
/// 12 + 4 + 3 * 1155 + 2 + 2 + 10 + wrapped_len bytes of fields.
fn near_limit_pairs(wrapped_len: usize) -> (EncryptionContext, Vec<KeyRecord>) {
    let context = EncryptionContext::from_pairs(
        (0..3).map(|i| (String::from_utf8(max_key(i)).unwrap(), "v".repeat(1024))),
    )
    .unwrap();
    let record = KeyRecord::new("local", "", vec![0xAA; wrapped_len]).unwrap();
    (context, vec![record])
}

/// 32 records of 32-byte providers and wrapped keys sized so that the fields (with an
/// empty context and name) take `total` bytes.
fn near_limit_records(total: usize) -> Vec<KeyRecord> {
    // Magic and header_len, version, suite, context_count, name_len, record_count; then per
    // record provider_len, provider, key_id_len, wrapped_len.
    let fixed = 12 + 4 + 2 + 2 + 32 * (1 + 32 + 2 + 2);
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
fn fields_of_exactly_4096_bytes_and_one_byte_over() {
    let (context, records) = near_limit_pairs(601);
    let header = Header::new(Suite::Aes256Gcm, context, "", records).unwrap();
    assert_eq!(header.fields_len(), HEADER_LEN);
    let bytes = header.encode();
    assert_eq!(bytes.len(), HEADER_LEN);
    run_exact(
        "3 max pairs, fields of exactly 4096 bytes",
        &bytes,
        Expect::Ok,
    );

    let (context, records) = near_limit_pairs(602);
    let refused = Header::new(Suite::Aes256Gcm, context.clone(), "", records.clone());
    assert!(
        matches!(
            refused,
            Err(Error::LimitExceeded {
                actual: 4097,
                limit: 4096,
                ..
            })
        ),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(
        message.contains("4097") && message.contains("fewer key records"),
        "{message}"
    );
    let mut raw = Raw::new(1).u16(3);
    for (k, v) in context.iter() {
        raw = raw.pair(k.as_bytes(), v.as_bytes());
    }
    let bytes = raw
        .no_name()
        .u16(1)
        .record(b"local", b"", &[0xAA; 602])
        .finish();
    assert_eq!(bytes.len(), HEADER_LEN + 1);
    run_exact(
        "3 max pairs, fields of 4097 bytes",
        &bytes,
        Expect::Malformed("wrapped"),
    );

    let records = near_limit_records(HEADER_LEN);
    let header = Header::new(
        Suite::XChaCha20Poly1305,
        EncryptionContext::new(),
        "",
        records,
    )
    .unwrap();
    assert_eq!(header.fields_len(), HEADER_LEN);
    run_exact(
        "32 records, exactly 4096 bytes",
        &header.encode(),
        Expect::Ok,
    );

    let records = near_limit_records(HEADER_LEN + 1);
    let refused = Header::new(
        Suite::XChaCha20Poly1305,
        EncryptionContext::new(),
        "",
        records.clone(),
    );
    assert!(
        matches!(refused, Err(Error::LimitExceeded { actual: 4097, .. })),
        "{refused:?}"
    );
    let mut raw = Raw::new(2).u16(0).no_name().u16(32);
    for r in &records {
        raw = raw.record(r.provider().as_bytes(), r.key_id().as_bytes(), r.wrapped());
    }
    let bytes = raw.finish();
    assert_eq!(bytes.len(), HEADER_LEN + 1);
    run_exact(
        "32 records, 4097 bytes",
        &bytes,
        Expect::Malformed("wrapped"),
    );
    // A 33rd record in a header that is otherwise valid.
    let mut raw = Raw::new(1).u16(0).no_name().u16(33);
    for _ in 0..33 {
        raw = raw.record(b"local", b"k", &[1; 61]);
    }
    run_exact(
        "33 records",
        &raw.finish(),
        Expect::Limit("record count", 33),
    );
    // A name of the maximum length parses; the writer refuses one byte more.
    let name = "n".repeat(1024);
    let rec = || vec![KeyRecord::new("a", "", vec![1]).unwrap()];
    let header = Header::new(Suite::Aes256Gcm, EncryptionContext::new(), &name, rec()).unwrap();
    run_exact("1024-byte name", &header.encode(), Expect::Ok);
    let refused = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::new(),
        &name[..1023],
        rec(),
    );
    assert!(refused.is_ok());
    let longer = format!("{name}n");
    assert!(matches!(
        Header::new(Suite::Aes256Gcm, EncryptionContext::new(), &longer, rec()),
        Err(Error::LimitExceeded {
            actual: 1025,
            limit: 1024,
            ..
        })
    ));
}

#[test]
fn padding_must_be_zero() {
    let header = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::from_pairs([("app", "backup")]).unwrap(),
        "backups/db.tar",
        vec![KeyRecord::new("local", "k1", vec![0xAA; 61]).unwrap()],
    )
    .unwrap();
    let valid = header.encode();
    run_exact("valid", &valid, Expect::Ok);
    let fields = header.fields_len();
    for at in [fields, fields + 1, 2048, HEADER_LEN - 1] {
        for b in [0x01u8, 0x80, 0xFF] {
            let mut bytes = valid.clone();
            bytes[at] = b;
            run_exact(
                &format!("padding byte {at} = {b:#04x}"),
                &bytes,
                Expect::Malformed("padding"),
            );
        }
    }
    // Trailing bytes after a valid header: only Header::parse (which takes exactly one
    // header) refuses them; the streaming parser reads exactly 4096 bytes.
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
    assert_eq!(read_len, HEADER_LEN);
}

#[test]
fn invalid_utf8_and_control_characters_in_every_text_field() {
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
                .no_name()
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
                .no_name()
                .u16(1)
                .record(b"a", b"", &[1])
                .finish(),
            Expect::Malformed("context value"),
        );
        run_exact(
            &format!("name {name}"),
            &Raw::new(1)
                .u16(0)
                .name(b)
                .u16(1)
                .record(b"a", b"", &[1])
                .finish(),
            Expect::Malformed("name"),
        );
        run_exact(
            &format!("key_id {name}"),
            &Raw::new(1)
                .u16(0)
                .no_name()
                .u16(1)
                .record(b"local", b, &[1])
                .finish(),
            Expect::Malformed("key_id"),
        );
        run_exact(
            &format!("provider {name}"),
            &Raw::new(1)
                .u16(0)
                .no_name()
                .u16(1)
                .record(b, b"", &[1])
                .finish(),
            Expect::Malformed("provider"),
        );
    }
    // Names: every C0 control, DEL and every C1 control (U+0080..U+009F) is refused; the
    // first characters outside those ranges are accepted.
    let with_name = |n: &[u8]| {
        Raw::new(1)
            .u16(0)
            .name(n)
            .u16(1)
            .record(b"a", b"", &[1])
            .finish()
    };
    for c in (0u32..0x20).chain(0x7F..0xA0) {
        let mut name = b"a/".to_vec();
        name.extend_from_slice(char::from_u32(c).unwrap().to_string().as_bytes());
        run_exact(
            &format!("name with U+{c:04X}"),
            &with_name(&name),
            Expect::Malformed("name"),
        );
    }
    for ok in [
        "a b",
        "\u{a0}",
        "~",
        "d\u{e9}j\u{e0}/vu",
        "\u{2028}",
        "\u{10ffff}",
    ] {
        run_exact(
            &format!("name {ok:?}"),
            &with_name(ok.as_bytes()),
            Expect::Ok,
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
        raw.no_name().u16(1).record(b"local", b"", &[1]).finish()
    };
    let cases: [(&str, &[Pair<'_>], Expect); 19] = [
        (
            "duplicate key",
            &[(b"a", b"1"), (b"a", b"2")],
            Expect::Malformed("context key"),
        ),
        (
            "duplicate key and value",
            &[(b"a", b"1"), (b"a", b"1")],
            Expect::Malformed("context key"),
        ),
        (
            "unsorted keys",
            &[(b"b", b""), (b"a", b"")],
            Expect::Malformed("context key"),
        ),
        (
            "longer key first",
            &[(b"ab", b""), (b"a", b"")],
            Expect::Malformed("context key"),
        ),
        (
            "byte order, not char order",
            &[(b"\xc3\xa9", b""), (b"z", b"")],
            Expect::Malformed("context key"),
        ),
        (
            "reserved key",
            &[(b"sealstream:suite", b"1")],
            Expect::Malformed("context key"),
        ),
        (
            "reserved key, unknown",
            &[(b"sealstream:x", b"")],
            Expect::Malformed("context key"),
        ),
        (
            "reserved key, salt",
            &[(b"sealstream:salt", b"00")],
            Expect::Malformed("context key"),
        ),
        ("mode", &[(b"sealstream:mode", b"0644")], Expect::Ok),
        ("mode 7777", &[(b"sealstream:mode", b"7777")], Expect::Ok),
        (
            "mode, 3 digits",
            &[(b"sealstream:mode", b"644")],
            Expect::Malformed("sealstream:mode"),
        ),
        (
            "mode, 8",
            &[(b"sealstream:mode", b"0648")],
            Expect::Malformed("sealstream:mode"),
        ),
        (
            "mode, space",
            &[(b"sealstream:mode", b" 644")],
            Expect::Malformed("sealstream:mode"),
        ),
        (
            "mtime",
            &[
                (b"sealstream:mode", b"0600"),
                (b"sealstream:mtime", b"-1.500000000"),
            ],
            Expect::Ok,
        ),
        (
            "mtime and mode unsorted",
            &[
                (b"sealstream:mtime", b"0.000000000"),
                (b"sealstream:mode", b"0600"),
            ],
            Expect::Malformed("context key"),
        ),
        (
            "mtime, -0",
            &[(b"sealstream:mtime", b"-0.000000000")],
            Expect::Malformed("sealstream:mtime"),
        ),
        (
            "mtime, leading 0",
            &[(b"sealstream:mtime", b"01.000000000")],
            Expect::Malformed("sealstream:mtime"),
        ),
        (
            "mtime, 8 digits",
            &[(b"sealstream:mtime", b"1.00000000")],
            Expect::Malformed("sealstream:mtime"),
        ),
        (
            "mtime above i64",
            &[(b"sealstream:mtime", b"9223372036854775808.000000000")],
            Expect::Malformed("sealstream:mtime"),
        ),
    ];
    for (name, pairs, want) in cases {
        run_exact(name, &header(pairs), want);
    }
    run_exact(
        "empty key",
        &Raw::new(1)
            .u16(1)
            .u8(0)
            .u16(0)
            .no_name()
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
    // What the writer API makes of file metadata is what the parser reads back.
    let mut context = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
    let meta = FileMetadata {
        mode: Some(0o755),
        mtime: Some(FileTime {
            secs: i64::MIN,
            nanos: 999_999_999,
        }),
    };
    context.set_file_metadata(meta).unwrap();
    let rec = vec![KeyRecord::new("a", "", vec![1]).unwrap()];
    let h = Header::new(Suite::Aes256Gcm, context, "", rec).unwrap();
    run_exact("file metadata from the writer", &h.encode(), Expect::Ok);
    assert_eq!(
        Header::parse(&h.encode())
            .unwrap()
            .context()
            .file_metadata(),
        meta
    );
}

/// A valid header and body prefix in front of a terabyte-long body: the readers take the
/// length at its word only as far as the arithmetic goes, and read one chunk to refuse it.
#[test]
fn valid_header_in_front_of_a_terabyte() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let header = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::new(),
        "",
        vec![KeyRecord::new("local", "k", vec![1; 61]).unwrap()],
    )
    .unwrap();
    let object = seal_to_vec(&header, &key(), Salt::generate().unwrap(), b"hello").unwrap();
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
