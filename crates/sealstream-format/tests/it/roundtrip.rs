//! Round trips through every sealing and opening entry point, both suites,
//! the chunking edge sizes; the range mapping of `layout`; limits.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::support;

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use sealstream_format::layout::{self, MAX_PLAINTEXT_LEN};
use sealstream_format::{
    BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkOpener, ChunkSealer, DataKey, EncryptingWriter,
    Error, HEADER_LEN, MAX_CHUNKS, RandomAccess, RandomAccessReader, SEALED_CHUNK_SIZE, Salt,
    SealedReader, Suite, TAG_LEN, open_slice, seal_to_vec,
};
use support::{CHUNK, SEALED, SIZES, Sealed, Want, check_all, data_key, header, plaintext, salt};

/// Seals `plain` with an `EncryptingWriter`, cutting the input into writes
/// of the sizes in `splits` (cycled; 0 means an empty write).
fn seal_with_writer(suite: Suite, key: &DataKey, plain: &[u8], splits: &[usize]) -> Vec<u8> {
    let mut w = EncryptingWriter::new(Vec::new(), &header(suite), key, salt()).unwrap();
    let mut rest = plain;
    let mut i = 0;
    while !rest.is_empty() {
        let n = splits[i % splits.len()].min(rest.len());
        i += 1;
        if i % 2 == 0 {
            w.write_all(&rest[..n]).unwrap();
        } else {
            // Plain `write` may take less than offered; honour what it took.
            let mut piece = &rest[..n];
            while !piece.is_empty() {
                let took = w.write(piece).unwrap();
                assert!(took > 0, "write took nothing of a non-empty buffer");
                piece = &piece[took..];
            }
        }
        rest = &rest[n..];
    }
    assert_eq!(w.chunks_written(), (plain.len() / CHUNK_SIZE) as u64);
    w.flush().unwrap();
    w.finish().unwrap()
}

fn expected_object_len(suite: Suite, len: usize) -> u64 {
    assert_eq!(header(suite).encoded_len(), HEADER_LEN);
    let object_len = layout::object_len(len as u64).unwrap();
    assert_eq!(object_len, 4096 + layout::body_len(len as u64).unwrap());
    assert_eq!(
        layout::plaintext_len_from_object_len(object_len).unwrap(),
        len as u64
    );
    object_len
}

#[test]
fn seal_to_vec_and_open_slice() {
    for suite in Suite::ALL {
        for (seed, &len) in SIZES.iter().enumerate() {
            let s = Sealed::new(suite, len, seed as u64);
            assert_eq!(
                s.object.len() as u64,
                expected_object_len(suite, len),
                "{suite} {len}"
            );
            let (h, plain) = open_slice(&s.object, &data_key()).unwrap();
            assert_eq!(h, s.header, "{suite} {len}");
            assert!(plain == s.plaintext, "{suite} {len}: wrong plaintext");
            // Two seals of the same input differ (fresh salt) and both open.
            let again = seal_to_vec(&s.header, &data_key(), salt(), &s.plaintext).unwrap();
            assert_ne!(again, s.object, "{suite} {len}: salt repeated");
            assert!(open_slice(&again, &data_key()).unwrap().1 == s.plaintext);
        }
    }
}

#[test]
fn every_entry_point_opens_every_size() {
    for suite in Suite::ALL {
        for (seed, &len) in SIZES.iter().enumerate() {
            let s = Sealed::new(suite, len, 100 + seed as u64);
            check_all(
                &format!("{suite} {len}"),
                &s.object,
                &data_key(),
                |_| Want::Plaintext(s.plaintext.clone()),
                &[],
            );
        }
    }
}

