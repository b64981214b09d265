//! The tamper matrix: truncation, extension, single-byte flips, chunk
//! deletion/duplication/reordering, header swaps, changed context, wrong
//! keys. Every case must fail through every reading entry point, with the
//! error docs/FORMAT.md names, releasing no plaintext of a damaged chunk.
//! The one exception is the key block, which is deliberately not bound.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::support;

use std::io::{Read, Write};

use sealstream_format::{
    BODY_PREFIX_LEN, CHUNK_SIZE, DataKey, EncryptingWriter, EncryptionContext, Error, HEADER_LEN,
    Header, KeyRecord, RandomAccess, SALT_LEN, SEALED_CHUNK_SIZE, Salt, SealedReader, Suite,
    open_slice, seal_to_vec,
};
use support::{
    CONTEXT_PAIRS, NAME, Order, RECORD_KEY_ID, RECORD_PROVIDER, RECORD_WRAPPED_LEN, Sealed, Want,
    check_all, check_body, data_key, header, other_key, plaintext, salt,
};

/// A small object (one final chunk), one full chunk plus an empty final
/// chunk, and three full chunks plus a short final one.
const SIZES: [usize; 3] = [100, CHUNK_SIZE, 3 * CHUNK_SIZE + 100];

/// Checks a damaged body and also that the oracle agrees it is damaged
/// (a vacuous oracle would make the whole matrix pass).
fn check_damaged(case: &str, orig: &Sealed, body: &[u8]) {
    assert_ne!(body, orig.body(), "{case}: the body is not damaged");
    let exp = check_body(case, orig, body);
    for order in [Order::Stream, Order::FinalFirst, Order::Sequential] {
        assert!(
            !matches!(exp.want(order), Want::Plaintext(_)),
            "{case}: the oracle thinks {order:?} opens"
        );
    }
}

fn objects() -> Vec<Sealed> {
    let mut v = Vec::new();
    for suite in Suite::ALL {
        for (i, &len) in SIZES.iter().enumerate() {
            v.push(Sealed::new(suite, len, 1000 + i as u64));
        }
    }
    v
}

fn name(s: &Sealed) -> String {
    format!("{} {}", s.suite, s.plaintext.len())
}

// ---- truncation and extension -------------------------------------------

#[test]
fn truncation_anywhere_fails_as_truncated_or_final_chunk() {
    for s in objects() {
        let h = s.header_len;
        let mut cuts = vec![0, 1, 7, 8, 11, 12, 13, 14, 20, h - 1];
        cuts.extend([h, h + 1, h + SALT_LEN, h + BODY_PREFIX_LEN - 1]);
        for j in 0..s.chunks().len() {
            let c = s.chunk_offset(j);
            cuts.extend([c, c + 1, c + 15, c + 16, c + 17, c + 8200, c + 16_399]);
        }
        cuts.push(s.object.len() - 1);
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts.into_iter().filter(|&c| c < s.object.len()) {
            let case = format!("{} truncated to {cut}", name(&s));
            if cut < h {
                check_all(
                    &case,
                    &s.object[..cut],
                    &data_key(),
                    |_| Want::Truncated,
                    &[],
                );
                continue;
            }
            let body = &s.body()[..cut - h];
            check_damaged(&case, &s, body);
            // FORMAT.md: truncation is reported as truncated, or as a
            // failed *final* chunk when the cut leaves a short chunk.
            let exp = support::expect_body(&s, body);
            for order in [Order::Stream, Order::FinalFirst, Order::Sequential] {
                match exp.want(order) {
                    Want::Truncated
                    | Want::Chunk {
                        final_chunk: true, ..
                    } => {}
                    w => panic!("{case}: {order:?} expects {w:?}"),
                }
            }
        }
    }
}

#[test]
fn appended_bytes_are_rejected() {
    for s in objects() {
        let chunk0 = s.chunks()[0].to_vec();
        let last = s.chunks().last().unwrap().to_vec();
        let other = Sealed::new(s.suite, s.plaintext.len(), 77);
        let appendices: Vec<(&str, Vec<u8>)> = vec![
            ("1 zero byte", vec![0]),
            ("16 bytes", vec![0x5A; 16]),
            ("a whole chunk of junk", vec![0x5A; SEALED_CHUNK_SIZE]),
            ("a copy of chunk 0 padded to a whole chunk", {
                let mut v = chunk0.clone();
                v.resize(SEALED_CHUNK_SIZE, 0);
                v
            }),
            ("a copy of the final chunk", last),
            ("another whole object", other.object.clone()),
        ];
        for (what, extra) in appendices {
            let mut body = s.body().to_vec();
            body.extend_from_slice(&extra);
            check_damaged(&format!("{} + {what}", name(&s)), &s, &body);
        }
    }
}

// ---- chunk deletion, duplication, reordering, substitution ----------------

