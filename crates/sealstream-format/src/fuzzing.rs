//! Entry points for the cargo-fuzz targets in `fuzz/`. Compiled only with
//! `--cfg fuzzing` (cargo-fuzz sets it) and hidden from the docs: not API.
//!
//! Each function takes arbitrary bytes, must never panic, and asserts the
//! properties the target checks. Inputs that start with a mode byte use it
//! to choose between raw bytes, raw bytes with a repaired commitment (so that
//! the chunk code is reached), and sealing the rest as plaintext.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::missing_panics_doc,
    missing_docs
)]

use std::io::{Read, Seek, SeekFrom};

use crate::chunk::{BODY_PREFIX_LEN, CHUNK_SIZE, ChunkSealer, SEALED_CHUNK_SIZE};
use crate::header::{
    EncryptionContext, FIXED_PREFIX_LEN, FileMetadata, FileTime, HEADER_LEN, Header, HeaderParse,
    KeyRecord, MAX_NAME_LEN,
};
use crate::key::{DataKey, SALT_LEN, Salt};
use crate::layout::{self, MAX_PLAINTEXT_LEN};
use crate::random_access::{RandomAccess, RandomAccessReader};
use crate::read::SealedReader;
use crate::suite::Suite;
use crate::{Error, open_slice, seal_to_vec};

/// The data key every fuzz target opens and seals with.
pub const KEY: [u8; 32] = [0x42; 32];
/// The salt used when a target seals its input.
pub const SALT: [u8; SALT_LEN] = [0x07; SALT_LEN];

fn key() -> DataKey {
    DataKey::from_bytes(KEY)
}

/// The header a target seals under: context `fuzz=1`, name `fuzz/object`,
/// one `local` record.
pub fn fixed_header(suite: Suite) -> Header {
    let context = EncryptionContext::from_pairs([("fuzz", "1")]).unwrap();
    let record = KeyRecord::new("local", "fuzz", vec![0xAA; 32]).unwrap();
    Header::new(suite, context, "fuzz/object", vec![record]).unwrap()
}

/// Seals `plaintext` under `header`, [`KEY`] and `salt`.
fn seal_with(header: &Header, salt: [u8; SALT_LEN], plaintext: &[u8]) -> Vec<u8> {
    seal_to_vec(header, &key(), Salt::danger_from_bytes(salt), plaintext).unwrap()
}

/// Seals `plaintext` under [`fixed_header`], [`KEY`] and [`SALT`].
pub fn seal(suite: Suite, plaintext: &[u8]) -> Vec<u8> {
    seal_with(&fixed_header(suite), SALT, plaintext)
}

fn suite_of(mode: u8) -> Suite {
    if mode & 4 == 0 {
        Suite::Aes256Gcm
    } else {
        Suite::XChaCha20Poly1305
    }
}

/// Replaces the stored commitment of `object` with the one [`KEY`] derives,
/// if the object has a complete header and body prefix.
fn fix_commitment(object: &[u8]) -> Vec<u8> {
    let mut out = object.to_vec();
    if let Ok(HeaderParse::Complete { header, len }) = Header::parse_prefix(object)
        && let Some(salt) = object.get(len..len + SALT_LEN)
        && out.len() >= len + BODY_PREFIX_LEN
    {
        let salt: [u8; SALT_LEN] = salt.try_into().unwrap();
        let (_, prefix) = ChunkSealer::new(
            header.suite(),
            &key(),
            Salt::danger_from_bytes(salt),
            header.bound_section(),
        )
        .unwrap();
        out[len + SALT_LEN..len + BODY_PREFIX_LEN].copy_from_slice(&prefix.commitment);
    }
    out
}

fn check_error(e: &Error) {
    // Formatting never fails or panics, whatever the input was.
    let _ = e.to_string();
}