#[test]
fn writer_splits_then_streaming_reads() {
    let splits: [&[usize]; 7] = [
        &[usize::MAX],
        &[1],
        &[7, 0, 3],
        &[CHUNK_SIZE - 1],
        &[CHUNK_SIZE],
        &[CHUNK_SIZE + 1, 5],
        &[100_000, 1, 16_000],
    ];
    let read_sizes = [1, 13, CHUNK_SIZE - 1, CHUNK_SIZE, SEALED_CHUNK_SIZE, 65_536];
    for suite in Suite::ALL {
        for (seed, &len) in SIZES.iter().enumerate() {
            let plain = plaintext(len, 200 + seed as u64);
            let mut objects = Vec::new();
            for split in splits {
                // One-byte writes of the 1 MiB object are slow and add
                // nothing over the 3-chunk sizes.
                if split == [1] && len > 4 * CHUNK_SIZE {
                    continue;
                }
                let obj = seal_with_writer(suite, &data_key(), &plain, split);
                assert_eq!(obj.len() as u64, expected_object_len(suite, len));
                // A writer's object opens with the one-shot API too.
                assert!(open_slice(&obj, &data_key()).unwrap().1 == plain);
                objects.push(obj);
            }
            // Every read size on one object; each object with one read size.
            for &rs in &read_sizes {
                if rs == 1 && len > 4 * CHUNK_SIZE {
                    continue;
                }
                let out = support::via_stream(&objects[0], &data_key(), rs);
                out.result.unwrap();
                assert!(out.released == plain, "{suite} {len} read size {rs}");
                let out = support::via_stream_one_byte(&objects[0], &data_key(), rs);
                out.result.unwrap();
                assert!(out.released == plain, "{suite} {len} one-byte source, {rs}");
            }
            for (i, obj) in objects.iter().enumerate() {
                let rs = read_sizes[i % read_sizes.len()].max(7);
                let out = support::via_stream(obj, &data_key(), rs);
                out.result.unwrap();
                assert!(out.released == plain, "{suite} {len} object {i}");
            }
        }
    }
}

#[test]
fn sealed_reader_exposes_header_before_the_key() {
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 100, 1);
        let sealed = SealedReader::new(&s.object[..]).unwrap();
        assert_eq!(sealed.header(), &s.header);
        assert_eq!(sealed.header_len(), s.header_len);
        assert_eq!(sealed.header().context().get("app"), Some("backup"));
        let mut r = sealed.open(&data_key()).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, s.plaintext);
        assert!(r.is_done());
        // Reading after the end keeps returning 0.
        assert_eq!(r.read(&mut [0u8; 10]).unwrap(), 0);
        // The inner reader is positioned at the end of the object.
        let rest: &[u8] = r.into_inner();
        assert!(rest.is_empty());
    }
}

/// Offsets worth reading at for a plaintext of `len` bytes: the start, the
/// end, every chunk boundary and its neighbours, and a few inside chunks.
fn offsets(len: u64) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        len / 2,
        len.saturating_sub(1),
        len,
        len + 1,
        len + 100_000,
    ];
    let mut b = 0;
    while b <= len + CHUNK {
        v.extend([b.saturating_sub(1), b, b + 1, b + 8191]);
        b += CHUNK;
    }
    v.push(u64::MAX);
    v.sort_unstable();
    v.dedup();
    v
}

const READ_LENS: [usize; 9] = [0, 1, 2, 100, 16_383, 16_384, 16_385, 40_000, 70_000];

fn slice_at(plain: &[u8], off: u64, n: usize) -> &[u8] {
    let start = usize::try_from(off).unwrap_or(usize::MAX).min(plain.len());
    &plain[start..(start.saturating_add(n)).min(plain.len())]
}

#[test]
fn random_access_read_at_everywhere() {
    for suite in Suite::ALL {
        for (seed, &len) in SIZES.iter().enumerate() {
            let s = Sealed::new(suite, len, 300 + seed as u64);
            let ra = RandomAccess::open(&s.object[..], &data_key()).unwrap();
            assert_eq!(ra.header(), &s.header);
            assert_eq!(ra.chunk_count(), len as u64 / CHUNK + 1);
            for off in offsets(len as u64) {
                for n in READ_LENS {
                    let mut buf = vec![0xEEu8; n];
                    let got = ra.read_at(&mut buf, off).unwrap();
                    let want = slice_at(&s.plaintext, off, n);
                    assert_eq!(got, want.len(), "{suite} {len} read_at({off}, {n})");
                    assert!(buf[..got] == *want, "{suite} {len} read_at({off}, {n})");
                    assert!(
                        buf[got..].iter().all(|&b| b == 0xEE),
                        "{suite} {len} read_at({off}, {n}) wrote past what it returned"
                    );
                    let exact = ra.read_exact_at(&mut buf, off);
                    if want.len() == n {
                        exact.unwrap();
                        assert!(buf == want);
                    } else {
                        assert!(matches!(exact, Err(Error::OutOfRange { .. })));
                    }
                }
            }
            assert_eq!(ra.plaintext_len().unwrap(), len as u64);
            for i in 0..ra.chunk_count() {
                let c = ra.read_chunk(i).unwrap();
                let start = (i * CHUNK) as usize;
                assert!(*c == s.plaintext[start..(start + CHUNK_SIZE).min(len)]);
            }
            assert!(ra.read_chunk(ra.chunk_count()).is_err());
        }
    }
}