fn rebuild(s: &Sealed, chunks: &[&[u8]]) -> Vec<u8> {
    let mut body = s.body()[..BODY_PREFIX_LEN].to_vec();
    for c in chunks {
        body.extend_from_slice(c);
    }
    body
}

#[test]
fn deleted_duplicated_reordered_and_foreign_chunks_are_rejected() {
    for s in objects() {
        let chunks = s.chunks();
        let n = chunks.len();
        let twin = Sealed::new(s.suite, s.plaintext.len(), 1000 + 55);
        // Same key, same header, same plaintext: only the salt differs.
        let same_plain = Sealed::with_header(
            s.header.clone(),
            &data_key(),
            s.plaintext.len(),
            // The seed of `s` (see `objects`).
            1000 + SIZES.iter().position(|&l| l == s.plaintext.len()).unwrap() as u64,
        );
        assert!(same_plain.plaintext == s.plaintext);
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        for j in 0..n {
            let mut v = chunks.clone();
            v.remove(j);
            cases.push((format!("chunk {j} deleted"), rebuild(&s, &v)));
            let mut v = chunks.clone();
            v.insert(j, chunks[j]);
            cases.push((format!("chunk {j} duplicated"), rebuild(&s, &v)));
            let mut v = chunks.clone();
            v[j] = same_plain.chunks()[j];
            cases.push((
                format!("chunk {j} from another object with the same key and plaintext"),
                rebuild(&s, &v),
            ));
            let mut v = chunks.clone();
            v[j] = twin.chunks()[j];
            cases.push((format!("chunk {j} from another object"), rebuild(&s, &v)));
            if j + 1 < n {
                let mut v = chunks.clone();
                v.swap(j, j + 1);
                cases.push((format!("chunks {j} and {} swapped", j + 1), rebuild(&s, &v)));
            }
        }
        if n > 1 {
            let mut v = chunks.clone();
            v.reverse();
            cases.push(("chunks reversed".into(), rebuild(&s, &v)));
            let mut v = chunks.clone();
            v.rotate_right(1);
            cases.push(("final chunk moved to the front".into(), rebuild(&s, &v)));
            cases.push(("only the final chunk".into(), rebuild(&s, &chunks[n - 1..])));
            cases.push(("final chunk deleted".into(), rebuild(&s, &chunks[..n - 1])));
        }
        // The whole body of the same-plaintext twin is valid on its own,
        // but mixing its prefix with our chunks is not.
        let mut mixed = same_plain.body()[..BODY_PREFIX_LEN].to_vec();
        mixed.extend_from_slice(&s.body()[BODY_PREFIX_LEN..]);
        for (what, body) in cases {
            check_damaged(&format!("{}: {what}", name(&s)), &s, &body);
        }
        // Its commitment verifies (same key and context), so the failure
        // is at a chunk: chunk 0 when streaming, the final one when the
        // length is checked first.
        let exp = support::check_body_prefix(
            &format!("{}: salt and commitment of another object", name(&s)),
            &s,
            &mixed,
            true,
        );
        assert_eq!(
            exp.stream,
            Want::Chunk {
                index: 0,
                final_chunk: n == 1
            }
        );
        assert_eq!(
            exp.final_first,
            Want::Chunk {
                index: n as u64 - 1,
                final_chunk: true
            }
        );
    }
}

#[test]
fn flipped_body_bytes_name_the_damaged_chunk() {
    for s in objects() {
        let h = s.header_len;
        let mut offsets = vec![0, SALT_LEN - 1, SALT_LEN, BODY_PREFIX_LEN - 1];
        for j in 0..s.chunks().len() {
            let start = s.chunk_offset(j) - h;
            let len = s.chunks()[j].len();
            offsets.extend([start, start + len / 2, start + len - 17, start + len - 1]);
        }
        offsets.sort_unstable();
        offsets.dedup();
        for off in offsets {
            let mut body = s.body().to_vec();
            body[off] ^= 0x20;
            let case = format!("{}: body byte {off} flipped", name(&s));
            let exp = support::expect_body(&s, &body);
            if off < BODY_PREFIX_LEN {
                assert_eq!(exp.stream, Want::Commitment, "{case}");
            } else {
                let j = (off - BODY_PREFIX_LEN) / SEALED_CHUNK_SIZE;
                let final_chunk = j == s.chunks().len() - 1;
                let want = Want::Chunk {
                    index: j as u64,
                    final_chunk,
                };
                // A flip does not move chunks: every entry point names j.
                for order in [Order::Stream, Order::FinalFirst, Order::Sequential] {
                    assert_eq!(exp.want(order), want, "{case}");
                }
            }
            check_damaged(&case, &s, &body);
        }
    }
}

// ---- every byte of a small object -----------------------------------------