/// `header`: parse -> encode gives the same bytes (so the padding was zero
/// and the header 4096 bytes); a strict prefix of a valid header needs more
/// bytes (never "malformed"); the stream parser agrees; the name and the
/// file metadata of an accepted header are what the writer API accepts.
pub fn header(data: &[u8]) {
    let peeked = Header::peek_len(data);
    match Header::parse_prefix(data) {
        Ok(HeaderParse::Complete { header, len }) => {
            let bytes = &data[..len];
            assert_eq!(header.encode(), bytes, "parse -> encode changed the bytes");
            assert_eq!(header.encoded_len(), len);
            assert_eq!(len, HEADER_LEN);
            assert!(bytes[header.fields_len()..].iter().all(|&b| b == 0));
            assert!(header.name().len() <= MAX_NAME_LEN);
            assert!(crate::validate_name(header.name()).is_ok());
            header.check_name(header.name()).unwrap();
            assert!(matches!(peeked, Ok(Some(l)) if l == len));
            assert_eq!(
                &bytes[FIXED_PREFIX_LEN..FIXED_PREFIX_LEN + header.bound_section().len()],
                header.bound_section()
            );
            assert!(Header::parse(bytes).ok().as_ref() == Some(&header));
            assert_eq!(Header::parse(data).is_ok(), data.len() == len);
            let rebuilt = Header::new(
                header.suite(),
                header.context().clone(),
                header.name(),
                header.records().to_vec(),
            )
            .unwrap();
            assert!(rebuilt == header);
            // The file metadata read back re-encodes to the same pairs.
            let meta = header.context().file_metadata();
            let mut again = header.context().clone();
            again.set_file_metadata(meta).unwrap();
            assert!(again == *header.context());
            let mut stream = data;
            let (h, l) = Header::read_from(&mut stream).unwrap();
            assert!(h == header && l == len && stream.len() == data.len() - len);
            for n in [0, 1, 8, 11, 12, 13, 14, len / 2, len - 1] {
                assert!(
                    matches!(
                        Header::parse_prefix(&data[..n]),
                        Ok(HeaderParse::NeedMore { needed }) if needed > n && needed <= len
                    ),
                    "a {n}-byte prefix of a valid header was not NeedMore"
                );
            }
        }
        Ok(HeaderParse::NeedMore { needed }) => {
            assert!(needed > data.len() && needed <= HEADER_LEN);
            assert!(Header::parse(data).is_err());
            assert!(Header::read_from(&mut &data[..]).is_err());
        }
        Err(e) => {
            check_error(&e);
            assert!(Header::parse(data).is_err());
            assert!(Header::read_from(&mut &data[..]).is_err());
        }
    }
}

/// Opens `object` with the streaming reader, reading `read_size` bytes at a
/// time.
fn stream_open(object: &[u8], read_size: usize) -> Result<Vec<u8>, Error> {
    let mut reader = SealedReader::new(object)?.open(&key())?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; read_size.max(1)];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            assert!(reader.is_done());
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Checks what opening an arbitrary object must satisfy: the streaming
/// reader and the in-memory opener agree, and an accepted object is exactly
/// what sealing its plaintext again gives (one valid ciphertext per
/// plaintext, header and salt).
fn check_raw_object(object: &[u8], read_size: usize) -> Option<Vec<u8>> {
    let streamed = stream_open(object, read_size);
    let sliced = open_slice(object, &key());
    match (&streamed, &sliced) {
        (Ok(a), Ok((header, b))) => {
            assert!(a == b, "reader and open_slice gave different plaintexts");
            let len = header.encoded_len();
            let salt: [u8; SALT_LEN] = object[len..len + SALT_LEN].try_into().unwrap();
            let again = seal_with(header, salt, a);
            assert!(
                again == object,
                "an accepted object is not the canonical sealing"
            );
        }
        (Err(a), Err(b)) => {
            check_error(a);
            check_error(b);
        }
        (a, b) => panic!(
            "reader and open_slice disagree: {:?} vs {:?}",
            a.as_ref().map(Vec::len),
            b.as_ref().map(|(_, p)| p.len())
        ),
    }
    streamed.ok()
}