#[test]
fn random_access_from_many_threads() {
    let len = SIZES[SIZES.len() - 1];
    for suite in Suite::ALL {
        let s = Sealed::new(suite, len, 400);
        // A fresh RandomAccess, so that the threads race to authenticate
        // the final chunk too.
        let ra = RandomAccess::open(&s.object[..], &data_key()).unwrap();
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let ra = &ra;
                let plain = &s.plaintext;
                scope.spawn(move || {
                    let mut x = t + 1;
                    for _ in 0..60 {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(t);
                        let off = (x >> 20) % (plain.len() as u64 + 2000);
                        let n = ((x >> 8) % 50_000) as usize;
                        let mut buf = vec![0u8; n];
                        let got = ra.read_at(&mut buf, off).unwrap();
                        let want = slice_at(plain, off, n);
                        assert_eq!(got, want.len());
                        assert!(buf[..got] == *want, "thread {t}: read_at({off}, {n})");
                    }
                    assert_eq!(ra.plaintext_len().unwrap(), plain.len() as u64);
                });
            }
        });
    }
}

#[test]
fn random_access_reader_read_and_seek() {
    for suite in Suite::ALL {
        for (seed, &len) in SIZES.iter().enumerate() {
            let s = Sealed::new(suite, len, 500 + seed as u64);
            let mut r = RandomAccessReader::open(Cursor::new(&s.object[..]), &data_key()).unwrap();
            assert_eq!(r.get_ref().header(), &s.header);
            let end = r.seek(SeekFrom::End(0)).unwrap();
            assert_eq!(end, len as u64);
            assert_eq!(r.read(&mut [0u8; 16]).unwrap(), 0, "read at the end");
            if len > 0 {
                assert_eq!(r.seek(SeekFrom::End(-1)).unwrap(), len as u64 - 1);
                let mut one = [0u8; 1];
                r.read_exact(&mut one).unwrap();
                assert_eq!(one[0], s.plaintext[len - 1]);
            }
            for off in offsets(len as u64) {
                if off > len as u64 + CHUNK {
                    continue;
                }
                assert_eq!(r.seek(SeekFrom::Start(off)).unwrap(), off);
                let mut buf = vec![0u8; 20_000];
                let n = r.read(&mut buf).unwrap();
                let want = slice_at(&s.plaintext, off, 20_000);
                assert!(buf[..n] == *want, "{suite} {len} read after seek to {off}");
                assert_eq!(r.stream_position().unwrap(), off + n as u64);
                // SeekFrom::Current backwards to where we were.
                assert_eq!(r.seek(SeekFrom::Current(-(n as i64))).unwrap(), off);
            }
            // Seeking before the start fails and does not move.
            r.seek(SeekFrom::Start(0)).unwrap();
            assert!(r.seek(SeekFrom::Current(-1)).is_err());
            assert!(r.seek(SeekFrom::End(-(len as i64) - 1)).is_err());
            let mut all = Vec::new();
            r.read_to_end(&mut all).unwrap();
            assert!(all == s.plaintext, "{suite} {len}: read_to_end after seeks");
            // From the middle with small reads.
            r.seek(SeekFrom::End(-((len / 3) as i64))).unwrap();
            let mut tail = Vec::new();
            let mut small = [0u8; 777];
            loop {
                let n = r.read(&mut small).unwrap();
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&small[..n]);
            }
            assert!(tail == s.plaintext[len - len / 3..]);
        }
    }
}

