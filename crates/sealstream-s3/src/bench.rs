//! Transfer benchmark: sealed upload and download of N bytes against a
//! plaintext multipart upload and ranged download of the same bytes, with
//! the same part size and concurrency, to the same server, in the same run
//! (`sealstream bench --s3` calls [`transfer_bench`]).
//!
//! The plaintext side does what a plain S3 client would: CRC32 per part,
//! `upload_concurrency` parts in flight; `download_concurrency` ranged GETs
//! of the same segment size in flight, consumed in order. The ratio
//! encrypted / plaintext is what sealing costs on top of the transfer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures_util::StreamExt;
use sealstream_format::SEALED_CHUNK_SIZE;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::task::JoinSet;

use crate::client::{SealClient, UploadOptions};
use crate::error::{Error, Result, object_name};
use crate::s3target::crc32_b64;

/// What to measure.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BenchOptions {
    /// Bucket to write the two test objects to (they are deleted after).
    pub bucket: String,
    /// Key prefix of the test objects.
    pub prefix: String,
    /// Plaintext bytes per object.
    pub bytes: u64,
}

impl BenchOptions {
    /// `bytes` bytes under `prefix` in `bucket`.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>, bytes: u64) -> Self {
        BenchOptions {
            bucket: bucket.into(),
            prefix: prefix.into(),
            bytes,
        }
    }
}

/// One measured transfer.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Transfer {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Plaintext MiB per second.
    pub mib_per_s: f64,
    /// Peak resident memory during this transfer (`VmHWM`, reset before it
    /// where the kernel allows), in bytes.
    pub peak_rss: Option<u64>,
}

/// The outcome of [`transfer_bench`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BenchReport {
    /// Plaintext bytes per object.
    pub bytes: u64,
    /// Part size used by both uploads.
    pub part_size: u64,
    /// Parts in flight (uploads).
    pub upload_concurrency: usize,
    /// Ranged GETs in flight (downloads).
    pub download_concurrency: usize,
    /// Sealed multipart upload.
    pub encrypted_upload: Transfer,
    /// Plaintext multipart upload of the same bytes.
    pub plain_upload: Transfer,
    /// Parallel download and opening of the sealed object.
    pub encrypted_download: Transfer,
    /// Parallel ranged download of the plaintext object.
    pub plain_download: Transfer,
    /// Encrypted / plaintext upload throughput (1.0: sealing is free).
    pub upload_ratio: f64,
    /// Encrypted / plaintext download throughput.
    pub download_ratio: f64,
    /// Peak resident memory of the whole run (the largest phase peak), in
    /// bytes.
    pub peak_rss: Option<u64>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: Option<u64>| b.map_or("?".to_owned(), |b| format!("{} MiB", b >> 20));
        writeln!(
            f,
            "{} MiB, parts of {} MiB, {} parts / {} GETs in flight",
            self.bytes >> 20,
            self.part_size >> 20,
            self.upload_concurrency,
            self.download_concurrency
        )?;
        for (name, t) in [
            ("upload   sealed", &self.encrypted_upload),
            ("upload   plain ", &self.plain_upload),
            ("download sealed", &self.encrypted_download),
            ("download plain ", &self.plain_download),
        ] {
            writeln!(
                f,
                "  {name}: {:8.1} MiB/s ({:.2} s, peak RSS {})",
                t.mib_per_s,
                t.seconds,
                mib(t.peak_rss)
            )?;
        }
        write!(
            f,
            "  ratio sealed/plain: upload {:.2}, download {:.2}; process peak RSS {}",
            self.upload_ratio,
            self.download_ratio,
            mib(self.peak_rss)
        )
    }
}

/// `VmHWM` of this process, in bytes (Linux only).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resets `VmHWM` to the current RSS (Linux >= 4.0), so that the next
/// reading is the peak of what follows. Returns whether it worked.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Deterministic incompressible-looking bytes: one 1 MiB random block,
/// repeated with a rotating offset.
struct Pattern {
    block: Bytes,
    remaining: u64,
    pos: usize,
}

impl Pattern {
    fn new(len: u64) -> Self {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut block = Vec::with_capacity(1 << 20);
        while block.len() < 1 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        Pattern {
            block: Bytes::from(block),
            remaining: len,
            pos: 0,
        }
    }
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let block_len = self.block.len();
        let avail = block_len - self.pos % block_len;
        let n = buf
            .remaining()
            .min(avail)
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let start = self.pos % block_len;
        buf.put_slice(self.block.get(start..start + n).unwrap_or(&[]));
        self.pos = self.pos.wrapping_add(n + 7);
        self.remaining -= n as u64;
        Poll::Ready(Ok(()))
    }
}

fn measure(bytes: u64, start: Instant, peak: Option<u64>) -> Transfer {
    let seconds = start.elapsed().as_secs_f64();
    Transfer {
        seconds,
        mib_per_s: bytes as f64 / 1_048_576.0 / seconds.max(1e-9),
        peak_rss: peak,
    }
}

fn phase_start() -> Instant {
    reset_peak_rss();
    Instant::now()
}