/// `decrypt_reader`: arbitrary bytes as an object through
/// `SealedReader`/`DecryptingReader`. `data[0]` picks the mode (low two
/// bits) and the suite (bit 2) and read size (high bits):
///
/// - 0: the rest is an object;
/// - 1: the rest is an object whose commitment is repaired first;
/// - 2: the rest is plaintext: seal it and check the round trip;
/// - 3: `pos: u16 BE, op: u8, val: u8`, then plaintext: seal it, change the
///   object at `pos` (op 0: XOR `val | 1`; 1: truncate; 2: insert `val`;
///   3: remove a byte) and check that any accepted object opens to the
///   original plaintext, and that only a byte changed inside the key block's
///   fields (the name and the records, which the commitment does not cover)
///   can be accepted: never one in the padding.
pub fn decrypt_reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let read_size = 1 + usize::from(mode >> 3) * 331;
    match mode & 3 {
        0 => {
            check_raw_object(rest, read_size);
        }
        1 => {
            check_raw_object(&fix_commitment(rest), read_size);
        }
        2 => {
            let object = seal(suite_of(mode), rest);
            let opened = check_raw_object(&object, read_size);
            assert!(opened.as_deref() == Some(rest), "round trip failed");
        }
        _ => {
            let Some((spec, plaintext)) = rest.split_at_checked(4) else {
                return;
            };
            let header = fixed_header(suite_of(mode));
            let object = seal(header.suite(), plaintext);
            let pos = usize::from(u16::from_be_bytes([spec[0], spec[1]])) % (object.len() + 1);
            let (op, val) = (spec[2] % 4, spec[3]);
            let mut bad = object.clone();
            match op {
                0 if pos < bad.len() => bad[pos] ^= val | 1,
                0 | 1 => bad.truncate(pos),
                2 => bad.insert(pos, val),
                _ if pos < bad.len() => {
                    bad.remove(pos);
                }
                _ => bad.truncate(pos),
            }
            if let Some(opened) = check_raw_object(&bad, read_size) {
                assert!(
                    opened == plaintext,
                    "a modified object opened to other plaintext"
                );
                let key_block =
                    FIXED_PREFIX_LEN + header.bound_section().len()..header.fields_len();
                assert!(
                    bad == object || (op == 0 && key_block.contains(&pos)),
                    "a modified object was accepted (op {op} at {pos})"
                );
            }
        }
    }
}

/// `random_access`: `data[0]` is the mode (as for [`decrypt_reader`], with
/// 2 and 3 both sealing the rest), then two reads `offset: u32 BE, len: u16
/// BE`, then the object or plaintext. Reads through `RandomAccess::read_at`
/// and `RandomAccessReader` must never panic, return at most what was asked,
/// and match the streaming reader's plaintext wherever it succeeded.
pub fn random_access(data: &[u8]) {
    let Some((spec, rest)) = data.split_at_checked(13) else {
        return;
    };
    let mode = spec[0];
    let reads = [(&spec[1..5], &spec[5..7]), (&spec[7..11], &spec[11..13])].map(|(o, l)| {
        (
            u64::from(u32::from_be_bytes(o.try_into().unwrap())),
            usize::from(u16::from_be_bytes(l.try_into().unwrap())),
        )
    });
    let (object, sealed_plaintext) = match mode & 3 {
        0 => (rest.to_vec(), None),
        1 => (fix_commitment(rest), None),
        _ => (seal(suite_of(mode), rest), Some(rest)),
    };
    let reference = check_raw_object(&object, CHUNK_SIZE);
    if let Some(p) = sealed_plaintext {
        assert!(reference.as_deref() == Some(p), "round trip failed");
    }

    let ra = match RandomAccess::open(&object[..], &key()) {
        Ok(ra) => ra,
        Err(e) => {
            check_error(&e);
            assert!(
                reference.is_none(),
                "RandomAccess refused an object the reader opened"
            );
            return;
        }
    };
    let total = ra.plaintext_len();
    if let Some(r) = &reference {
        assert_eq!(total.as_ref().ok(), Some(&(r.len() as u64)));
    }
    for (offset, len) in reads {
        let mut buf = vec![0u8; len];
        match ra.read_at(&mut buf, offset) {
            Ok(n) => {
                assert!(n <= len);
                if let Ok(total) = &total {
                    let want = usize::try_from(total.saturating_sub(offset)).unwrap_or(usize::MAX);
                    assert_eq!(n, want.min(len), "read_at({offset}, {len}) of {total}");
                }
                if let Some(r) = &reference {
                    let start = usize::try_from(offset).unwrap();
                    assert!(buf[..n] == r[start.min(r.len())..][..n]);
                }
            }
            Err(e) => {
                check_error(&e);
                assert!(
                    reference.is_none(),
                    "read_at failed on an object the reader opened"
                );
            }
        }
        let i = (len % 8) as u64;
        match ra.read_chunk(i) {
            Ok(chunk) => {
                if let Some(r) = &reference {
                    let start = (i as usize) * CHUNK_SIZE;
                    assert!(chunk[..] == r[start..(start + CHUNK_SIZE).min(r.len())]);
                }
            }
            Err(e) => check_error(&e),
        }
    }
    if let Ok(mut rar) = RandomAccessReader::open(std::io::Cursor::new(&object[..]), &key()) {
        let (offset, len) = reads[0];
        let mut buf = vec![0u8; len];
        rar.seek(SeekFrom::Start(offset)).unwrap();
        match rar.read(&mut buf) {
            Ok(n) => {
                if let Some(r) = &reference {
                    let start = usize::try_from(offset).unwrap().min(r.len());
                    assert!(buf[..n] == r[start..][..n]);
                    assert_eq!(n, len.min(r.len() - start).min(4 * CHUNK_SIZE));
                }
            }
            Err(e) => assert!(reference.is_none(), "RandomAccessReader failed: {e}"),
        }
        let back = i64::from(u16::try_from(len).unwrap());
        match rar.seek(SeekFrom::End(-back)) {
            Ok(pos) => {
                if let Some(r) = &reference {
                    assert_eq!(pos, r.len() as u64 - back as u64);
                }
            }
            Err(_) => {
                if let Some(r) = &reference {
                    assert!(back as usize > r.len(), "seek from the end failed");
                }
            }
        }
    }
}

fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (dst, src) in b.iter_mut().zip(data.iter().skip(i * 8)) {
        *dst = *src;
    }
    u64::from_be_bytes(b)
}

/// `layout`: arbitrary `u64`s through the length and range arithmetic:
/// never panics, and what it returns is consistent.
pub fn layout(data: &[u8]) {
    const CHUNK: u64 = CHUNK_SIZE as u64;
    const SEALED: u64 = SEALED_CHUNK_SIZE as u64;
    const PREFIX: u64 = BODY_PREFIX_LEN as u64;
    let [x, a, b, p] = [0, 1, 2, 3].map(|i| u64_at(data, i));

    match layout::body_len(x) {
        Ok(body) => {
            assert!(x <= MAX_PLAINTEXT_LEN);
            assert!(body >= PREFIX + 16);
            assert_eq!(layout::plaintext_len(body).ok(), Some(x));
        }
        Err(_) => assert!(x > MAX_PLAINTEXT_LEN),
    }
    const HEADER: u64 = HEADER_LEN as u64;
    match layout::object_len(x) {
        Ok(object) => {
            assert_eq!(Some(object), layout::body_len(x).ok().map(|b| b + HEADER));
            assert_eq!(layout::plaintext_len_from_object_len(object).ok(), Some(x));
        }
        Err(_) => assert!(x > MAX_PLAINTEXT_LEN),
    }
    match layout::plaintext_len_from_object_len(x) {
        Ok(plain) => assert_eq!(layout::object_len(plain).ok(), Some(x)),
        Err(_) => assert!(x < HEADER || layout::plaintext_len(x - HEADER).is_err()),
    }
    match layout::plaintext_len(x) {
        Ok(plain) => assert_eq!(layout::body_len(plain).ok(), Some(x)),
        Err(_) => assert!(
            x < PREFIX + 16
                || (x - PREFIX) % SEALED < 16
                || (x - PREFIX) / SEALED >= crate::MAX_CHUNKS
        ),
    }

    let last = layout::final_chunk_index(p);
    let chunk_start = |i: u64| i.checked_mul(SEALED).and_then(|v| v.checked_add(PREFIX));
    if let Ok(range) = layout::chunk_body_range(a, p) {
        assert!(a <= last);
        assert_eq!(Some(range.start), chunk_start(a));
        assert!(range.end > range.start && range.end - range.start <= SEALED);
        assert_eq!(layout::body_len(p).ok().map(|l| range.end <= l), Some(true));
    }

    match layout::plan_range(a..b, p) {
        Ok(plan) => {
            assert!(a < p || (a == p && b <= a));
            let end = b.min(p).max(a);
            assert_eq!(plan.len, end - a);
            assert_eq!(plan.first_chunk, a / CHUNK);
            assert_eq!(plan.skip, a % CHUNK);
            assert!(plan.first_chunk <= plan.last_chunk && plan.last_chunk <= last);
            assert!(plan.last_chunk - plan.first_chunk <= plan.len / CHUNK + 1);
            assert!(end <= (plan.last_chunk + 1) * CHUNK);
            assert!(plan.len == 0 || end > plan.last_chunk * CHUNK);
            assert_eq!(Some(plan.body_range.start), chunk_start(plan.first_chunk));
            let last_range = layout::chunk_body_range(plan.last_chunk, p).unwrap();
            assert_eq!(plan.body_range.end, last_range.end);
            let object = plan.object_range();
            assert_eq!(object.start, plan.body_range.start + HEADER);
            assert_eq!(object.end, plan.body_range.end + HEADER);
        }
        Err(e) => {
            check_error(&e);
            assert!(a > p || (a == p && b > a) || p > MAX_PLAINTEXT_LEN);
        }
    }
}