/// What a byte of the small object's header is, laid out from FORMAT.md
/// (independently of the crate's encoder).
#[derive(Clone, Copy, Debug)]
enum Region {
    Magic,
    HeaderLen,
    Version,
    Suite,
    /// `context_count`, `key_len`, `value_len`.
    BoundLength,
    ContextKey {
        pair: usize,
        pos: usize,
    },
    ContextValue,
    /// `name_len`, `record_count`, `provider_len`, `key_id_len`, `wrapped_len`.
    KeyBlockLength,
    Name,
    Provider {
        pos: usize,
    },
    KeyId,
    /// The record's `wrapped_len`.
    WrappedLen,
    Wrapped,
    Padding,
}

fn header_regions() -> Vec<Region> {
    use Region::*;
    let mut r = vec![Magic; 8];
    r.extend([HeaderLen; 4]);
    r.extend([Version, Suite, BoundLength, BoundLength]);
    for (pair, (k, v)) in CONTEXT_PAIRS.iter().enumerate() {
        r.push(BoundLength);
        r.extend((0..k.len()).map(|pos| ContextKey { pair, pos }));
        r.extend([BoundLength; 2]);
        r.extend(std::iter::repeat_n(ContextValue, v.len()));
    }
    r.extend([KeyBlockLength; 2]);
    r.extend(std::iter::repeat_n(Name, NAME.len()));
    r.extend([KeyBlockLength; 3]);
    r.extend((0..RECORD_PROVIDER.len()).map(|pos| Provider { pos }));
    r.extend([KeyBlockLength; 2]);
    r.extend(std::iter::repeat_n(KeyId, RECORD_KEY_ID.len()));
    r.extend([WrappedLen; 2]);
    r.extend(std::iter::repeat_n(Wrapped, RECORD_WRAPPED_LEN));
    let fields = r.len();
    r.extend(std::iter::repeat_n(Padding, HEADER_LEN - fields));
    r
}

fn provider_byte_ok(pos: usize, b: u8) -> bool {
    b.is_ascii_lowercase() || (pos > 0 && (b.is_ascii_digit() || b == b'-' || b == b'.'))
}

/// FORMAT.md, "Reading", steps 1-8, for a header whose byte `off` became `b`.
fn expect_header_flip(s: &Sealed, object: &[u8], region: Region, b: u8) -> Want {
    match region {
        // The last record's wrapped_len: a longer `wrapped` that still ends
        // inside the header takes padding zeros into the record and is a
        // valid header (another record); a shorter one leaves 0xAA bytes as
        // padding; longer than 8192 is over the limit; past 4096 runs out.
        Region::WrappedLen => {
            let at = s.header.fields_len() - RECORD_WRAPPED_LEN - 2;
            let wlen = usize::from(u16::from_be_bytes([object[at], object[at + 1]]));
            if wlen == 0 {
                Want::Malformed
            } else if wlen > 8192 {
                Want::Limit
            } else if at + 2 + wlen > HEADER_LEN || wlen < RECORD_WRAPPED_LEN {
                Want::Malformed
            } else {
                Want::Plaintext(s.plaintext.clone())
            }
        }
        Region::Magic => Want::NotSealstream,
        // FORMAT.md, "Fixed prefix": header_len is 4096, nothing else.
        Region::HeaderLen => Want::Malformed,
        Region::Padding => Want::Malformed,
        // A name byte: invalid UTF-8 or a control character is malformed;
        // otherwise the name is not bound by the commitment, and these
        // entry points compare it with nothing, so the object opens.
        Region::Name if !(0x20..0x7f).contains(&b) => Want::Malformed,
        Region::Name => Want::Plaintext(s.plaintext.clone()),
        Region::Version => Want::UnsupportedVersion(b),
        Region::Suite if b == 1 || b == 2 => Want::Commitment,
        Region::Suite => Want::UnsupportedSuite(b),
        Region::BoundLength | Region::KeyBlockLength => Want::MalformedOrLimit,
        Region::ContextKey { pair, pos } => {
            if b >= 0x80 {
                return Want::Malformed; // a lone non-ASCII byte is not UTF-8
            }
            let mut keys: Vec<Vec<u8>> = CONTEXT_PAIRS
                .iter()
                .map(|(k, _)| k.as_bytes().to_vec())
                .collect();
            keys[pair][pos] = b;
            let sorted = keys.windows(2).all(|w| w[0] < w[1]);
            let reserved = keys.iter().any(|k| k.starts_with(b"sealstream:"));
            if sorted && !reserved {
                Want::Commitment
            } else {
                Want::Malformed
            }
        }
        Region::ContextValue if b >= 0x80 => Want::Malformed,
        Region::ContextValue => Want::Commitment,
        Region::Provider { pos } if !provider_byte_ok(pos, b) => Want::Malformed,
        Region::KeyId if b >= 0x80 => Want::Malformed,
        // The key block is not bound: the object still opens.
        Region::Provider { .. } | Region::KeyId | Region::Wrapped => {
            Want::Plaintext(s.plaintext.clone())
        }
    }
}

