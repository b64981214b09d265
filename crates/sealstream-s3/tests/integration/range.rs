//! Ranged plaintext reads against the real local S3 server: across chunk
//! and part boundaries, at and past the end, on objects whose length is a
//! multiple of the chunk size.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use sealstream_format::{BODY_PREFIX_LEN, CHUNK_SIZE, HEADER_LEN, SEALED_CHUNK_SIZE};
use sealstream_s3::{Error, MIN_PART_SIZE, PlainRange, UploadOptions};

const PART: u64 = MIN_PART_SIZE;
const C: u64 = CHUNK_SIZE as u64;

async fn check(env: &common::TestEnv, key: &str, plain: &[u8], a: u64, b: Option<u64>) {
    let len = plain.len() as u64;
    let got = match b {
        Some(b) => env.client.get_range(&env.bucket, key, a..b).await,
        None => env.client.get_range(&env.bucket, key, a..).await,
    };
    let got = got.unwrap_or_else(|e| panic!("{a}..{b:?} of {len}: {e}"));
    let end = b.unwrap_or(len).min(len) as usize;
    assert!(
        got[..] == plain[a as usize..end],
        "{a}..{b:?} of {len} differs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_across_chunks_parts_and_the_end() {
    let env = env_or_skip!("ranges_across_chunks_parts", common::small_parts());
    let len = 2 * PART + 3 * C + 123;
    let plain = common::data(len as usize, 11);
    let key = env.key("three-parts");
    let out = env
        .client
        .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(out.parts, 3);
    let cases: &[(u64, Option<u64>)] = &[
        (0, Some(1)),
        (0, Some(C)),
        (C - 1, Some(C + 1)),
        (5 * C + 7, Some(9 * C + 3)),
        (PART - 10, Some(PART + 10)),
        (2 * PART - 1, Some(2 * PART + 1)),
        (PART / 2, Some(2 * PART + C)),
        (len - 1, None),
        (len - 5, Some(len + 100)),
        (len - 2 * C - 1, Some(len)),
        (0, None),
        (7, Some(7)),
        (3 * C, None),
    ];
    for &(a, b) in cases {
        check(&env, &key, &plain, a, b).await;
    }
    // Inclusive and full ranges.
    let got = env
        .client
        .get_range(&env.bucket, &key, 5..=5)
        .await
        .unwrap();
    assert_eq!(&got[..], &plain[5..6]);
    // Past the end: an error naming the length; empty at the very end
    // (like slicing `v[len..]`), the length proven first.
    assert!(
        env.client
            .get_range(&env.bucket, &key, len..)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        env.client
            .get_range(&env.bucket, &key, len..len + 9)
            .await
            .unwrap()
            .is_empty()
    );
    for a in [len + 1, len + 10] {
        let err = env
            .client
            .get_range(&env.bucket, &key, a..)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidRange { start, len: l, .. } if start == a && l == len),
            "{err}"
        );
        assert!(err.to_string().contains(&len.to_string()), "{err}");
    }
    assert!(
        env.client
            .get_range(&env.bucket, &key, len..len)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_on_small_and_chunk_multiple_objects() {
    let env = env_or_skip!("ranges_small_and_multiple", common::small_parts());
    for (i, len) in [0u64, 100, C, 20 * C, 20 * C + 1].into_iter().enumerate() {
        let plain = common::data(len as usize, 20 + i as u64);
        let key = env.key(&format!("len-{len}"));
        env.client
            .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
            .await
            .unwrap();
        check(&env, &key, &plain, 0, None).await;
        if len > 0 {
            check(&env, &key, &plain, 0, Some(1)).await;
            check(&env, &key, &plain, len - 1, Some(len + 5)).await;
            // Open-ended from far before the final chunk (separate GET of
            // the final chunk) and from near it (one GET).
            check(&env, &key, &plain, len / 2, None).await;
        }
        assert!(matches!(
            env.client.get_range(&env.bucket, &key, len + 1..).await,
            Err(Error::InvalidRange { .. })
        ));
    }
}

/// A storage operator truncates an object (overwrites it with fewer
/// bytes): every range whose answer depends on the length (open-ended,
/// past the claimed end, ending exactly at it, a suffix, starting at it)
/// fails with a truncation or authentication error, never a short read or
/// bytes from the middle. The cut at `boundary + 16` leaves a claimed
/// length that is a whole number of chunks, whose claimed (empty) final
/// chunk is 16 bytes of ciphertext: only authenticating it shows the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_objects_fail_every_length_dependent_range() {
    let env = env_or_skip!("truncated_ranges", common::small_parts());
    let len = 10 * C + 500;
    let plain = common::data(len as usize, 31);
    let key = env.key("truncated");
    env.client
        .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
        .await
        .unwrap();
    let raw = env.get_raw(&key).await;
    let body = (HEADER_LEN + BODY_PREFIX_LEN) as u64;
    let sealed = SEALED_CHUNK_SIZE as u64;
    let cuts: [(&str, u64); 4] = [
        (
            "the final chunk dropped at a chunk boundary",
            body + 10 * sealed,
        ),
        (
            "cut to a chunk boundary plus 16 bytes",
            body + 6 * sealed + 16,
        ),
        ("cut inside a chunk", body + 6 * sealed + 16 + 1000),
        ("cut inside the final chunk", body + 10 * sealed + 300),
    ];
    for (what, keep) in cuts {
        env.put_raw(&key, raw[..keep as usize].to_vec()).await;
        let claimed = (keep - body) / sealed * C + ((keep - body) % sealed).saturating_sub(16);
        let a = 2 * C + 5;
        let ranges = [
            PlainRange::Span {
                start: a,
                end: None,
            },
            PlainRange::Span {
                start: a,
                end: Some(claimed + 100),
            },
            PlainRange::Span {
                start: a,
                end: Some(claimed),
            },
            PlainRange::Span {
                start: claimed - 10,
                end: Some(claimed),
            },
            PlainRange::Span {
                start: claimed,
                end: None,
            },
            PlainRange::Suffix(100),
            PlainRange::Suffix(claimed + 5),
        ];
        for range in ranges {
            let head = env.client.head(&env.bucket, &key).await;
            let got = match head {
                Ok(head) => env.client.read_range(&head, range).await,
                Err(e) => Err(e),
            };
            match got {
                Err(Error::Truncated { .. } | Error::ChunkAuthentication { .. }) => {}
                Err(e) => panic!("{what}, {range:?}: not a truncation error: {e}"),
                Ok(b) => panic!("{what}, {range:?}: {} bytes returned", b.len()),
            }
            if let PlainRange::Span { start, end } = range {
                let old = match end {
                    Some(e) => env.client.get_range(&env.bucket, &key, start..e).await,
                    None => env.client.get_range(&env.bucket, &key, start..).await,
                };
                assert!(
                    matches!(
                        old,
                        Err(Error::Truncated { .. } | Error::ChunkAuthentication { .. })
                    ),
                    "{what}, get_range {range:?}: {:?}",
                    old.map(|b| b.len())
                );
            }
        }
        // A range inside the authenticated chunks before the cut needs no
        // length: it is read.
        let head = env.client.head(&env.bucket, &key).await.unwrap();
        if head.claimed_plaintext_len().is_some() {
            let got = env
                .client
                .read_range(
                    &head,
                    PlainRange::Span {
                        start: 5,
                        end: Some(C + 5),
                    },
                )
                .await
                .unwrap();
            assert!(got[..] == plain[5..C as usize + 5], "{what}");
        }
    }
}