#[test]
fn rewrapped_object_opens_everywhere() {
    // FORMAT.md, "Rewrapping and renaming": a new key block (new records,
    // and for a rename a new name), the unchanged bound section and body.
    // The header stays 4096 bytes, so no object offset moves.
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 3 * CHUNK_SIZE + 100, 600);
        let records = || {
            vec![
                sealstream_format::KeyRecord::new(
                    "aws-kms",
                    "arn:aws:kms:x:1:key/abc",
                    vec![1; 200],
                )
                .unwrap(),
                sealstream_format::KeyRecord::new("x25519", "", vec![2; 32]).unwrap(),
            ]
        };
        let rewrapped = s.header.with_records(records()).unwrap();
        let renamed = s
            .header
            .with_name_and_records("archive/2026/db.tar", records())
            .unwrap();
        assert_eq!(rewrapped.name(), s.header.name());
        assert_eq!(renamed.name(), "archive/2026/db.tar");
        for new_header in [rewrapped, renamed] {
            assert_eq!(new_header.bound_section(), s.header.bound_section());
            let mut object = new_header.encode();
            object.extend_from_slice(s.body());
            assert_eq!(object.len(), s.object.len());
            check_all(
                &format!("{suite} rewrapped as {:?}", new_header.name()),
                &object,
                &data_key(),
                |_| Want::Plaintext(s.plaintext.clone()),
                &[],
            );
            assert_eq!(open_slice(&object, &data_key()).unwrap().0, new_header);
        }
    }
}

#[test]
fn empty_context_and_minimal_header() {
    for suite in Suite::ALL {
        let rec = sealstream_format::KeyRecord::new("a", "", vec![1]).unwrap();
        let h = sealstream_format::Header::new(
            suite,
            sealstream_format::EncryptionContext::new(),
            "",
            vec![rec],
        )
        .unwrap();
        assert_eq!(h.fields_len(), sealstream_format::MIN_FIELDS_LEN);
        assert_eq!(h.encoded_len(), HEADER_LEN);
        for len in [0, 1, CHUNK_SIZE] {
            let s = Sealed::with_header(h.clone(), &data_key(), len, 700);
            check_all(
                &format!("{suite} minimal header {len}"),
                &s.object,
                &data_key(),
                |_| Want::Plaintext(s.plaintext.clone()),
                &[],
            );
        }
    }
}

// ---- layout -------------------------------------------------------------

fn plan_lengths() -> Vec<u64> {
    let mut v: Vec<u64> = SIZES.iter().map(|&n| n as u64).collect();
    v.extend([2, 100, 5 * CHUNK - 1, 5 * CHUNK + 3, 7 * CHUNK]);
    v
}

#[test]
fn plan_range_then_open_chunk_gives_the_slice() {
    for suite in Suite::ALL {
        for (seed, len) in plan_lengths().into_iter().enumerate() {
            let s = Sealed::new(suite, len as usize, 800 + seed as u64);
            let body = s.body();
            let prefix: [u8; BODY_PREFIX_LEN] = body[..BODY_PREFIX_LEN].try_into().unwrap();
            let cipher = ChunkOpener::new(
                suite,
                &data_key(),
                &BodyPrefix::from_bytes(&prefix),
                s.header.bound_section(),
            )
            .unwrap();
            let body_len = layout::body_len(len).unwrap();
            assert_eq!(body.len() as u64, body_len);
            assert_eq!(layout::plaintext_len(body_len).unwrap(), len);
            let last_index = len / CHUNK;
            assert_eq!(layout::final_chunk_index(len), last_index);
            for a in offsets(len).into_iter().filter(|&a| a <= len) {
                for n in [0u64, 1, 2, 16_383, 16_384, 16_385, 50_000, u64::MAX - a] {
                    let b = a.saturating_add(n);
                    let plan = match layout::plan_range(a..b, len) {
                        Ok(p) => p,
                        Err(Error::OutOfRange { .. }) if a == len && b > a => continue,
                        Err(e) => panic!("plan_range({a}..{b}, {len}): {e}"),
                    };
                    assert!(
                        !(a == len && b > a),
                        "plan_range({a}..{b}, {len}) accepted a range starting at the end"
                    );
                    let end = b.min(len);
                    // FORMAT.md, "Lengths and offsets".
                    let c0 = a / CHUNK;
                    let c1 = if end > a { (end - 1) / CHUNK } else { c0 };
                    assert_eq!((plan.first_chunk, plan.last_chunk), (c0, c1));
                    assert_eq!(plan.skip, a % CHUNK);
                    assert_eq!(plan.len, end - a);
                    assert_eq!(
                        plan.body_range,
                        56 + c0 * SEALED..(56 + (c1 + 1) * SEALED).min(body_len),
                        "plan_range({a}..{b}, {len})"
                    );
                    // Decrypt only those chunks, from only those bytes.
                    let mut fetched =
                        body[plan.body_range.start as usize..plan.body_range.end as usize].to_vec();
                    let mut plain = Vec::new();
                    for (j, sealed) in fetched.chunks_mut(SEALED_CHUNK_SIZE).enumerate() {
                        let index = c0 + j as u64;
                        let range = layout::chunk_body_range(index, len).unwrap();
                        assert_eq!(range.end - range.start, sealed.len() as u64);
                        let p = cipher
                            .open_chunk(index, sealed, index == last_index)
                            .unwrap();
                        plain.extend_from_slice(p);
                    }
                    let got = &plain[plan.skip as usize..(plan.skip + plan.len) as usize];
                    assert!(
                        got == slice_at(&s.plaintext, a, (end - a) as usize),
                        "{suite} plan_range({a}..{b}, {len})"
                    );
                }
            }
            // Starting past the end is out of range, whatever the end.
            for (a, b) in [(len + 1, len + 1), (len + 1, len + 2), (len, len + 1)] {
                assert!(
                    matches!(layout::plan_range(a..b, len), Err(Error::OutOfRange { .. })),
                    "plan_range({a}..{b}, {len})"
                );
            }
        }
    }
}