#[test]
fn every_byte_of_a_small_object_flipped() {
    let masks = [0x01u8, 0x03, 0x80, 0xFF];
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 100, 2000);
        let regions = header_regions();
        assert_eq!(regions.len(), s.header_len, "region map out of date");
        let mut opened = 0;
        for off in 0..s.object.len() {
            for mask in masks {
                let mut object = s.object.clone();
                object[off] ^= mask;
                let b = object[off];
                let case = format!("{suite}: byte {off} ^ {mask:#04x}");
                if off >= s.header_len {
                    check_damaged(&case, &s, &object[s.header_len..]);
                    continue;
                }
                let region = regions[off];
                let want = expect_header_flip(&s, &object, region, b);
                check_all(
                    &format!("{case} ({region:?})"),
                    &object,
                    &data_key(),
                    |_| want.clone(),
                    &[],
                );
                if matches!(want, Want::Plaintext(_)) {
                    // Documents the design: a changed key record still
                    // opens, and the change is visible in the header.
                    opened += 1;
                    let (h, _) = open_slice(&object, &data_key()).unwrap();
                    assert_ne!(h, s.header, "{case}");
                    assert_eq!(h.bound_section(), s.header.bound_section(), "{case}");
                }
            }
        }
        // 60 wrapped bytes, the key id, name and provider bytes, several masks.
        assert!(opened > 4 * RECORD_WRAPPED_LEN, "{suite}: {opened}");
    }
}

#[test]
fn salt_and_commitment_flips_are_commitment_mismatches() {
    for s in objects() {
        for off in 0..BODY_PREFIX_LEN {
            let mut body = s.body().to_vec();
            body[off] ^= 0x01;
            let case = format!("{}: prefix byte {off}", name(&s));
            assert_eq!(support::expect_body(&s, &body).stream, Want::Commitment);
            check_all(
                &case,
                &s.with_body(&body),
                &data_key(),
                |_| Want::Commitment,
                &[],
            );
        }
    }
}

// ---- headers, contexts and keys ---------------------------------------------

fn splice(header: &Header, body: &[u8]) -> Vec<u8> {
    let mut v = header.encode();
    v.extend_from_slice(body);
    v
}

#[test]
fn header_swapped_between_objects() {
    for suite in Suite::ALL {
        let len = 3 * CHUNK_SIZE + 100;
        let ha = Header::new(
            suite,
            support::context(),
            "a",
            vec![KeyRecord::new("local", "key-a", vec![1; 60]).unwrap()],
        )
        .unwrap();
        let hb = Header::new(
            suite,
            support::context(),
            "b",
            vec![KeyRecord::new("local", "key-b", vec![2; 60]).unwrap()],
        )
        .unwrap();
        let a = Sealed::with_header(ha.clone(), &data_key(), len, 1);
        let b = Sealed::with_header(hb.clone(), &other_key(), len, 2);
        // A's header on B's body: A's key does not open it...
        let object = splice(&ha, b.body());
        check_all(
            &format!("{suite}: header of A, body of B, key A"),
            &object,
            &data_key(),
            |_| Want::Commitment,
            &[],
        );
        // B's header on A's body, B's key: the same.
        check_all(
            &format!("{suite}: header of B, body of A, key B"),
            &splice(&hb, a.body()),
            &other_key(),
            |_| Want::Commitment,
            &[],
        );
        // ...but B's key opens A's header on B's body: the key block is
        // not bound by the commitment (FORMAT.md, "Security considerations");
        // the key records bind it, which the key providers check, and the
        // name is checked by readers that expect one.
        check_all(
            &format!("{suite}: header of A, body of B, key B"),
            &object,
            &other_key(),
            |_| Want::Plaintext(b.plaintext.clone()),
            &[],
        );

        // Same key, different contexts: the bound sections differ.
        let hc = Header::new(
            suite,
            EncryptionContext::from_pairs([("app", "backup"), ("path", "other.tar")]).unwrap(),
            NAME,
            vec![support::record()],
        )
        .unwrap();
        let c = Sealed::with_header(hc.clone(), &data_key(), len, 3);
        let d = Sealed::new(suite, len, 4);
        for (what, object) in [
            ("header of C on body of D", splice(&hc, d.body())),
            ("header of D on body of C", splice(&d.header, c.body())),
        ] {
            check_all(
                &format!("{suite}: {what}, same key"),
                &object,
                &data_key(),
                |_| Want::Commitment,
                &[],
            );
        }
    }
    // The other suite's header on a body: same key, same context.
    let one = Sealed::new(Suite::Aes256Gcm, 100, 5);
    let two = Sealed::new(Suite::XChaCha20Poly1305, 100, 5);
    for (h, body) in [(&one.header, two.body()), (&two.header, one.body())] {
        check_all(
            "suite swapped",
            &splice(h, body),
            &data_key(),
            |_| Want::Commitment,
            &[],
        );
    }
}

