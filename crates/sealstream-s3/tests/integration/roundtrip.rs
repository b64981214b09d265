//! Upload and download round trips against the real local S3 server:
//! single PutObject and multipart, every boundary size, all sources and
//! sinks, sequential and parallel downloads.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use bytes::Bytes;
use futures_util::StreamExt;
use sealstream_format::{CHUNK_SIZE, EncryptionContext};
use sealstream_s3::{MIN_PART_SIZE, UploadOptions, metadata};

const PART: usize = MIN_PART_SIZE as usize;

async fn download_both_ways(env: &common::TestEnv, key: &str) -> (Vec<u8>, Vec<u8>) {
    let mut par = Vec::new();
    env.client
        .download_to_writer(&env.bucket, key, &mut par)
        .await
        .unwrap();
    let seq_client = env
        .client
        .with_config(env.client.config().clone().download_concurrency(1))
        .unwrap();
    let mut seq = Vec::new();
    seq_client
        .download_to_writer(&env.bucket, key, &mut seq)
        .await
        .unwrap();
    (par, seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_at_every_boundary() {
    let env = env_or_skip!("round_trips_at_every_boundary", common::small_parts());
    // (size, expected parts: 0 = single PutObject)
    let cases = [
        (0usize, 0u32),
        (1, 0),
        (CHUNK_SIZE - 1, 0),
        (CHUNK_SIZE, 0),
        (CHUNK_SIZE + 1, 0),
        (PART - 1, 0),
        (PART, 0),
        (PART + 1, 2),
        (2 * PART, 2),
        (2 * PART + CHUNK_SIZE + 5, 3),
    ];
    for (i, (size, parts)) in cases.into_iter().enumerate() {
        let plain = common::data(size, i as u64);
        let key = env.key(&format!("case-{size}"));
        let out = env
            .client
            .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
            .await
            .unwrap();
        assert_eq!(out.parts, parts, "size {size}");
        assert_eq!(out.plaintext_len, size as u64);
        let (par, seq) = download_both_ways(&env, &key).await;
        assert!(par == plain, "parallel download of {size} bytes differs");
        assert!(seq == plain, "sequential download of {size} bytes differs");
        let raw = env.get_raw(&key).await;
        assert_eq!(raw.len() as u64, out.object_len, "size {size}");
        let header = sealstream_format::Header::parse(&raw[..peek_len(&raw)]).unwrap();
        let start = sealstream_format::HEADER_LEN;
        let prefix = sealstream_kms::BodyPrefix::from_bytes(
            raw[start..start + sealstream_format::BODY_PREFIX_LEN]
                .try_into()
                .unwrap(),
        );
        let data_key = common::keyring(1)
            .open_key(&header, &prefix, Some(&key))
            .await
            .unwrap();
        let (_, opened) = sealstream_format::open_slice(&raw, &data_key).unwrap();
        assert!(opened == plain, "format crate disagrees for {size} bytes");
    }
}

fn peek_len(raw: &[u8]) -> usize {
    sealstream_format::Header::peek_len(&raw[..14])
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_parts_with_concurrency_and_parallel_download() {
    let cfg = common::small_parts()
        .upload_concurrency(3)
        .download_concurrency(4);
    let env = env_or_skip!("many_parts_with_concurrency", cfg);
    let size = 9 * PART + 12_345;
    let plain = common::data(size, 99);
    let key = env.key("nine-parts");
    let ctx = EncryptionContext::from_pairs([("purpose", "test")]).unwrap();
    let out = env
        .client
        .upload_reader(
            &env.bucket,
            &key,
            &plain[..],
            UploadOptions::default()
                .context(ctx)
                .plaintext_len(size as u64),
        )
        .await
        .unwrap();
    assert_eq!(out.parts, 10);
    let head = env
        .client
        .s3()
        .head_object()
        .bucket(&env.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let meta = head.metadata().unwrap();
    assert_eq!(meta.get(metadata::VERSION).map(String::as_str), Some("2"));
    assert_eq!(
        meta.get(metadata::PLAINTEXT_LENGTH).map(String::as_str),
        Some(size.to_string().as_str())
    );
    assert_eq!(meta.get("sealstream-key-reused"), None);
    assert_eq!(head.content_length(), Some(out.object_len as i64));

    let (par, seq) = download_both_ways(&env, &key).await;
    assert!(par == plain, "parallel download differs");
    assert!(seq == plain, "sequential download differs");

    let dl = env.client.download(&env.bucket, &key).await.unwrap();
    assert_eq!(dl.header().context().get("purpose"), Some("test"));
    assert_eq!(dl.plaintext_len(), Some(size as u64));
    let pieces: Vec<Bytes> = dl.map(|r| r.unwrap()).collect().await;
    assert!(pieces.len() > 1);
    assert_eq!(pieces.iter().map(Bytes::len).sum::<usize>(), size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_and_stream_sources_and_file_sink() {
    let env = env_or_skip!("file_and_stream", common::small_parts());
    let dir = std::env::temp_dir().join(format!("sealstream-s3-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("source.bin");
    let plain = common::data(PART + 3 * CHUNK_SIZE + 1, 7);
    std::fs::write(&src, &plain).unwrap();

    let key = env.key("from-file");
    let out = env
        .client
        .upload_file(&env.bucket, &key, &src, UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(out.parts, 2);
    let dst = dir.join("restored.bin");
    let n = env
        .client
        .download_to_file(&env.bucket, &key, &dst)
        .await
        .unwrap();
    assert_eq!(n, plain.len() as u64);
    assert!(std::fs::read(&dst).unwrap() == plain);
    // Only the final file is left in the folder: no temporary names.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let key = env.key("from-stream");
    let pieces: Vec<Result<Bytes, std::io::Error>> = plain
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    env.client
        .upload_stream(
            &env.bucket,
            &key,
            futures_util::stream::iter(pieces),
            UploadOptions::default(),
        )
        .await
        .unwrap();
    let got = env.client.get_range(&env.bucket, &key, ..).await.unwrap();
    assert!(got == plain);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_length_must_match() {
    let env = env_or_skip!("declared_length_must_match", common::small_parts());
    let plain = common::data(1000, 1);
    let key = env.key("short");
    let err = env
        .client
        .upload_reader(
            &env.bucket,
            &key,
            &plain[..],
            UploadOptions::default().plaintext_len(1001),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1000 bytes"), "{err}");
    assert!(!env.exists(&key).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_head_and_delete_sealed_objects() {
    let env = env_or_skip!("list_head_and_delete_sealed_objects", common::small_parts());
    let sizes = [0usize, 1, CHUNK_SIZE + 7];
    for (i, size) in sizes.into_iter().enumerate() {
        let plain = common::data(size, i as u64);
        env.client
            .upload_reader(
                &env.bucket,
                &env.key(&format!("admin/o{i}")),
                &plain[..],
                UploadOptions::default(),
            )
            .await
            .unwrap();
    }
    let listed = env
        .client
        .list(&env.bucket, &env.key("admin/"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    for (i, (entry, size)) in listed.iter().zip(sizes).enumerate() {
        assert_eq!(entry.key, env.key(&format!("admin/o{i}")));
        assert_eq!(entry.plaintext_size, Some(size as u64));
        assert_eq!(
            entry.size,
            sealstream_format::layout::object_len(size as u64).unwrap()
        );
        assert!(entry.etag.as_deref().is_some_and(|e| !e.is_empty()));
        assert!(entry.last_modified.is_some_and(|t| t > 0));
        let head = env.client.stat(&env.bucket, &entry.key).await.unwrap();
        assert_eq!(head.size, entry.size);
        assert_eq!(head.plaintext_size, entry.plaintext_size);
        assert_eq!(head.etag, entry.etag);
    }
    // A prefix that is not a folder boundary still matches by bytes.
    assert_eq!(
        env.client
            .list(&env.bucket, &env.key("admin/o1"))
            .await
            .unwrap()
            .len(),
        1
    );

    env.client
        .delete(&env.bucket, &env.key("admin/o0"))
        .await
        .unwrap();
    let err = env
        .client
        .stat(&env.bucket, &env.key("admin/o0"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, sealstream_s3::Error::NotFound { .. }),
        "{err}"
    );
    let rest = vec![env.key("admin/o1"), env.key("admin/o2")];
    let outcome = env.client.delete_many(&env.bucket, &rest).await.unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let mut deleted = outcome.deleted.clone();
    deleted.sort();
    assert_eq!(deleted, rest);
    assert!(
        env.client
            .list(&env.bucket, &env.key("admin/"))
            .await
            .unwrap()
            .is_empty()
    );
}