/// Seed inputs for each target: valid objects and headers under [`KEY`], as
/// `(target, file name, bytes)`. `fuzz/examples/seed_corpus.rs` writes them
/// to `fuzz/corpus/`.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let both = [Suite::Aes256Gcm, Suite::XChaCha20Poly1305];
    for suite in both {
        let s = suite.id();
        let small = seal(suite, b"hello");
        let header_len = fixed_header(suite).encoded_len();
        out.push((
            "header",
            format!("fixed-suite{s}"),
            small[..header_len].to_vec(),
        ));
        for (name, len) in [("empty", 0), ("hello", 5), ("one-chunk", CHUNK_SIZE)] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let object = seal(suite, &plain);
            let mode = if suite == Suite::Aes256Gcm { 0 } else { 4 };
            out.push((
                "decrypt_reader",
                format!("{name}-suite{s}"),
                [&[mode][..], &object].concat(),
            ));
            if len < 100 {
                out.push((
                    "decrypt_reader",
                    format!("seal-{name}-suite{s}"),
                    [&[mode | 2][..], &plain].concat(),
                ));
                out.push((
                    "decrypt_reader",
                    format!("tamper-{name}-suite{s}"),
                    [&[mode | 3, 0, 40, 0, 1][..], &plain].concat(),
                ));
            }
            let reads = [mode, 0, 0, 0, 1, 0, 16, 0, 0, 0x3F, 0xFF, 0, 2];
            out.push((
                "random_access",
                format!("{name}-suite{s}"),
                [&reads[..], &object].concat(),
            ));
        }
    }
    let multi = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::from_pairs([("a", ""), ("path", "x/y.tar"), ("ñ", "日本")]).unwrap(),
        "backups/été/x.tar",
        vec![
            KeyRecord::new("aws-kms", "arn:aws:kms:us-east-1:1:key/k", vec![1; 40]).unwrap(),
            KeyRecord::new("x25519", "", vec![2]).unwrap(),
        ],
    )
    .unwrap();
    out.push(("header", "multi".into(), multi.encode()));
    let minimal = Header::new(
        Suite::XChaCha20Poly1305,
        EncryptionContext::new(),
        "",
        vec![KeyRecord::new("a", "", vec![1]).unwrap()],
    )
    .unwrap();
    out.push(("header", "minimal".into(), minimal.encode()));
    let mut with_meta = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
    with_meta
        .set_file_metadata(FileMetadata {
            mode: Some(0o640),
            mtime: Some(FileTime {
                secs: -1,
                nanos: 500_000_000,
            }),
        })
        .unwrap();
    let meta = Header::new(
        Suite::Aes256Gcm,
        with_meta,
        &"n".repeat(MAX_NAME_LEN),
        vec![KeyRecord::new("local", "0123456789abcdef", vec![3; 61]).unwrap()],
    )
    .unwrap();
    out.push(("header", "file-metadata-long-name".into(), meta.encode()));
    // Fields of exactly 4096 bytes: no padding at all.
    let fill = HEADER_LEN - (FIXED_PREFIX_LEN + 4 + 2 + 2 + (1 + 5 + 2 + 2));
    let full = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::new(),
        "",
        vec![KeyRecord::new("local", "", vec![4; fill]).unwrap()],
    )
    .unwrap();
    assert_eq!(full.fields_len(), HEADER_LEN);
    out.push(("header", "no-padding".into(), full.encode()));
    let edges = [
        0,
        1,
        CHUNK_SIZE as u64,
        SEALED_CHUNK_SIZE as u64 + 56 + 16,
        MAX_PLAINTEXT_LEN,
        u64::MAX,
    ];
    for (i, w) in edges.windows(3).enumerate() {
        let bytes: Vec<u8> = [w[0], w[1], w[2], w[0].wrapping_add(3)]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        out.push(("layout", format!("edges-{i}"), bytes));
    }
    // Found by this target: chunk_body_range overflowed for lengths above
    // MAX_PLAINTEXT_LEN.
    let overflow = [0, (1 << 50) - 1, 1 << 62, u64::MAX];
    out.push((
        "layout",
        "regression-overflow".into(),
        overflow.iter().flat_map(|v| v.to_be_bytes()).collect(),
    ));
    out
}
