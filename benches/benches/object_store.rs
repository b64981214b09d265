//! `SealedStore` (sealstream-object-store) against the bare inner store in
//! the same run: put and get of one 256 MiB object over `InMemory` and
//! `LocalFileSystem`, and a Parquet column scan (one column of every row
//! group, Parquet's async object_store reader) of an encrypted file against
//! the same scan of the plaintext file. The scan also prints the bytes
//! fetched from the inner store (counted by a pass-through store).
//!
//! `cargo bench -p sealstream-benches --bench object_store` (see
//! docs/PERFORMANCE.md, "object_store wrapper"; `SEALSTREAM_BENCH_OBJECT_MIB`
//! changes the object size).

#![allow(missing_docs)]

use std::fmt;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use async_trait::async_trait;
use bytes::Bytes;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
// ParquetObjectReader is deprecated in parquet 60 but is the reader engines use.
#[allow(deprecated)]
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::properties::WriterProperties;
use sealstream_benches::{MIB, plaintext};
use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_object_store::SealedStore;
use tokio::runtime::Runtime;

fn object_size() -> usize {
    std::env::var("SEALSTREAM_BENCH_OBJECT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
        * MIB
}

fn keyring() -> Keyring {
    let key = LocalKeyProvider::from_key_bytes(&[7; 32], "bench key").expect("key");
    Keyring::new(vec![Arc::new(key)]).expect("keyring")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A backend's name, its bare store, and a wrapper over a second one of its kind.
type Compared = (&'static str, Arc<dyn ObjectStore>, Arc<dyn ObjectStore>);

fn stores(dir: &std::path::Path) -> Vec<Compared> {
    let local = |sub: &str| {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).expect("dir");
        LocalFileSystem::new_with_prefix(p).expect("local")
    };
    vec![
        (
            "memory",
            Arc::new(InMemory::new()),
            Arc::new(SealedStore::new(InMemory::new(), keyring())),
        ),
        (
            "local",
            Arc::new(local("bare")),
            Arc::new(SealedStore::new(local("sealed"), keyring())),
        ),
    ]
}

fn put_get(c: &mut Criterion) {
    let rt = runtime();
    let size = object_size();
    let plain = Bytes::from(plaintext(size));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = Path::from("bench/object.bin");
    for (backend, bare, sealed) in stores(dir.path()) {
        for (op, is_put) in [("put", true), ("get", false)] {
            let mut group = c.benchmark_group(format!("objstore-{op}-{backend}"));
            // One 256 MiB iteration per sample: 10 samples, not criterion's 55.
            group.sampling_mode(SamplingMode::Flat);
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(200));
            group.measurement_time(Duration::from_secs(5));
            group.throughput(Throughput::Bytes(size as u64));
            for (name, store) in [("bare", &bare), ("sealed", &sealed)] {
                if !is_put {
                    rt.block_on(store.put(&path, plain.clone().into()))
                        .expect("put");
                }
                group.bench_function(BenchmarkId::new(name, size), |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            if is_put {
                                store.put(&path, plain.clone().into()).await.expect("put");
                            } else {
                                let got = store.get(&path).await.expect("get");
                                let mut n = 0;
                                let mut s = got.into_stream();
                                while let Some(b) = s.try_next().await.expect("read") {
                                    n += black_box(b).len();
                                }
                                assert_eq!(n, size);
                            }
                        });
                    });
                });
            }
            group.finish();
        }
    }
}

/// Counts the bytes of GET responses of the store it wraps.
#[derive(Debug)]
struct CountingBytes<S> {
    inner: S,
    bytes: Arc<AtomicU64>,
}

impl<S: fmt::Display> fmt::Display for CountingBytes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountingBytes({})", self.inner)
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for CountingBytes<S> {
    async fn put_opts(
        &self,
        l: &Path,
        p: PutPayload,
        o: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &Path,
        o: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(l, o).await
    }
    async fn get_opts(&self, l: &Path, o: GetOptions) -> object_store::Result<GetResult> {
        let r = self.inner.get_opts(l, o).await?;
        let (meta, range, attributes, extensions) = (
            r.meta.clone(),
            r.range.clone(),
            r.attributes.clone(),
            r.extensions.clone(),
        );
        let bytes = Arc::clone(&self.bytes);
        let stream = r.into_stream().inspect_ok(move |b| {
            bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
        });
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream.boxed()),
            meta,
            range,
            attributes,
            extensions,
        })
    }
    fn delete_stream(
        &self,
        l: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(l)
    }
    fn list(&self, p: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(p)
    }
    async fn list_with_delimiter(&self, p: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(p).await
    }
    async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(f, t, o).await
    }
}

/// About 24 MiB of Parquet: 1M rows in 10 row groups, three columns.
fn parquet_file() -> Bytes {
    let rows = 1_000_000;
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("name-{i:08}")),
            )) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float64Array::from_iter_values(
                (0..rows).map(|i| i as f64 * 0.5),
            )) as ArrayRef,
        ),
    ])
    .expect("batch");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(100_000))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    out.into()
}

/// Column `col` of every row group; returns the rows read.
#[allow(deprecated)]
async fn scan(store: Arc<dyn ObjectStore>, path: &Path, size: u64, col: usize) -> usize {
    let reader = ParquetObjectReader::new(store, path.clone()).with_file_size(size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .expect("metadata");
    let mask = ProjectionMask::roots(builder.parquet_schema(), [col]);
    let stream = builder.with_projection(mask).build().expect("stream");
    stream
        .map_ok(|b| b.num_rows())
        .try_fold(0, |a, n| async move { Ok(a + n) })
        .await
        .expect("scan")
}

fn parquet_scan(c: &mut Criterion) {
    let rt = runtime();
    let file = parquet_file();
    let path = Path::from("tables/t.parquet");
    let bare_bytes = Arc::new(AtomicU64::new(0));
    let sealed_bytes = Arc::new(AtomicU64::new(0));
    let bare: Arc<dyn ObjectStore> = Arc::new(CountingBytes {
        inner: InMemory::new(),
        bytes: Arc::clone(&bare_bytes),
    });
    let sealed: Arc<dyn ObjectStore> = Arc::new(SealedStore::new(
        CountingBytes {
            inner: InMemory::new(),
            bytes: Arc::clone(&sealed_bytes),
        },
        keyring(),
    ));
    let mut group = c.benchmark_group("objstore-parquet-scan");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(200));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(file.len() as u64));
    for (name, store, counter) in [
        ("bare", &bare, &bare_bytes),
        ("sealed", &sealed, &sealed_bytes),
    ] {
        rt.block_on(store.put(&path, file.clone().into()))
            .expect("put");
        let size = rt.block_on(store.head(&path)).expect("head").size;
        // One scan outside the timing: the bytes it fetched from the store.
        counter.store(0, Ordering::Relaxed);
        let rows = rt.block_on(scan(Arc::clone(store), &path, size, 2));
        assert_eq!(rows, 1_000_000);
        eprintln!(
            "objstore-parquet-scan/{name}: one column of {} B of Parquet: {} B fetched from the inner store",
            file.len(),
            counter.load(Ordering::Relaxed)
        );
        group.bench_function(BenchmarkId::new(name, file.len()), |b| {
            b.iter(|| black_box(rt.block_on(scan(Arc::clone(store), &path, size, 2))));
        });
    }
    group.finish();
}

criterion_group!(benches, put_get, parquet_scan);
criterion_main!(benches);