#[test]
fn plaintext_len_inverts_body_len() {
    let mut n = 0u64;
    while n < 6 * CHUNK {
        assert_eq!(
            layout::plaintext_len(layout::body_len(n).unwrap()).unwrap(),
            n
        );
        n += 97;
    }
    for k in 0..5u64 {
        for d in [0u64, 1, 2, CHUNK - 1] {
            let n = k * CHUNK + d;
            let b = layout::body_len(n).unwrap();
            assert_eq!(b, 56 + k * SEALED + d + TAG_LEN as u64);
            assert_eq!(layout::plaintext_len(b).unwrap(), n);
        }
    }
    // FORMAT.md: the longest body is 4507997673881655 bytes.
    assert_eq!(MAX_PLAINTEXT_LEN, (1u64 << 52) - 1);
    let longest = layout::body_len(MAX_PLAINTEXT_LEN).unwrap();
    assert_eq!(longest, 4_507_997_673_881_655);
    assert_eq!(layout::plaintext_len(longest).unwrap(), MAX_PLAINTEXT_LEN);
    assert!(layout::body_len(MAX_PLAINTEXT_LEN + 1).is_err());
    assert!(layout::body_len(u64::MAX).is_err());
}

#[test]
fn impossible_body_lengths_are_rejected_exactly() {
    // FORMAT.md, "Lengths and offsets": valid iff body_len >= 56,
    // f = (body_len - 56) % 16400 >= 16 and k <= 2^38 - 1.
    let top = 56 + 3 * SEALED + 20;
    for body_len in 0..=top {
        let valid = body_len >= 56 && (body_len - 56) % SEALED >= 16;
        match layout::plaintext_len(body_len) {
            Ok(n) => {
                assert!(valid, "body length {body_len} accepted");
                assert_eq!(layout::body_len(n).unwrap(), body_len);
            }
            Err(Error::Truncated { .. }) => assert!(!valid, "body length {body_len} rejected"),
            Err(e) => panic!("body length {body_len}: unexpected {e:?}"),
        }
    }
    // k >= 2^38 is over the limit even with a well-formed final chunk.
    let k_max = MAX_CHUNKS - 1;
    for (k, f, ok) in [
        (k_max, 16, true),
        (k_max, 16_399, true),
        (k_max + 1, 16, false),
        (k_max + 1, 100, false),
        (k_max + 1, 0, false),
    ] {
        let body_len = 56 + k * SEALED + f;
        assert_eq!(
            layout::plaintext_len(body_len).is_ok(),
            ok,
            "k = {k}, f = {f}"
        );
    }
    assert!(layout::plaintext_len(u64::MAX).is_err());
}

#[test]
fn chunk_body_range_matches_the_format() {
    for len in plan_lengths() {
        let k = len / CHUNK;
        for j in 0..=k {
            let r = layout::chunk_body_range(j, len).unwrap();
            assert_eq!(r.start, 56 + j * SEALED);
            let want_len = if j < k { SEALED } else { len % CHUNK + 16 };
            assert_eq!(r.end - r.start, want_len, "chunk {j} of {len}");
        }
        assert!(layout::chunk_body_range(k + 1, len).is_err());
    }
}

// ---- the sans-IO core ----------------------------------------------------

fn cipher(suite: Suite) -> ChunkSealer {
    sealer_and_opener(suite).0
}