/// Runs the benchmark with `client`'s part size and concurrency; both
/// objects are deleted afterwards.
pub async fn transfer_bench(client: &SealClient, opts: &BenchOptions) -> Result<BenchReport> {
    let cfg = client.config().clone();
    let part_size = crate::config::effective_part_size(cfg.part_size, Some(opts.bytes))?;
    let sealed_key = format!("{}bench-sealed", opts.prefix);
    let plain_key = format!("{}bench-plain", opts.prefix);
    let bucket = opts.bucket.as_str();

    let t = phase_start();
    client
        .upload_reader(
            bucket,
            &sealed_key,
            Pattern::new(opts.bytes),
            UploadOptions::default().plaintext_len(opts.bytes),
        )
        .await?;
    let encrypted_upload = measure(opts.bytes, t, peak_rss());

    let t = phase_start();
    plain_upload(client, bucket, &plain_key, opts.bytes, part_size).await?;
    let plain_upload = measure(opts.bytes, t, peak_rss());

    let t = phase_start();
    let mut dl = client.download(bucket, &sealed_key).await?;
    let mut got = 0u64;
    while let Some(piece) = dl.next().await {
        got += piece?.len() as u64;
    }
    let encrypted_download = measure(got, t, peak_rss());

    let t = phase_start();
    let got_plain = plain_download(client, bucket, &plain_key, opts.bytes).await?;
    let plain_download = measure(got_plain, t, peak_rss());

    for key in [&sealed_key, &plain_key] {
        let _ = client
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await;
    }
    if got != opts.bytes || got_plain != opts.bytes {
        return Err(Error::InvalidArgument(format!(
            "benchmark read back {got} sealed and {got_plain} plain bytes of {}",
            opts.bytes
        )));
    }
    Ok(BenchReport {
        bytes: opts.bytes,
        part_size,
        upload_concurrency: cfg.upload_concurrency,
        download_concurrency: cfg.download_concurrency,
        upload_ratio: encrypted_upload.mib_per_s / plain_upload.mib_per_s,
        download_ratio: encrypted_download.mib_per_s / plain_download.mib_per_s,
        encrypted_upload,
        plain_upload,
        encrypted_download,
        plain_download,
        peak_rss: [
            encrypted_upload.peak_rss,
            plain_upload.peak_rss,
            encrypted_download.peak_rss,
            plain_download.peak_rss,
            peak_rss(),
        ]
        .into_iter()
        .flatten()
        .max(),
    })
}

/// A plain multipart upload, as any S3 client does it: CRC32 per part,
/// `upload_concurrency` parts in flight.
async fn plain_upload(
    client: &SealClient,
    bucket: &str,
    key: &str,
    len: u64,
    part_size: u64,
) -> Result<()> {
    let object = object_name(bucket, key);
    let s3 = client.s3.clone();
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(|e| Error::s3("CreateMultipartUpload", &object, e))?;
    let upload_id = created.upload_id.unwrap_or_default();
    let mut src = Pattern::new(len);
    let mut set: JoinSet<Result<CompletedPart>> = JoinSet::new();
    let mut parts = Vec::new();
    let mut number = 0i32;
    let mut left = len;
    let result: Result<()> = async {
        while left > 0 {
            number += 1;
            let n = usize::try_from(part_size.min(left)).unwrap_or(usize::MAX);
            let mut buf = vec![0u8; n];
            src.read_exact(&mut buf)
                .await
                .map_err(|e| Error::io("benchmark source", e))?;
            left -= n as u64;
            while set.len() >= client.config.upload_concurrency {
                if let Some(r) = set.join_next().await {
                    parts.push(r.map_err(|e| Error::io("part task", io::Error::other(e)))??);
                }
            }
            let (s3, bucket, key, id, obj) = (
                s3.clone(),
                bucket.to_owned(),
                key.to_owned(),
                upload_id.clone(),
                object.clone(),
            );
            set.spawn(async move {
                let crc = crc32_b64(crc32fast::hash(&buf));
                let out = s3
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number(number)
                    .checksum_crc32(&crc)
                    .body(ByteStream::from(buf))
                    .send()
                    .await
                    .map_err(|e| Error::s3("UploadPart", &obj, e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag)
                    .checksum_crc32(crc)
                    .build())
            });
        }
        while let Some(r) = set.join_next().await {
            parts.push(r.map_err(|e| Error::io("part task", io::Error::other(e)))??);
        }
        parts.sort_by_key(|p| p.part_number);
        s3.complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| Error::s3("CompleteMultipartUpload", &object, e))?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = s3
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

/// A plain parallel ranged download: segments of the size the sealed
/// download uses, `download_concurrency` in flight, consumed in order.
async fn plain_download(client: &SealClient, bucket: &str, key: &str, len: u64) -> Result<u64> {
    let seg = client.config.download_segment_chunks * SEALED_CHUNK_SIZE as u64;
    let object = object_name(bucket, key);
    let ranges: Vec<(u64, u64)> = (0..len.div_ceil(seg))
        .map(|i| (i * seg, ((i + 1) * seg).min(len) - 1))
        .collect();
    let s3 = client.s3.clone();
    let mut stream = futures_util::stream::iter(ranges)
        .map(|(a, b)| {
            let (s3, object) = (s3.clone(), object.clone());
            async move {
                let out = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .range(format!("bytes={a}-{b}"))
                    .send()
                    .await
                    .map_err(|e| Error::s3("GetObject", &object, e))?;
                let mut data = Vec::with_capacity(usize::try_from(b - a + 1).unwrap_or(0));
                let mut body = out.body;
                while let Some(piece) = body.next().await {
                    let piece = piece.map_err(|e| Error::S3 {
                        object: object.clone(),
                        operation: "GetObject",
                        detail: e.to_string(),
                        source: None,
                    })?;
                    data.extend_from_slice(&piece);
                }
                Ok::<_, Error>(data)
            }
        })
        .buffered(client.config.download_concurrency);
    let mut got = 0u64;
    while let Some(data) = stream.next().await {
        got += data?.len() as u64;
    }
    Ok(got)
}
