//! Property tests: any plaintext, any write split, any read size round
//! trips; random access returns exactly the plaintext slice; the length
//! and range arithmetic agrees with docs/FORMAT.md; any damaged byte of a
//! body is caught.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::support;

use std::io::{Cursor, Read, Write};

use proptest::prelude::*;
use sealstream_format::layout::{self, MAX_PLAINTEXT_LEN};
use sealstream_format::{
    CHUNK_SIZE, EncryptingWriter, Error, MAX_CHUNKS, RandomAccess, RandomAccessReader,
    SealedReader, Suite, open_slice,
};
use support::{CHUNK, OneByte, SEALED, Sealed, Want, data_key, header, plaintext, salt};

fn suite() -> impl Strategy<Value = Suite> {
    prop::sample::select(Suite::ALL.to_vec())
}

/// Plaintext sizes up to about 70 KiB, half of them a multiple of the
/// chunk size plus -1, 0 or +1 (FORMAT.md, "Chunking").
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=70 * 1024,
        (0usize..=4, 0usize..3).prop_map(|(k, d)| (k * CHUNK_SIZE + d).saturating_sub(1)),
    ]
}

/// Reads `r` to the end with `size`-byte reads.
fn read_all(mut r: impl Read, size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; size];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn slice_at(plain: &[u8], off: u64, n: usize) -> &[u8] {
    let start = usize::try_from(off).unwrap_or(usize::MAX).min(plain.len());
    &plain[start..start.saturating_add(n).min(plain.len())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_and_read_size_round_trips(
        suite in suite(),
        len in size(),
        seed in any::<u64>(),
        splits in prop::collection::vec(1usize..=20_000, 1..8),
        read_size in prop_oneof![1usize..=64, 1usize..=70_000],
        one_byte_source in any::<bool>(),
    ) {
        let plain = plaintext(len, seed);
        let mut w = EncryptingWriter::new(Vec::new(), &header(suite), &data_key(), salt()).unwrap();
        let mut rest = &plain[..];
        for &n in splits.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = n.min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        let object = w.finish().unwrap();
        prop_assert_eq!(
            object.len() as u64,
            header(suite).encoded_len() as u64 + layout::body_len(len as u64).unwrap()
        );

        let out = if one_byte_source {
            let sealed = SealedReader::new(OneByte(&object[..])).unwrap();
            read_all(sealed.open(&data_key()).unwrap(), read_size)
        } else {
            let sealed = SealedReader::new(&object[..]).unwrap();
            read_all(sealed.open(&data_key()).unwrap(), read_size)
        };
        prop_assert!(out == plain, "streaming reader");
        let r = RandomAccessReader::open(Cursor::new(&object), &data_key()).unwrap();
        prop_assert!(read_all(r, read_size) == plain, "RandomAccessReader");

        prop_assert!(open_slice(&object, &data_key()).unwrap().1 == plain, "open_slice");
    }

    #[test]
    fn read_at_any_offset_and_length_is_the_slice(
        suite in suite(),
        len in size(),
        seed in any::<u64>(),
        reads in prop::collection::vec(
            (prop_oneof![4 => 0u64..=80_000, 1 => any::<u64>()], 0usize..=40_000),
            1..12,
        ),
    ) {
        let s = Sealed::new(suite, len, seed);
        let ra = RandomAccess::open(&s.object[..], &data_key()).unwrap();
        for (off, n) in reads {
            let mut buf = vec![0xEEu8; n];
            let got = ra.read_at(&mut buf, off).unwrap();
            let want = slice_at(&s.plaintext, off, n);
            prop_assert_eq!(got, want.len(), "read_at({}, {})", off, n);
            prop_assert!(buf[..got] == *want, "read_at({}, {})", off, n);
            prop_assert!(buf[got..].iter().all(|&b| b == 0xEE));
        }
        prop_assert_eq!(ra.plaintext_len().unwrap(), len as u64);
    }

    #[test]
    fn any_flipped_or_cut_body_byte_is_caught(
        suite in suite(),
        len in size(),
        seed in any::<u64>(),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let s = Sealed::new(suite, len, seed);
        let mut body = s.body().to_vec();
        let at = pos.index(body.len());
        if cut {
            body.truncate(at);
        } else {
            body[at] ^= mask;
        }
        // Streaming and random access: an error naming the right chunk,
        // and only whole authentic chunks released.
        let exp = support::check_body(&format!("{suite} {len} byte {at} cut={cut}"), &s, &body);
        for w in [exp.stream, exp.final_first, exp.sequential] {
            prop_assert!(!matches!(w, Want::Plaintext(_)), "the oracle expects {w:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lengths_follow_the_format(n in 0..=MAX_PLAINTEXT_LEN, b in any::<u64>()) {
        let body = layout::body_len(n).unwrap();
        prop_assert_eq!(body, 56 + (n / CHUNK) * SEALED + n % CHUNK + 16);
        prop_assert_eq!(layout::plaintext_len(body).unwrap(), n);
        // Any u64 body length: valid exactly as "Lengths and offsets" says.
        let valid = b >= 56 && (b - 56) % SEALED >= 16 && (b - 56) / SEALED < MAX_CHUNKS;
        match layout::plaintext_len(b) {
            Ok(p) => {
                prop_assert!(valid);
                prop_assert_eq!(layout::body_len(p).unwrap(), b);
            }
            Err(_) => prop_assert!(!valid),
        }
    }

    #[test]
    fn plan_range_follows_the_format(
        len in prop_oneof![0u64..=200_000, 0..=MAX_PLAINTEXT_LEN],
        a_at in any::<prop::sample::Index>(),
        n in prop_oneof![0u64..=40_000, any::<u64>()],
    ) {
        let a = a_at.index(len as usize + 1) as u64;
        let b = a.saturating_add(n);
        match layout::plan_range(a..b, len) {
            Err(Error::OutOfRange { .. }) => prop_assert!(a == len && b > a),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
            Ok(p) => {
                prop_assert!(!(a == len && b > a));
                let end = b.min(len);
                let c0 = a / CHUNK;
                let c1 = if end > a { (end - 1) / CHUNK } else { c0 };
                let body_len = layout::body_len(len).unwrap();
                prop_assert_eq!((p.first_chunk, p.last_chunk), (c0, c1));
                prop_assert_eq!(p.skip, a % CHUNK);
                prop_assert_eq!(p.len, end - a);
                prop_assert_eq!(
                    p.body_range,
                    56 + c0 * SEALED..(56 + (c1 + 1) * SEALED).min(body_len)
                );
                // The wanted bytes lie inside the chunks fetched.
                let fetched_plain = (c1 + 1 - c0) * CHUNK;
                prop_assert!(p.skip + p.len <= fetched_plain);
            }
        }
    }
}
