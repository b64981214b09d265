//! Load: 32 tasks upload and download objects of mixed sizes (0 B to
//! 12 MiB, several of them multipart) at the same time, through one shared
//! client (one fresh data key per object), against the local S3 server. Every object
//! must round-trip byte-identical, and the process's peak resident memory
//! must stay under a bound computed from the configuration (sealed part
//! size × buffers per upload × tasks + a constant). The bound is of the
//! order of the bytes moved (about 460 MiB each way) only because the
//! server refuses parts under 5 MiB; what it rules out is memory that grows
//! with the number of objects or with their sizes.
//!
//! Needs the services (`source .test-services/env`); otherwise it prints a
//! skip line, or fails with SEALSTREAM_REQUIRE_SERVICES=1.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::StreamExt;
use sealstream_format::{CHUNK_SIZE, SEALED_CHUNK_SIZE};
use sealstream_s3::{MIN_PART_SIZE, UploadOptions};
use tokio::io::{AsyncRead, ReadBuf};

const TASKS: usize = 32;
const ROUNDS: usize = 4;
const MIB: u64 = 1 << 20;
const UPLOAD_CONCURRENCY: usize = 1;
const DOWNLOAD_CONCURRENCY: usize = 2;
const SEGMENT_CHUNKS: u64 = 64;
/// What the process holds besides transfer buffers: the test binary, the
/// runtime and its threads, the SDK, TLS roots, allocator slack.
const BASE: u64 = 128 * MIB;

/// Mixed sizes: empty, chunk boundaries, a single part, and multipart
/// uploads around and above the 5 MiB part size.
const SIZES: [u64; 12] = [
    0,
    1,
    CHUNK_SIZE as u64 - 1,
    CHUNK_SIZE as u64,
    CHUNK_SIZE as u64 + 1,
    300_000,
    5 * MIB - 1,
    5 * MIB,
    5 * MIB + 1,
    7 * MIB + 5,
    10 * MIB,
    12 * MIB,
];

/// One pseudo-random block; object `seed` is this block read in a circle
/// from an offset that depends on the seed, so that nothing is held per
/// object and filling or checking is a memcpy or memcmp.
const BLOCK: usize = 1 << 20;

fn block() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| common::data(BLOCK, 0x5eed))
}

/// Bytes `pos..pos+out.len()` of object `seed`.
fn fill(seed: u64, mut pos: u64, out: &mut [u8]) {
    let b = block();
    let mut done = 0;
    while done < out.len() {
        let at = ((pos + seed * 4099) % BLOCK as u64) as usize;
        let n = (BLOCK - at).min(out.len() - done);
        out[done..done + n].copy_from_slice(&b[at..at + n]);
        done += n;
        pos += n as u64;
    }
}

/// The plaintext of object `seed`, `len` bytes, as an `AsyncRead`.
struct Gen {
    seed: u64,
    pos: u64,
    len: u64,
}

impl AsyncRead for Gen {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.len - self.pos) as usize;
        let dst = buf.initialize_unfilled_to(n);
        fill(self.seed, self.pos, dst);
        buf.advance(n);
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mixed_uploads_and_downloads_share_one_client() {
    let config = sealstream_s3::Config::default()
        .part_size(MIN_PART_SIZE)
        .upload_concurrency(UPLOAD_CONCURRENCY)
        .download_concurrency(DOWNLOAD_CONCURRENCY)
        .download_segment_chunks(SEGMENT_CHUNKS);
    let env = env_or_skip!("load", config);
    let client = env.client.clone();
    let env = Arc::new(env);
    block();
    // Peak memory from here on: the test's own set-up does not count.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let start_peak = peak_rss();
    let started = Instant::now();

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (client, env) = (client.clone(), env.clone());
        tasks.spawn(async move {
            let mut moved = 0u64;
            for round in 0..ROUNDS {
                let len = SIZES[(task + round * 5) % SIZES.len()];
                let seed = (task * ROUNDS + round) as u64 + 1;
                let key = env.key(&format!("t{task}-r{round}-{len}"));
                let source = Gen { seed, pos: 0, len };
                let up = client
                    .upload_reader(
                        &env.bucket,
                        &key,
                        source,
                        UploadOptions::default().plaintext_len(len),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("upload {key}: {e}"));
                assert_eq!(up.plaintext_len, len);
                let mut dl = client
                    .download(&env.bucket, &key)
                    .await
                    .unwrap_or_else(|e| panic!("download {key}: {e}"));
                let mut pos = 0u64;
                let mut want = Vec::new();
                while let Some(piece) = dl.next().await {
                    let piece = piece.unwrap_or_else(|e| panic!("download {key}: {e}"));
                    want.resize(piece.len(), 0);
                    fill(seed, pos, &mut want);
                    assert!(piece[..] == want[..], "{key}: bytes differ at {pos}");
                    pos += piece.len() as u64;
                }
                assert_eq!(pos, len, "{key}: length");
                env.client
                    .s3()
                    .delete_object()
                    .bucket(&env.bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
                moved += len;
            }
            moved
        });
    }
    let mut moved = 0u64;
    while let Some(r) = tasks.join_next().await {
        moved += r.unwrap();
    }
    let elapsed = started.elapsed();
    let peak = peak_rss();

    // Per task, one transfer at a time: an upload holds at most
    // (concurrency + 2) sealed parts (plus the header in part 1), a
    // download (concurrency + 2) sealed segments.
    let sealed_part = MIN_PART_SIZE / CHUNK_SIZE as u64 * SEALED_CHUNK_SIZE as u64 + 64 * 1024;
    let upload = (UPLOAD_CONCURRENCY as u64 + 2) * sealed_part;
    let download = (DOWNLOAD_CONCURRENCY as u64 + 2) * SEGMENT_CHUNKS * SEALED_CHUNK_SIZE as u64;
    let bound = TASKS as u64 * upload.max(download) + BASE;
    println!(
        "load: {TASKS} tasks x {ROUNDS} objects, {} MiB up and down in {:.1}s; peak RSS {} MiB \
         (at start {} MiB), bound {} MiB",
        moved / MIB,
        elapsed.as_secs_f64(),
        peak / MIB,
        start_peak / MIB,
        bound / MIB,
    );
    assert!(peak > 0, "no VmHWM in /proc/self/status");
    assert!(peak < bound, "peak RSS {peak} exceeds the bound {bound}");
    assert!(env.uploads().await.is_empty());
}