#[test]
fn changed_context_is_a_commitment_mismatch() {
    let variants: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "one value changed",
            vec![("app", "backup"), ("path", "db.taR")],
        ),
        ("a value emptied", vec![("app", ""), ("path", "db.tar")]),
        ("a key renamed", vec![("apq", "backup"), ("path", "db.tar")]),
        ("a pair removed", vec![("app", "backup")]),
        (
            "a pair added",
            vec![("app", "backup"), ("path", "db.tar"), ("z", "")],
        ),
        ("no context", vec![]),
    ];
    for suite in Suite::ALL {
        for len in SIZES {
            let s = Sealed::new(suite, len, 3000);
            for (what, pairs) in &variants {
                let ctx = EncryptionContext::from_pairs(pairs.iter().copied()).unwrap();
                let h = Header::new(suite, ctx, NAME, vec![support::record()]).unwrap();
                assert_ne!(h.bound_section(), s.header.bound_section());
                check_all(
                    &format!("{suite} {len}: context {what}"),
                    &splice(&h, s.body()),
                    &data_key(),
                    |_| Want::Commitment,
                    &[],
                );
            }
        }
    }
}

#[test]
fn wrong_data_key_is_a_commitment_mismatch() {
    for s in objects() {
        for key in [
            other_key(),
            DataKey::from_bytes([0u8; 32]),
            DataKey::generate().unwrap(),
            {
                let mut b = support::KEY_BYTES;
                b[31] ^= 1;
                DataKey::from_bytes(b)
            },
        ] {
            check_all(
                &format!("{}: wrong key", name(&s)),
                &s.object,
                &key,
                |_| Want::Commitment,
                &[],
            );
        }
    }
}

#[test]
fn changed_key_record_still_opens() {
    // Documents the design (FORMAT.md, "Key block"): the key block is not
    // covered by the commitment, so replacing or adding records, or
    // renaming, leaves the body valid (the records' own wrapping is what
    // binds them: sealstream-kms tests that).
    for s in objects() {
        for records in [
            vec![KeyRecord::new("local", "k2", vec![0xBB; 60]).unwrap()],
            vec![
                support::record(),
                KeyRecord::new("aws-kms", "arn:aws:kms:eu-west-1:1:key/x", vec![3; 300]).unwrap(),
            ],
            vec![KeyRecord::new("unknown-provider.v9", "", vec![1]).unwrap()],
        ] {
            let h = s.header.with_records(records.clone()).unwrap();
            let renamed = s
                .header
                .with_name_and_records("moved.tar", records)
                .unwrap();
            assert_eq!(
                open_slice(&splice(&renamed, s.body()), &data_key())
                    .unwrap()
                    .0,
                renamed
            );
            let object = splice(&h, s.body());
            check_all(
                &format!("{}: key block replaced", name(&s)),
                &object,
                &data_key(),
                |_| Want::Plaintext(s.plaintext.clone()),
                &[],
            );
            assert_eq!(open_slice(&object, &data_key()).unwrap().0, h);
        }
    }
}

// ---- what is released when a chunk is damaged ------------------------------

#[test]
fn random_access_releases_nothing_of_a_damaged_chunk() {
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 3 * CHUNK_SIZE + 100, 4000);
        for damaged in 0..s.chunks().len() {
            let mut object = s.object.clone();
            object[s.chunk_offset(damaged) + 5] ^= 0x40;
            let ra = RandomAccess::open(&object[..], &data_key()).unwrap();
            let final_chunk = damaged == s.chunks().len() - 1;
            let is_damaged = |e: &Error| {
                matches!(e, Error::ChunkAuthentication { index, final_chunk: f }
                    if *index == damaged as u64 && *f == final_chunk)
            };
            let start = (damaged * CHUNK_SIZE) as u64;
            // Reading only the damaged chunk: an error, and no byte written.
            let mut buf = vec![0xEEu8; 50];
            let e = ra.read_at(&mut buf, start + 3).unwrap_err();
            assert!(is_damaged(&e), "{suite} chunk {damaged}: {e:?}");
            assert!(buf.iter().all(|&b| b == 0xEE), "{suite} chunk {damaged}");
            assert!(is_damaged(&ra.read_chunk(damaged as u64).unwrap_err()));
            // A read spanning into it: nothing of it (or after it) written.
            if damaged > 0 {
                let mut buf = vec![0xEEu8; 2 * CHUNK_SIZE];
                let from = start - 100;
                let e = ra.read_at(&mut buf, from).unwrap_err();
                assert!(is_damaged(&e), "{suite} chunk {damaged}: {e:?}");
                assert!(
                    buf[100..].iter().all(|&b| b == 0xEE),
                    "{suite}: bytes of damaged chunk {damaged} were written"
                );
                // Whatever precedes it is authentic plaintext or untouched.
                assert!(
                    buf[..100] == s.plaintext[start as usize - 100..start as usize]
                        || buf[..100].iter().all(|&b| b == 0xEE)
                );
            }
            // Other non-final chunks still read: damage is local.
            for other in 0..s.chunks().len() - 1 {
                if other != damaged {
                    let c = ra.read_chunk(other as u64).unwrap();
                    let p = other * CHUNK_SIZE;
                    assert!(*c == s.plaintext[p..p + CHUNK_SIZE]);
                }
            }
            // The length is never reported when the final chunk is damaged.
            assert_eq!(ra.plaintext_len().is_err(), final_chunk);
        }
    }
}

