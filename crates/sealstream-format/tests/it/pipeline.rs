//! The parallel pipeline: byte-identical to `EncryptingWriter` for the same
//! salt, round trips at the chunk-boundary sizes on 1..=4 threads with odd
//! batch sizes, and in-order release up to a tampered chunk.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{Read, Write};

use sealstream_format::pipeline::{self, PipelineOptions, seal_file, seal_stream};
use sealstream_format::{
    BODY_PREFIX_LEN, CHUNK_SIZE, ChunkSealer, DataKey, EncryptingWriter, EncryptionContext, Error,
    HEADER_LEN, Header, KeyRecord, SEALED_CHUNK_SIZE, Salt, Suite, open_slice,
};

const SALT: [u8; 24] = [0x5a; 24];

/// The fixed salt of these tests (byte-identical outputs need one).
fn salt() -> Salt {
    Salt::danger_from_bytes(SALT)
}

fn header(suite: Suite) -> Header {
    let context = EncryptionContext::from_pairs([("path", "pipeline-test")]).unwrap();
    let record = KeyRecord::new("local", "k1", vec![0xAA; 60]).unwrap();
    Header::new(suite, context, "pipeline/test.bin", vec![record]).unwrap()
}

fn key() -> DataKey {
    DataKey::from_bytes(core::array::from_fn(|i| i as u8))
}