fn sealer_and_opener(suite: Suite) -> (ChunkSealer, ChunkOpener) {
    let (sealer, prefix) =
        ChunkSealer::new(suite, &data_key(), Salt::danger_from_bytes([7; 24]), b"ctx").unwrap();
    let opener = ChunkOpener::new(suite, &data_key(), &prefix, b"ctx").unwrap();
    (sealer, opener)
}

#[test]
fn chunk_cipher_enforces_the_chunk_index_limit() {
    // FORMAT.md, "Chunking": the final chunk's index is at most 2^38 - 1,
    // so a full chunk at index 2^38 - 1 exceeds the limit, in sealing and
    // in opening; a final chunk there is fine.
    let limit_err = |e: &Error| matches!(e, Error::TooLarge | Error::LimitExceeded { .. });
    for suite in Suite::ALL {
        let (c, o) = sealer_and_opener(suite);
        let last = MAX_CHUNKS - 1;
        let mut full = vec![1u8; CHUNK_SIZE];
        let r = c.seal_chunk(last, &mut full, false);
        assert!(
            r.as_ref().is_err_and(limit_err),
            "{suite}: sealed a full chunk at index 2^38 - 1: {r:?}"
        );
        let mut full = vec![1u8; CHUNK_SIZE];
        assert!(c.seal_chunk(last - 1, &mut full, false).is_ok());
        let mut short = vec![2u8; 10];
        let tag = c.seal_chunk(last, &mut short, true).unwrap();
        let mut sealed = short.clone();
        sealed.extend_from_slice(&tag);
        assert_eq!(o.open_chunk(last, &mut sealed, true).unwrap(), &[2u8; 10]);
        let mut short = vec![2u8; 10];
        assert!(
            c.seal_chunk(MAX_CHUNKS, &mut short, true)
                .as_ref()
                .is_err_and(limit_err)
        );
        // Opening a full chunk at 2^38 - 1 fails before the AEAD, even if
        // someone managed to seal one (here: a full buffer of any bytes).
        let mut sealed = vec![0u8; SEALED_CHUNK_SIZE];
        let r = o.open_chunk(last, &mut sealed, false);
        assert!(r.is_err_and(|e| limit_err(&e)), "{suite}");
    }
}

#[test]
fn writer_refuses_a_full_chunk_at_the_last_index() {
    for suite in Suite::ALL {
        let mut w = EncryptingWriter::from_parts(Vec::new(), cipher(suite), MAX_CHUNKS - 1);
        let r = w.write_all(&vec![0u8; CHUNK_SIZE]);
        let e = Error::from(r.unwrap_err());
        assert!(
            matches!(e, Error::TooLarge | Error::LimitExceeded { .. }),
            "{e:?}"
        );
        // A short final chunk at the last index is allowed.
        let mut w = EncryptingWriter::from_parts(Vec::new(), cipher(suite), MAX_CHUNKS - 1);
        w.write_all(&[1u8; 100]).unwrap();
        assert_eq!(w.finish().unwrap().len(), 100 + TAG_LEN);
    }
}

#[test]
fn chunk_cipher_checks_buffer_sizes() {
    for suite in Suite::ALL {
        let (c, o) = sealer_and_opener(suite);
        assert!(c.seal_chunk(0, &mut [0u8; CHUNK_SIZE - 1], false).is_err());
        assert!(c.seal_chunk(0, &mut [0u8; CHUNK_SIZE], true).is_err());
        assert!(c.seal_chunk_in_buf(0, &mut [0u8; 15], true).is_err());
        assert!(
            o.open_chunk(0, &mut [0u8; SEALED_CHUNK_SIZE - 1], false)
                .is_err()
        );
        assert!(matches!(
            o.open_chunk(0, &mut [0u8; 15], true),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            o.open_chunk(0, &mut [0u8; SEALED_CHUNK_SIZE], true),
            Err(Error::Truncated { .. })
        ));
        // seal_chunk_in_buf and seal_chunk agree, and a chunk opens only at
        // its own index and finality.
        let mut a = vec![9u8; 50 + TAG_LEN];
        c.seal_chunk_in_buf(3, &mut a, true).unwrap();
        let mut b = vec![9u8; 50];
        let tag = c.seal_chunk(3, &mut b, true).unwrap();
        b.extend_from_slice(&tag);
        assert_eq!(a, b);
        assert!(o.open_chunk(2, &mut a.clone(), true).is_err());
        assert!(o.open_chunk(4, &mut a.clone(), true).is_err());
        assert_eq!(o.open_chunk(3, &mut a, true).unwrap(), &[9u8; 50]);
    }
}