#[test]
fn streaming_reader_releases_exactly_the_chunks_before_the_damage() {
    // Also covered by check_all for every case above; here with many read
    // sizes, so that a read straddling the damaged chunk is exercised.
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 3 * CHUNK_SIZE + 100, 4100);
        for damaged in 0..s.chunks().len() {
            let mut object = s.object.clone();
            object[s.chunk_offset(damaged) + 100] ^= 0x01;
            for rs in [
                1,
                100,
                CHUNK_SIZE - 1,
                CHUNK_SIZE,
                CHUNK_SIZE + 1,
                3 * CHUNK_SIZE,
            ] {
                let out = support::via_stream(&object, &data_key(), rs);
                let e = out.result.unwrap_err();
                let index = match e {
                    Error::ChunkAuthentication { index, .. } => index,
                    e => panic!("{e:?}"),
                };
                assert_eq!(index, damaged as u64);
                assert!(
                    out.released == s.plaintext_before_chunk(damaged),
                    "{suite}: chunk {damaged} damaged, read size {rs}: released {} bytes",
                    out.released.len()
                );
            }
        }
    }
}

#[test]
fn decrypting_reader_keeps_failing_after_an_error() {
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 2 * CHUNK_SIZE + 10, 4200);
        let mut damaged = s.object.clone();
        damaged[s.chunk_offset(1)] ^= 1;
        let truncated = &s.object[..s.chunk_offset(2)];
        for (what, object) in [("damaged", &damaged[..]), ("truncated", truncated)] {
            let mut r = SealedReader::new(object)
                .unwrap()
                .open(&data_key())
                .unwrap();
            let mut buf = vec![0u8; 3 * CHUNK_SIZE];
            let mut got = 0;
            let first = loop {
                match r.read(&mut buf) {
                    Ok(0) => panic!("{suite} {what}: end of data"),
                    Ok(n) => got += n,
                    Err(e) => break e,
                }
            };
            let before = if what == "damaged" { 1 } else { 2 };
            assert_eq!(got, before * CHUNK_SIZE, "{suite} {what}");
            assert!(Error::from_io(&first).is_some(), "{suite} {what}: {first}");
            for _ in 0..3 {
                let mut buf = [0xEEu8; 100];
                assert!(
                    r.read(&mut buf).is_err(),
                    "{suite} {what}: read after error"
                );
                assert!(buf.iter().all(|&b| b == 0xEE));
            }
            assert!(!r.is_done());
            assert!(r.verify_to_end().is_err());
        }
    }
}

/// A source that fails once, with an I/O error, when it reaches `fail_at`,
/// and then carries on as if nothing happened.
struct FailsOnce<'a> {
    data: &'a [u8],
    pos: usize,
    fail_at: Option<usize>,
}

impl Read for FailsOnce<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut limit = self.data.len();
        if let Some(at) = self.fail_at {
            if self.pos == at {
                self.fail_at = None;
                return Err(std::io::Error::other("connection reset"));
            }
            if self.pos < at {
                limit = at;
            }
        }
        let n = buf.len().min(limit - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn decrypting_reader_stays_failed_when_the_source_recovers() {
    // After an error the reader must not resume, even where resuming would
    // "work" (the source failed exactly at a chunk boundary).
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 3 * CHUNK_SIZE + 100, 4250);
        for j in 1..s.chunks().len() {
            let src = FailsOnce {
                data: &s.object,
                pos: 0,
                fail_at: Some(s.chunk_offset(j)),
            };
            let mut r = SealedReader::new(src).unwrap().open(&data_key()).unwrap();
            let mut out = Vec::new();
            let mut buf = vec![0u8; 1000];
            let e = loop {
                match r.read(&mut buf) {
                    Ok(0) => panic!("{suite}: end of data despite the error"),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e) => break e,
                }
            };
            assert!(matches!(Error::from(e), Error::Io(_)), "{suite} {j}");
            assert!(out == s.plaintext_before_chunk(j), "{suite} {j}");
            for _ in 0..3 {
                assert!(
                    r.read(&mut buf).is_err(),
                    "{suite}: resumed after chunk {j}"
                );
            }
            assert!(!r.is_done());
        }
    }
}

// ---- edge cases ---------------------------------------------------------