fn plaintext(len: usize) -> Vec<u8> {
    // A cheap deterministic pattern that differs from chunk to chunk.
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

/// The reference: `EncryptingWriter` on the same salt.
fn reference(suite: Suite, data: &[u8]) -> Vec<u8> {
    let h = header(suite);
    let (cipher, prefix) = ChunkSealer::new(suite, &key(), salt(), h.bound_section()).unwrap();
    let mut out = h.encode();
    out.extend_from_slice(&prefix.to_bytes());
    let mut w = EncryptingWriter::from_parts(out, cipher, 0);
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn opts(threads: usize, batch_chunks: usize, batches_in_flight: usize) -> PipelineOptions {
    PipelineOptions {
        threads,
        batch_chunks,
        batches_in_flight,
    }
}

const SIZES: [usize; 9] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE,
    7 * CHUNK_SIZE,
    7 * CHUNK_SIZE + 5,
    3 * 1024 * 1024 + 77,
];

/// Option sets: 1..=4 threads, batches of 1, 3, 7 and 32 chunks, and
/// in-flight limits from 1 (fully serial) upwards.
fn option_sets() -> Vec<PipelineOptions> {
    vec![
        opts(1, 1, 1),
        opts(1, 3, 2),
        opts(2, 7, 3),
        opts(3, 1, 4),
        opts(4, 3, 10),
        opts(4, 32, 2),
        PipelineOptions::default(),
    ]
}

#[test]
fn seal_matches_encrypting_writer_and_round_trips() {
    let h_by_suite = Suite::ALL.map(|s| (s, header(s)));
    for size in SIZES {
        let data = plaintext(size);
        for (suite, h) in &h_by_suite {
            let expected = reference(*suite, &data);
            for o in option_sets() {
                let mut from_stream = Vec::new();
                let n = seal_stream(&data[..], &mut from_stream, h, &key(), salt(), &o).unwrap();
                assert_eq!(n, size as u64);
                assert!(
                    from_stream == expected,
                    "seal_stream differs: {suite} size {size} {o:?}"
                );

                let mut from_file = Vec::new();
                let n = seal_file(&data[..], &mut from_file, h, &key(), salt(), &o).unwrap();
                assert_eq!(n, size as u64);
                assert!(
                    from_file == expected,
                    "seal_file differs: {suite} size {size} {o:?}"
                );

                let mut opened = Vec::new();
                let n = pipeline::open_file(&expected[..], &mut opened, h, &key(), &o).unwrap();
                assert_eq!(n, size as u64);
                assert!(opened == data, "open_file: {suite} size {size} {o:?}");

                let body = &expected[h.encoded_len()..];
                let mut opened = Vec::new();
                let n = pipeline::open_stream(body, &mut opened, h, &key(), &o).unwrap();
                assert_eq!(n, size as u64);
                assert!(opened == data, "open_stream: {suite} size {size} {o:?}");
            }
        }
    }
}

#[test]
fn random_salt_round_trips_through_the_other_readers() {
    let h = header(Suite::Aes256Gcm);
    let data = plaintext(5 * CHUNK_SIZE + 3);
    let mut object = Vec::new();
    pipeline::seal_stream(
        &data[..],
        &mut object,
        &h,
        &key(),
        Salt::generate().unwrap(),
        &opts(2, 2, 3),
    )
    .unwrap();
    let (parsed, plain) = open_slice(&object, &key()).unwrap();
    assert_eq!(parsed, h);
    assert_eq!(plain, data);

    let mut object2 = Vec::new();
    pipeline::seal_file(
        &data[..],
        &mut object2,
        &h,
        &key(),
        Salt::generate().unwrap(),
        &opts(2, 2, 3),
    )
    .unwrap();
    assert_ne!(object, object2, "two seals must draw different salts");
    assert_eq!(open_slice(&object2, &key()).unwrap().1, data);
}

#[test]
fn real_files_round_trip() {
    let dir = std::env::temp_dir().join(format!("sealstream-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let h = header(Suite::XChaCha20Poly1305);
    let data = plaintext(2 * 1024 * 1024 + 999);
    let src_path = dir.join("plain");
    std::fs::write(&src_path, &data).unwrap();
    let sealed_path = dir.join("sealed");
    {
        let src = std::fs::File::open(&src_path).unwrap();
        let dst = std::fs::File::create(&sealed_path).unwrap();
        pipeline::seal_file(
            &src,
            std::io::BufWriter::new(dst),
            &h,
            &key(),
            Salt::generate().unwrap(),
            &opts(3, 5, 4),
        )
        .unwrap();
    }
    let sealed = std::fs::File::open(&sealed_path).unwrap();
    let (parsed, _) = sealstream_format::read_header_at(&sealed).unwrap();
    let mut out = Vec::new();
    pipeline::open_file(&sealed, &mut out, &parsed, &key(), &opts(2, 4, 3)).unwrap();
    assert!(out == data);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Flips one bit in chunk `index` of an object.
fn tamper(object: &mut [u8], header_len: usize, index: usize) {
    object[header_len + BODY_PREFIX_LEN + index * SEALED_CHUNK_SIZE + 5] ^= 1;
}

#[test]
fn tampered_chunk_releases_only_the_chunks_before_it() {
    let chunks = 23;
    let bad = 11;
    for suite in Suite::ALL {
        let h = header(suite);
        let data = plaintext(chunks * CHUNK_SIZE + 500);
        let mut object = reference(suite, &data);
        tamper(&mut object, h.encoded_len(), bad);
        for o in option_sets() {
            let mut out = Vec::new();
            let body = &object[h.encoded_len()..];
            let err = pipeline::open_stream(body, &mut out, &h, &key(), &o).unwrap_err();
            assert!(
                matches!(err, Error::ChunkAuthentication { index, final_chunk: false } if index == bad as u64),
                "{suite} {o:?}: {err}"
            );
            assert_eq!(out.len(), bad * CHUNK_SIZE, "{suite} {o:?}");
            assert!(out == data[..bad * CHUNK_SIZE], "{suite} {o:?}");

            let mut out = Vec::new();
            let err = pipeline::open_file(&object[..], &mut out, &h, &key(), &o).unwrap_err();
            assert!(
                matches!(err, Error::ChunkAuthentication { index, .. } if index == bad as u64),
                "{suite} {o:?}: {err}"
            );
            assert!(out == data[..bad * CHUNK_SIZE], "{suite} {o:?}");
        }
    }
}

#[test]
fn tampered_final_chunk_and_first_chunk() {
    let h = header(Suite::Aes256Gcm);
    let data = plaintext(4 * CHUNK_SIZE + 10);
    for (bad, final_chunk) in [(0, false), (4, true)] {
        let mut object = reference(Suite::Aes256Gcm, &data);
        tamper(&mut object, h.encoded_len(), bad);
        let mut out = Vec::new();
        let err =
            pipeline::open_file(&object[..], &mut out, &h, &key(), &opts(2, 3, 3)).unwrap_err();
        assert!(
            matches!(err, Error::ChunkAuthentication { index, final_chunk: f } if index == bad as u64 && f == final_chunk),
            "{err}"
        );
        assert_eq!(out.len(), bad * CHUNK_SIZE);
    }
}

#[test]
fn truncation_is_an_error_never_a_short_success() {
    let h = header(Suite::XChaCha20Poly1305);
    let data = plaintext(6 * CHUNK_SIZE + 10);
    let object = reference(Suite::XChaCha20Poly1305, &data);
    let body_start = h.encoded_len() + BODY_PREFIX_LEN;
    let cuts = [
        body_start,                             // no chunks at all
        body_start + 3 * SEALED_CHUNK_SIZE,     // on a chunk boundary
        body_start + 3 * SEALED_CHUNK_SIZE + 7, // shorter than a tag
        body_start + 6 * SEALED_CHUNK_SIZE,     // final chunk missing
        object.len() - 1,                       // final chunk cut short
    ];
    for (i, cut) in cuts.into_iter().enumerate() {
        let truncated = &object[..cut];
        for o in [opts(1, 1, 1), opts(2, 2, 3), opts(4, 32, 6)] {
            let mut out = Vec::new();
            let body = &truncated[h.encoded_len()..];
            let err = pipeline::open_stream(body, &mut out, &h, &key(), &o).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Truncated { .. } | Error::ChunkAuthentication { .. }
                ),
                "cut {cut}: {err}"
            );
            assert!(data.starts_with(&out) && out.len() % CHUNK_SIZE == 0);
            let mut out = Vec::new();
            assert!(pipeline::open_file(truncated, &mut out, &h, &key(), &o).is_err());
            if i < 4 {
                assert!(out.is_empty(), "open_file checks the length first");
            } else {
                // A valid length: the full chunks authenticate, the final fails.
                assert!(out == data[..6 * CHUNK_SIZE]);
            }
        }
    }
    // Bytes appended after the final chunk are not accepted either.
    let mut longer = object.clone();
    longer.extend_from_slice(&[0u8; 40]);
    let mut out = Vec::new();
    assert!(pipeline::open_file(&longer[..], &mut out, &h, &key(), &opts(2, 2, 2)).is_err());
}

#[test]
fn wrong_key_or_header_fails_before_any_output() {
    let h = header(Suite::Aes256Gcm);
    let data = plaintext(3 * CHUNK_SIZE);
    let object = reference(Suite::Aes256Gcm, &data);
    let wrong = DataKey::from_bytes([7u8; 32]);
    let mut out = Vec::new();
    let err = pipeline::open_file(&object[..], &mut out, &h, &wrong, &opts(2, 2, 2)).unwrap_err();
    assert!(matches!(err, Error::CommitmentMismatch), "{err}");
    let body = &object[h.encoded_len()..];
    let err = pipeline::open_stream(body, &mut out, &h, &wrong, &opts(2, 2, 2)).unwrap_err();
    assert!(matches!(err, Error::CommitmentMismatch), "{err}");
    assert!(out.is_empty());

    let other = header(Suite::XChaCha20Poly1305);
    let err =
        pipeline::open_file(&object[..], &mut out, &other, &key(), &opts(2, 2, 2)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
}

#[test]
fn invalid_options_are_refused() {
    let h = header(Suite::Aes256Gcm);
    for o in [
        opts(0, 1, 1),
        opts(1, 0, 1),
        opts(1, 1, 0),
        opts(1, 1025, 1),
    ] {
        let mut out = Vec::new();
        let err = pipeline::seal_stream(
            &b"x"[..],
            &mut out,
            &h,
            &key(),
            Salt::generate().unwrap(),
            &o,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{o:?}");
    }
}

/// A reader that fails after `ok` bytes.
struct FailingReader {
    ok: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ok == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.ok);
        buf[..n].fill(1);
        self.ok -= n;
        Ok(n)
    }
}

/// A writer that fails after `ok` bytes.
struct FailingWriter {
    ok: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.ok == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.ok);
        self.ok -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_stop_the_pipeline() {
    let h = header(Suite::Aes256Gcm);
    let o = opts(3, 2, 4);
    let mut out = Vec::new();
    let err = pipeline::seal_stream(
        FailingReader { ok: 5 * CHUNK_SIZE },
        &mut out,
        &h,
        &key(),
        Salt::generate().unwrap(),
        &o,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    // Nothing after the failure point, and never a final chunk.
    assert!(sealstream_format::open_slice(&out, &key()).is_err());

    let data = plaintext(40 * CHUNK_SIZE);
    let err = pipeline::seal_stream(
        &data[..],
        FailingWriter { ok: 100_000 },
        &h,
        &key(),
        Salt::generate().unwrap(),
        &o,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    let err = pipeline::seal_file(
        &data[..],
        FailingWriter { ok: 100_000 },
        &h,
        &key(),
        Salt::generate().unwrap(),
        &o,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Run with and without `--features aws-lc`: the AES-256-GCM backend
/// (ring or aws-lc-rs) must not change a single byte. The worked example is
/// docs/FORMAT.md's body (checked against pyca/cryptography); the digest pins
/// a 1 MiB + 5 object sealed with ring, and was recomputed independently with
/// tests/interop/check_vectors.py's functions (pyca AESGCM).
#[test]
fn aes_gcm_backend_gives_identical_bytes() {
    let context = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
    let record = KeyRecord::new("local", "k1", vec![0xAA; 60]).unwrap();
    let h = Header::new(Suite::Aes256Gcm, context, "", vec![record]).unwrap();
    let salt = || Salt::danger_from_bytes(core::array::from_fn(|i| 0x40 + i as u8));
    let mut object = Vec::new();
    seal_stream(
        &b"hello"[..],
        &mut object,
        &h,
        &key(),
        salt(),
        &opts(2, 1, 2),
    )
    .unwrap();
    assert_eq!(
        hex(&object[HEADER_LEN..]),
        "404142434445464748494a4b4c4d4e4f5051525354555657\
         c1ce2d32aa05d97551f2fd7dc16af9bc46a8a2de0abf875df847e1c2917b26be\
         630d8116ece40f83fadca39736024f92abb30ac8d7"
    );

    let mut big = Vec::new();
    let data = plaintext(1024 * 1024 + 5);
    seal_file(&data[..], &mut big, &h, &key(), salt(), &opts(2, 7, 3)).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &big);
    assert_eq!(hex(digest.as_ref()), PINNED_1MIB_SHA256);
}

const PINNED_1MIB_SHA256: &str = "f89bf595f8d48f3bb889111db976c03219e56038df7c5ee32aa1f09d672bb074";
