//! Throughput of the raw AEADs (the limit) and of the format's seal and
//! open, single-threaded and on every core, in one run so that ratios are
//! taken under the same conditions; plus header parsing, a random-access
//! read of one chunk, and the range-mapping functions.
//!
//! `cargo bench -p sealstream-benches` (add `SEALSTREAM_BENCH_LARGE=1` for
//! 1 GiB, `--features aws-lc` for aws-lc-rs). See docs/PERFORMANCE.md.

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealstream_benches::{MIB, RawAead, header, key, plaintext, salt, sizes, suite_id};
use sealstream_format::pipeline::{self, PipelineOptions};
use sealstream_format::{
    ChunkSealer, EncryptingWriter, Header, KeyRecord, RandomAccess, SealedReader, Suite, layout,
    seal_to_vec,
};

fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn tune(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, size: usize) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(if size >= 512 * MIB {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(3)
    });
}

/// The limit: one AEAD call per 16 KiB chunk, sealing in place.
fn raw(c: &mut Criterion) {
    let mut aeads = vec![("ring-aes", RawAead::ring_aes())];
    #[cfg(feature = "aws-lc")]
    aeads.push(("aws-lc-aes", RawAead::aws_lc_aes()));
    aeads.push(("xchacha", RawAead::xchacha()));
    for size in sizes() {
        let mut group = c.benchmark_group("raw");
        tune(&mut group, size);
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = plaintext(size);
        for (name, aead) in &aeads {
            group.bench_function(BenchmarkId::new(*name, size), |b| {
                b.iter(|| black_box(aead.seal_chunks(&mut buf)));
            });
        }
        // The format's per-chunk call (nonce derivation + the same AEAD).
        for suite in Suite::ALL {
            let (cipher, _) = ChunkSealer::new(suite, &key(), salt(), b"ctx").expect("derive");
            let id = format!("chunk-sealer-{}", suite_id(suite));
            group.bench_function(BenchmarkId::new(id, size), |b| {
                b.iter(|| {
                    for (i, c) in buf.chunks_exact_mut(16_384).enumerate() {
                        black_box(cipher.seal_chunk(i as u64, c, false).expect("seal"));
                    }
                });
            });
        }
        group.finish();
    }
}

fn seal(c: &mut Criterion) {
    for size in sizes() {
        let plain = plaintext(size);
        let mut out = Vec::with_capacity(size + size / 512 + 4096);
        let mut group = c.benchmark_group("seal");
        tune(&mut group, size);
        group.throughput(Throughput::Bytes(size as u64));
        for suite in Suite::ALL {
            let h = header(suite);
            let k = key();
            let s = suite_id(suite);
            group.bench_function(BenchmarkId::new(format!("{s}/writer-1t"), size), |b| {
                b.iter(|| {
                    out.clear();
                    let mut w = EncryptingWriter::new(&mut out, &h, &k, salt()).expect("new");
                    w.write_all(&plain).expect("write");
                    w.finish().expect("finish");
                });
            });
            for threads in [1, all_cores()] {
                let opts = PipelineOptions::with_threads(threads);
                let id = format!("{s}/pipeline-{threads}t");
                group.bench_function(BenchmarkId::new(id, size), |b| {
                    b.iter(|| {
                        out.clear();
                        pipeline::seal_file(&plain[..], &mut out, &h, &k, salt(), &opts)
                            .expect("seal");
                    });
                });
            }
        }
        group.finish();
    }
}

fn open(c: &mut Criterion) {
    for size in sizes() {
        let mut out = Vec::with_capacity(size);
        let mut group = c.benchmark_group("open");
        tune(&mut group, size);
        group.throughput(Throughput::Bytes(size as u64));
        for suite in Suite::ALL {
            let h = header(suite);
            let k = key();
            let object = seal_to_vec(&h, &k, salt(), &plaintext(size)).expect("seal");
            let s = suite_id(suite);
            group.bench_function(BenchmarkId::new(format!("{s}/reader-1t"), size), |b| {
                b.iter(|| {
                    out.clear();
                    let r = SealedReader::new(&object[..]).expect("header");
                    r.open(&k)
                        .expect("open")
                        .read_to_end(&mut out)
                        .expect("read");
                });
            });
            for threads in [1, all_cores()] {
                let opts = PipelineOptions::with_threads(threads);
                let id = format!("{s}/pipeline-{threads}t");
                group.bench_function(BenchmarkId::new(id, size), |b| {
                    b.iter(|| {
                        out.clear();
                        pipeline::open_file(&object[..], &mut out, &h, &k, &opts).expect("open");
                    });
                });
            }
        }
        group.finish();
    }
}

fn header_parse(c: &mut Criterion) {
    let records = (0..3)
        .map(|i| {
            KeyRecord::new(
                "aws-kms",
                format!("arn:aws:kms:eu-west-1:1:key/{i}"),
                vec![9; 184],
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .expect("records");
    let h = header(Suite::Aes256Gcm)
        .with_records(records)
        .expect("header");
    let bytes = h.encode();
    let mut group = c.benchmark_group("header");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| black_box(Header::parse(black_box(&bytes)).expect("parse")));
    });
    group.finish();
}

fn random_access(c: &mut Criterion) {
    let size = 64 * MIB;
    let h = header(Suite::Aes256Gcm);
    let k = key();
    let object = seal_to_vec(&h, &k, salt(), &plaintext(size)).expect("seal");
    let ra = RandomAccess::open(&object[..], &k).expect("open");
    let middle = ra.chunk_count() / 2;
    let mut group = c.benchmark_group("random_access");
    group.throughput(Throughput::Bytes(16_384));
    group.bench_function("read_chunk/64MiB", |b| {
        b.iter(|| black_box(ra.read_chunk(black_box(middle)).expect("chunk")));
    });
    // Including the header parse, key derivation and commitment check.
    group.bench_function("open_and_read_chunk/64MiB", |b| {
        b.iter(|| {
            let ra = RandomAccess::open(&object[..], &k).expect("open");
            black_box(ra.read_chunk(black_box(middle)).expect("chunk"))
        });
    });
    group.finish();
}

fn ranges(c: &mut Criterion) {
    let len = 5 * 1024 * MIB as u64 + 12_345;
    let body = layout::body_len(len).expect("len");
    let mut group = c.benchmark_group("layout");
    group.bench_function("plan_range", |b| {
        b.iter(|| black_box(layout::plan_range(black_box(1_000_000..9_000_000), len)));
    });
    group.bench_function("body_len", |b| {
        b.iter(|| black_box(layout::body_len(black_box(len))));
    });
    group.bench_function("plaintext_len", |b| {
        b.iter(|| black_box(layout::plaintext_len(black_box(body))));
    });
    group.bench_function("chunk_body_range", |b| {
        b.iter(|| black_box(layout::chunk_body_range(black_box(4242), len)));
    });
    group.finish();
}

criterion_group!(
    benches,
    raw,
    seal,
    open,
    header_parse,
    random_access,
    ranges
);
criterion_main!(benches);