#[test]
fn empty_one_byte_and_header_only_objects() {
    let s = Sealed::new(Suite::Aes256Gcm, 100, 4300);
    let mut cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("empty", vec![], Want::Truncated),
        ("first magic byte only", vec![0x89], Want::Truncated),
        ("one zero byte", vec![0], Want::NotSealstream),
        ("one ASCII byte", b"h".to_vec(), Want::NotSealstream),
        (
            "plaintext",
            b"hello, world, this is not sealed".to_vec(),
            Want::NotSealstream,
        ),
        ("magic only", s.object[..8].to_vec(), Want::Truncated),
    ];
    for suite in Suite::ALL {
        let s = Sealed::new(suite, 0, 4301);
        cases.push(("header only", s.header_bytes().to_vec(), Want::Truncated));
        cases.push((
            "header and salt",
            s.object[..s.header_len + SALT_LEN].to_vec(),
            Want::Truncated,
        ));
        cases.push((
            "header and prefix, no chunk",
            s.object[..s.header_len + BODY_PREFIX_LEN].to_vec(),
            Want::Truncated,
        ));
    }
    for (what, object, want) in cases {
        check_all(what, &object, &data_key(), |_| want.clone(), &[]);
    }
}

#[test]
fn writer_dropped_without_finish_leaves_a_truncated_object() {
    for suite in Suite::ALL {
        for len in [0, 100, CHUNK_SIZE, 3 * CHUNK_SIZE + 100] {
            let plain = plaintext(len, 4400);
            let mut object = Vec::new();
            {
                let mut w = EncryptingWriter::new(&mut object, &header(suite), &data_key(), salt())
                    .unwrap();
                w.write_all(&plain).unwrap();
                w.flush().unwrap();
                // Dropped here, without finish().
            }
            let full = len / CHUNK_SIZE;
            assert_eq!(
                object.len(),
                header(suite).encoded_len() + BODY_PREFIX_LEN + full * SEALED_CHUNK_SIZE
            );
            check_all(
                &format!("{suite} {len}: writer dropped"),
                &object,
                &data_key(),
                |_| Want::Truncated,
                &plain[..full * CHUNK_SIZE],
            );
            // The same input, finished, opens.
            let mut w =
                EncryptingWriter::new(Vec::new(), &header(suite), &data_key(), salt()).unwrap();
            w.write_all(&plain).unwrap();
            assert!(open_slice(&w.finish().unwrap(), &data_key()).unwrap().1 == plain);
        }
    }
}

// ---- what errors and types print ---------------------------------------------

#[test]
fn chunk_errors_name_the_chunk() {
    let s = Sealed::new(Suite::Aes256Gcm, 3 * CHUNK_SIZE + 100, 4500);
    for damaged in 0..4 {
        let mut object = s.object.clone();
        object[s.chunk_offset(damaged) + 1] ^= 1;
        let out = support::via_stream(&object, &data_key(), 4096);
        let e = out.result.unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("chunk {damaged} ")),
            "message does not name chunk {damaged}: {text}"
        );
        // Through the io::Error of the Read adapter, too.
        let io_text = std::io::Error::from(e).to_string();
        assert!(io_text.contains(&format!("chunk {damaged} ")), "{io_text}");
    }
    let e = Error::ChunkAuthentication {
        index: 274_877_906_943,
        final_chunk: true,
    };
    assert!(e.to_string().contains("chunk 274877906943 "), "{e}");
    assert!(e.to_string().contains("final"), "{e}");
}

#[test]
fn the_key_detector_detects() {
    // The check below is only worth something if it can fail.
    let key = support::KEY_BYTES;
    let hex: String = key.iter().map(|b| format!("{b:02X}")).collect();
    for leak in [
        format!("{key:?}"),
        format!("{key:x?}"),
        format!("key={hex}"),
        format!("id {} end", &hex.to_ascii_lowercase()[10..30]),
        format!("{:?}", &key[10..20]),
    ] {
        let caught =
            std::panic::catch_unwind(|| support::assert_no_key_material("leak", &leak)).is_err();
        assert!(caught, "not detected: {leak}");
    }
}

#[test]
fn nothing_prints_key_material() {
    let marker = b"s3cr3t-plaintext-marker";
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, debug: String| texts.push((what.to_owned(), debug));
    for suite in Suite::ALL {
        let key = data_key();
        let h = header(suite);
        let mut plain = plaintext(2 * CHUNK_SIZE + 10, 4600);
        plain[..marker.len()].copy_from_slice(marker);
        let object = seal_to_vec(&h, &key, salt(), &plain).unwrap();
        add("DataKey", format!("{key:?}"));
        add("Header", format!("{h:?} {:?}", h.context()));
        add("KeyRecord", format!("{:?}", h.records()));
        add("Suite", format!("{suite:?} {suite}"));
        add("Salt", format!("{:?}", Salt::danger_from_bytes([7; 24])));
        let (cipher, prefix) =
            sealstream_format::ChunkSealer::new(suite, &key, salt(), b"x").unwrap();
        add("ChunkSealer", format!("{cipher:?}"));
        add("BodyPrefix", format!("{prefix:?}"));
        let mut w = EncryptingWriter::new(Vec::new(), &h, &key, salt()).unwrap();
        w.write_all(&plain[..CHUNK_SIZE + 5]).unwrap();
        add("EncryptingWriter", format!("{w:?}"));
        let sealed = SealedReader::new(&object[..]).unwrap();
        add("SealedReader", format!("{sealed:?}"));
        let mut r = sealed.open(&key).unwrap();
        let mut buf = vec![0u8; 100];
        r.read_exact(&mut buf).unwrap();
        add("DecryptingReader", format!("{r:?}"));
        let ra = RandomAccess::open(&object[..], &key).unwrap();
        ra.read_at(&mut buf, 0).unwrap();
        add("RandomAccess", format!("{ra:?}"));
        let rar = sealstream_format::RandomAccessReader::open(std::io::Cursor::new(&object), &key)
            .unwrap();
        add("RandomAccessReader", format!("{rar:?}"));
        add(
            "HeaderParse",
            format!("{:?}", Header::parse_prefix(&object).unwrap()),
        );
        add(
            "RangePlan",
            format!(
                "{:?}",
                sealstream_format::layout::plan_range(0..100, 2 * CHUNK_SIZE as u64 + 10).unwrap()
            ),
        );
        // Errors from real failures, through the entry points and the
        // io::Error the Read adapters return.
        let mut errors: Vec<Error> = Vec::new();
        let mut damaged = object.clone();
        let off = h.encoded_len() + BODY_PREFIX_LEN + 3;
        damaged[off] ^= 1;
        let mut bad_version = object.clone();
        bad_version[12] = 9;
        let mut bad_suite = object.clone();
        bad_suite[13] = 9;
        let mut bad_len = object.clone();
        bad_len[8] = 0xFF;
        for (o, k) in [
            (&damaged[..], &key),
            (&object[..], &other_key()),
            (&object[..object.len() - 1], &key),
            (&object[..10], &key),
            (&b"not sealed"[..], &key),
            (&bad_version[..], &key),
            (&bad_suite[..], &key),
            (&bad_len[..], &key),
            (&object[..h.encoded_len() - 1], &key),
        ] {
            for entry in support::entries() {
                if let Err(e) = (entry.run)(o, k).result {
                    errors.push(e);
                }
            }
        }
        let ra = RandomAccess::open(&object[..], &key).unwrap();
        errors.push(ra.read_exact_at(&mut [0u8; 10], 1 << 40).unwrap_err());
        errors.push(EncryptionContext::from_pairs([("sealstream:x", "")]).unwrap_err());
        errors.push(DataKey::from_slice(&key.expose_secret()[..31]).unwrap_err());
        errors.push(Error::TrailingData);
        errors.push(Error::TooLarge);
        errors.push(Error::Random);
        errors.push(Error::Internal("an invariant"));
        errors.push(Error::Io(std::io::Error::other("disk on fire")));
        for e in errors {
            add("Error", format!("{e:?} / {e}"));
            let io = std::io::Error::from(e);
            add("io::Error", format!("{io:?} / {io}"));
        }
    }
    assert!(texts.len() > 50, "only {} texts", texts.len());
    for (what, text) in &texts {
        support::assert_no_key_material(what, text);
        assert!(
            !text.contains("s3cr3t"),
            "{what} contains plaintext: {text}"
        );
    }
}

#[test]
fn header_flip_helpers_agree_with_the_spec_example() {
    // The region map used above is checked against the crate's encoding
    // of the same header (and FORMAT.md's worked example layout).
    let h = header(Suite::Aes256Gcm);
    let bytes = h.encode();
    assert_eq!(header_regions().len(), bytes.len());
    assert_eq!(&bytes[..8], b"\x89SLS\r\n\x1a\n");
    assert_eq!(
        u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize,
        bytes.len()
    );
    let mut expect = vec![2u8, 1, 0, 2];
    for (k, v) in CONTEXT_PAIRS {
        expect.push(k.len() as u8);
        expect.extend_from_slice(k.as_bytes());
        expect.extend_from_slice(&(v.len() as u16).to_be_bytes());
        expect.extend_from_slice(v.as_bytes());
    }
    assert_eq!(h.bound_section(), &expect[..]);
    assert_eq!(&bytes[12..12 + expect.len()], &expect[..]);
    let kb = &bytes[12 + expect.len()..];
    assert_eq!(&kb[..2], &(NAME.len() as u16).to_be_bytes());
    assert_eq!(&kb[2..2 + NAME.len()], NAME.as_bytes());
    let kb = &kb[2 + NAME.len()..];
    assert_eq!(&kb[..3], &[0, 1, RECORD_PROVIDER.len() as u8]);
    assert_eq!(&kb[3..8], RECORD_PROVIDER.as_bytes());
    let fields = h.fields_len();
    assert_eq!(bytes.len(), HEADER_LEN);
    assert!(bytes[fields..].iter().all(|&b| b == 0), "padding");
}
