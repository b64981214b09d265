//! Behaviour of `SealedStore` beyond the conformance suite: requests and
//! bytes it costs (counted by a pass-through store), the opened-object cache
//! (KMS calls counted by a pass-through provider), byte-for-byte sealstream
//! objects, and the errors of tampering, wrong keys and renamed objects.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test helpers panic on failure and index what they made

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{BoxStream, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
// ParquetObjectReader is deprecated in parquet 60 (arrow-rs issue 10308) in favour of
// hand-written AsyncFileReaders; it is still the reader engines use, and the one the issue names.
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
#[allow(deprecated)]
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::properties::WriterProperties;
use sealstream_format::{
    BodyPrefix, DataKey, HEADER_LEN, Header, KeyRecord, Suite, layout, open_slice, seal_to_vec,
};
use sealstream_kms::{EncryptionContext, KeyProvider, Keyring, LocalKeyProvider, WrapContext};
use sealstream_object_store::{Error, SealedStore};

/// A pass-through store that counts requests, the ranges each GET answered
/// and the bytes of GET responses (a counting wrapper, not a fake: every
/// call goes to the store it wraps).
#[derive(Debug, Default)]
struct Counting<S = InMemory> {
    inner: S,
    gets: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    bytes: Arc<AtomicU64>,
    ranges: Mutex<Vec<Range<u64>>>,
}

impl<S: fmt::Display> fmt::Display for Counting<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Counting {
            inner,
            gets: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            bytes: Arc::new(AtomicU64::new(0)),
            ranges: Mutex::new(Vec::new()),
        }
    }

    /// (GETs, HEADs, LISTs, GET response bytes) since the last reset.
    fn reset(&self) -> (u64, u64, u64, u64) {
        self.ranges.lock().unwrap().clear();
        (
            self.gets.swap(0, Ordering::SeqCst),
            self.heads.swap(0, Ordering::SeqCst),
            self.lists.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
    }

    fn ranges(&self) -> Vec<Range<u64>> {
        self.ranges.lock().unwrap().clone()
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for Counting<S> {
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
        if o.head {
            self.heads.fetch_add(1, Ordering::SeqCst);
        } else {
            self.gets.fetch_add(1, Ordering::SeqCst);
        }
        let head = o.head;
        let r = self.inner.get_opts(l, o).await?;
        if !head {
            self.ranges.lock().unwrap().push(r.range.clone());
        }
        let (meta, range, attributes, extensions) = (
            r.meta.clone(),
            r.range.clone(),
            r.attributes.clone(),
            r.extensions.clone(),
        );
        let bytes = Arc::clone(&self.bytes);
        let stream = r.into_stream().inspect_ok(move |b| {
            bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
        });
        Ok(GetResult {
            payload: object_store::GetResultPayload::Stream(stream.boxed()),
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
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(p)
    }
    fn list_with_offset(
        &self,
        p: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_offset(p, offset)
    }
    async fn list_with_delimiter(&self, p: Option<&Path>) -> object_store::Result<ListResult> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_delimiter(p).await
    }
    async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(f, t, o).await
    }
}

/// Counts unwraps of a local key provider.
#[derive(Debug)]
struct CountingKey {
    inner: LocalKeyProvider,
    unwraps: AtomicU64,
}

#[async_trait]
impl KeyProvider for CountingKey {
    fn provider_id(&self) -> &'static str {
        self.inner.provider_id()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> sealstream_kms::Result<KeyRecord> {
        self.inner.wrap(key, ctx).await
    }
    fn accepts(&self, record: &KeyRecord) -> bool {
        self.inner.accepts(record)
    }
    async fn unwrap_unverified(
        &self,
        record: &KeyRecord,
        ctx: WrapContext<'_>,
    ) -> sealstream_kms::Result<DataKey> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap_unverified(record, ctx).await
    }
}

fn local_key(seed: u8) -> LocalKeyProvider {
    LocalKeyProvider::from_key_bytes(&[seed; 32], format!("test key {seed}")).unwrap()
}

fn keyring(seed: u8) -> Keyring {
    Keyring::new(vec![Arc::new(local_key(seed))]).unwrap()
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn counting_store() -> (Arc<Counting>, Arc<CountingKey>, SealedStore<Counting>) {
    let inner = Arc::new(Counting::new(InMemory::new()));
    let key = Arc::new(CountingKey {
        inner: local_key(1),
        unwraps: AtomicU64::new(0),
    });
    let ring = Keyring::new(vec![key.clone() as Arc<dyn KeyProvider>]).unwrap();
    let store = SealedStore::from_arc(Arc::clone(&inner), ring);
    (inner, key, store)
}

const CHUNK: usize = 16384;
const SEALED: u64 = 16400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_costs_one_request_not_one_per_object() {
    let (inner, _, store) = counting_store();
    // N = 60 objects: the edge sizes, then sizes that step over chunk ends.
    let mut sizes = vec![0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7];
    sizes.extend((0..54).map(|i| i * 7919 % (3 * CHUNK) + i));
    for (i, n) in sizes.iter().enumerate() {
        store
            .put(&Path::from(format!("dir/o{i:02}")), data(*n).into())
            .await
            .unwrap();
    }
    inner.reset();
    let mut listed: Vec<_> = store
        .list(Some(&Path::from("dir")))
        .try_collect()
        .await
        .unwrap();
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let got: Vec<u64> = listed.iter().map(|m| m.size).collect();
    assert_eq!(got, sizes.iter().map(|&n| n as u64).collect::<Vec<_>>());
    let delim = store
        .list_with_delimiter(Some(&Path::from("dir")))
        .await
        .unwrap();
    let got: Vec<u64> = delim.objects.iter().map(|m| m.size).collect();
    assert_eq!(got, sizes.iter().map(|&n| n as u64).collect::<Vec<_>>());
    let after: Vec<_> = store
        .list_with_offset(Some(&Path::from("dir")), &Path::from("dir/o49"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(after.len(), 10);
    let (gets, heads, lists, _) = inner.reset();
    assert_eq!(
        (gets, heads, lists),
        (0, 0, 3),
        "listing issued GET or HEAD requests"
    );
    // head: one HEAD, no GET.
    let m = store.head(&Path::from("dir/o05")).await.unwrap();
    assert_eq!(m.size, 5 * CHUNK as u64 + 7);
    let (gets, heads, _, _) = inner.reset();
    assert_eq!((gets, heads), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_reads_fetch_only_their_chunks_and_unwrap_once() {
    let (inner, key, store) = counting_store();
    let plain = data(40 * CHUNK + 123);
    let path = Path::from("table.parquet");
    store.put(&path, plain.clone().into()).await.unwrap();
    inner.reset();

    // First read: the header, then chunks 20..=21 (not the final chunk: the
    // range is inside the object).
    let r = 20 * CHUNK as u64 + 100..21 * CHUNK as u64 + 50;
    let got = store.get_range(&path, r.clone()).await.unwrap();
    assert_eq!(&got[..], &plain[r.start as usize..r.end as usize]);
    let (gets, _, _, bytes) = inner.reset();
    assert_eq!(gets, 2);
    assert_eq!(bytes, 4096 + 56 + 2 * SEALED);
    assert_eq!(key.unwraps.load(Ordering::SeqCst), 1);

    // Second read of the same object: one ranged GET, no unwrap.
    let r = 30 * CHUNK as u64..30 * CHUNK as u64 + 10;
    let got = store.get_range(&path, r.clone()).await.unwrap();
    assert_eq!(&got[..], &plain[r.start as usize..r.end as usize]);
    let (gets, _, _, bytes) = inner.reset();
    assert_eq!((gets, bytes), (1, SEALED));
    assert_eq!(key.unwraps.load(Ordering::SeqCst), 1);

    // A suffix (Parquet's footer): the final chunk (length proven once).
    let res = store
        .get_opts(
            &path,
            GetOptions::new().with_range(Some(GetRange::Suffix(8))),
        )
        .await
        .unwrap();
    assert_eq!(res.range, plain.len() as u64 - 8..plain.len() as u64);
    assert_eq!(res.meta.size, plain.len() as u64);
    assert_eq!(&res.bytes().await.unwrap()[..], &plain[plain.len() - 8..]);
    let (gets, _, _, bytes) = inner.reset();
    assert_eq!((gets, bytes), (1, 123 + 16));

    // An offset that starts in the second-to-last chunk.
    let res = store
        .get_opts(
            &path,
            GetOptions::new().with_range(Some(GetRange::Offset(39 * CHUNK as u64 + 5))),
        )
        .await
        .unwrap();
    assert_eq!(&res.bytes().await.unwrap()[..], &plain[39 * CHUNK + 5..]);
    let (gets, _, _, bytes) = inner.reset();
    assert_eq!((gets, bytes), (1, SEALED + 123 + 16));

    // A changed object (new ETag) is opened again.
    store
        .put(&path, plain[..100].to_vec().into())
        .await
        .unwrap();
    inner.reset();
    let got = store.get_range(&path, 10..20).await.unwrap();
    assert_eq!(&got[..], &plain[10..20]);
    assert_eq!(key.unwraps.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_ordinary_sealstream_objects_both_ways() {
    let store = SealedStore::new(InMemory::new(), keyring(3));
    let path = Path::from("backups/db.tar");
    let plain = data(3 * CHUNK + 5);
    store.put(&path, plain.clone().into()).await.unwrap();

    // Written by the wrapper, opened by the format crate and the key ring.
    let raw = store
        .inner()
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        raw.len() as u64,
        layout::object_len(plain.len() as u64).unwrap()
    );
    let header = Header::parse(&raw[..HEADER_LEN]).unwrap();
    assert_eq!(header.name(), "backups/db.tar");
    let prefix = BodyPrefix::from_bytes(raw[HEADER_LEN..HEADER_LEN + 56].try_into().unwrap());
    let key = keyring(3)
        .open_key(&header, &prefix, Some("backups/db.tar"))
        .await
        .unwrap();
    let (_, opened) = open_slice(&raw, &key).unwrap();
    assert_eq!(opened, plain);

    // Sealed outside the wrapper for this name, read through it.
    let other = Path::from("from/cli.bin");
    let sealed = keyring(3)
        .seal_key(
            Suite::XChaCha20Poly1305,
            EncryptionContext::new(),
            "from/cli.bin",
        )
        .await
        .unwrap();
    let object = seal_to_vec(&sealed.header, &sealed.key, sealed.salt, &plain).unwrap();
    store.inner().put(&other, object.into()).await.unwrap();
    let got = store.get(&other).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
    assert_eq!(
        store.get_range(&other, 16380..16390).await.unwrap(),
        &plain[16380..16390]
    );
}

fn sealing_error(e: &object_store::Error) -> &Error {
    Error::from_object_store(e).unwrap_or_else(|| panic!("no sealing error in {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_wrong_keys_and_renames_are_told_apart() {
    let store = SealedStore::new(InMemory::new(), keyring(5)).with_cache_capacity(0);
    let path = Path::from("a/b");
    let plain = data(2 * CHUNK + 9);
    store.put(&path, plain.clone().into()).await.unwrap();
    let raw = store
        .inner()
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // A flipped byte in chunk 1: the whole read fails, ranges that need chunk 1 too.
    let mut bad = raw.to_vec();
    bad[4096 + 56 + 16400 + 7] ^= 1;
    let tampered = Path::from("a/c");
    store.inner().put(&path, bad.into()).await.unwrap();
    let e = match store.get(&path).await {
        Ok(r) => r.bytes().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(e, object_store::Error::Generic { .. }), "{e}");
    assert!(sealing_error(&e).is_tampering(), "{e}");
    assert!(e.to_string().contains("chunk 1"), "{e}");
    let e = store.get_range(&path, 16384..16390).await.unwrap_err();
    assert!(sealing_error(&e).is_tampering(), "{e}");
    // Chunk 0 is still readable on its own.
    assert_eq!(store.get_range(&path, 0..10).await.unwrap(), &plain[..10]);

    // Truncated by one byte: still a possible length (head believes the
    // store, as documented), but every read that reaches the end fails.
    store
        .inner()
        .put(&path, raw.slice(..raw.len() - 1).into())
        .await
        .unwrap();
    assert_eq!(
        store.head(&path).await.unwrap().size,
        plain.len() as u64 - 1
    );
    let e = match store.get(&path).await {
        Ok(r) => r.bytes().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(e, object_store::Error::Generic { .. }), "{e}");
    assert!(sealing_error(&e).is_tampering(), "{e}");
    let e = store
        .get_opts(
            &path,
            GetOptions::new().with_range(Some(GetRange::Suffix(4))),
        )
        .await
        .unwrap_err();
    assert!(sealing_error(&e).is_tampering(), "{e}");
    // Truncated into the final chunk's tag: no sealstream length at all.
    store
        .inner()
        .put(&path, raw.slice(..raw.len() - 20).into())
        .await
        .unwrap();
    let e = store.head(&path).await.unwrap_err();
    assert!(
        matches!(sealing_error(&e), Error::NotSealstream { .. }),
        "{e}"
    );
    assert!(sealing_error(&e).is_tampering(), "{e}");

    // Wrong key: PermissionDenied, not tampering.
    store.inner().put(&path, raw.clone().into()).await.unwrap();
    let other = SealedStore::new(InMemory::new(), keyring(6));
    other.inner().put(&path, raw.clone().into()).await.unwrap();
    let e = other.get(&path).await.unwrap_err();
    assert!(
        matches!(e, object_store::Error::PermissionDenied { .. }),
        "{e}"
    );
    assert!(sealing_error(&e).is_wrong_key());

    // Moved below the wrapper: bound to the old name.
    store.inner().copy(&path, &tampered).await.unwrap();
    let e = store.get(&tampered).await.unwrap_err();
    assert!(
        matches!(sealing_error(&e), Error::NameMismatch { .. }),
        "{e}"
    );
    // Copied through the wrapper: re-wrapped for the new name.
    store.copy(&path, &tampered).await.unwrap();
    let got = store.get(&tampered).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
    let copied = store
        .inner()
        .get(&tampered)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        &copied[HEADER_LEN..],
        &raw[HEADER_LEN..],
        "the body is copied unchanged"
    );
    assert_eq!(Header::parse(&copied[..HEADER_LEN]).unwrap().name(), "a/c");

    // Renamed through the wrapper: re-wrapped, the old name gone; the
    // renamed object moved back below the wrapper is refused under the old name.
    let moved = Path::from("z/moved");
    store.rename(&tampered, &moved).await.unwrap();
    assert!(matches!(
        store.head(&tampered).await.unwrap_err(),
        object_store::Error::NotFound { .. }
    ));
    let got = store.get(&moved).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
    store.inner().copy(&moved, &tampered).await.unwrap();
    let e = store.get_range(&tampered, 0..4).await.unwrap_err();
    assert!(matches!(e, object_store::Error::Generic { .. }), "{e}");
    assert!(
        matches!(sealing_error(&e), Error::NameMismatch { .. }),
        "{e}"
    );
    assert!(sealing_error(&e).is_tampering() && !sealing_error(&e).is_wrong_key());
    assert!(
        e.to_string().contains("z/moved"),
        "the error names the bound name: {e}"
    );

    // A plaintext object in the inner store.
    store.inner().put(&path, "plain".into()).await.unwrap();
    let e = store.get(&path).await.unwrap_err();
    assert!(
        matches!(sealing_error(&e), Error::NotSealstream { .. }),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_parts_of_any_size_make_one_object() {
    let store = SealedStore::new(InMemory::new(), keyring(7)).with_part_size(64 * 1024);
    let path = Path::from("big");
    let plain = data(300_001);
    let mut up = store.put_multipart(&path).await.unwrap();
    for piece in [
        &plain[..1],
        &plain[1..70_000],
        &plain[70_000..70_003],
        &plain[70_003..],
    ] {
        up.put_part(piece.to_vec().into()).await.unwrap();
    }
    up.complete().await.unwrap();
    let raw = store
        .inner()
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        raw.len() as u64,
        layout::object_len(plain.len() as u64).unwrap()
    );
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
}

/// Files under `dir`, recursively (LocalFileSystem keeps an unfinished
/// multipart upload as a staging file next to its destination).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_or_failed_multipart_upload_leaves_no_object() {
    let dir = tempfile::tempdir().unwrap();
    let fs = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let store = SealedStore::new(fs, keyring(7)).with_part_size(64 * 1024);
    let plain = data(300_001);

    // Dropped after parts reached the inner store: the staging file exists,
    // then the abort spawned by the drop removes it.
    let gone = Path::from("up/dropped");
    let mut up = store.put_multipart(&gone).await.unwrap();
    up.put_part(plain.clone().into()).await.unwrap();
    assert!(!files_under(dir.path()).is_empty(), "parts were written");
    drop(up);
    // The abort runs on the runtime; wait for it (no bound on time asserted).
    let mut left = files_under(dir.path());
    for _ in 0..1000 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        left = files_under(dir.path());
    }
    assert!(left.is_empty(), "the dropped upload left {left:?}");
    assert!(matches!(
        store.head(&gone).await.unwrap_err(),
        object_store::Error::NotFound { .. }
    ));

    // Aborted explicitly: the same.
    let mut up = store.put_multipart(&gone).await.unwrap();
    up.put_part(plain.clone().into()).await.unwrap();
    up.abort().await.unwrap();
    assert!(files_under(dir.path()).is_empty());

    // Completed: exactly one file, the sealed object under its name.
    let mut up = store.put_multipart(&gone).await.unwrap();
    up.put_part(plain.clone().into()).await.unwrap();
    up.complete().await.unwrap();
    assert_eq!(files_under(dir.path()), vec![dir.path().join("up/dropped")]);
    let got = store.get(&gone).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
}

/// A Parquet file of several row groups, written by parquet's `ArrowWriter`.
fn parquet_file() -> (Bytes, Vec<RecordBatch>) {
    let ids = Int64Array::from_iter_values(0..40_000);
    let names = StringArray::from_iter_values((0..40_000).map(|i| format!("name-{i:08}")));
    let scores = Float64Array::from_iter_values((0..40_000).map(|i| f64::from(i) * 0.5));
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as ArrayRef),
        ("name", Arc::new(names) as ArrayRef),
        ("score", Arc::new(scores) as ArrayRef),
    ])
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(10_000))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    (out.into(), vec![batch])
}

/// Row group `rg`, column `col`, read by Parquet's async object_store reader.
#[allow(deprecated)]
async fn read_column(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    rg: usize,
    col: usize,
) -> Vec<RecordBatch> {
    let size = store.head(path).await.unwrap().size;
    let reader = ParquetObjectReader::new(store, path.clone()).with_file_size(size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await.unwrap();
    assert_eq!(builder.metadata().num_row_groups(), 4);
    let mask = ProjectionMask::roots(builder.parquet_schema(), [col]);
    let stream = builder
        .with_row_groups(vec![rg])
        .with_projection(mask)
        .build()
        .unwrap();
    stream.try_collect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_reads_one_column_of_one_row_group_through_authenticated_ranges() {
    let (file, _) = parquet_file();
    let path = Path::from("tables/t.parquet");

    let bare = Arc::new(InMemory::new());
    bare.put(&path, file.clone().into()).await.unwrap();
    let want = read_column(bare, &path, 2, 1).await;
    assert_eq!(
        want.iter().map(RecordBatch::num_rows).sum::<usize>(),
        10_000
    );

    // reader -> Counting (what the reader asks for) -> SealedStore ->
    // Counting (what is fetched from the store) -> InMemory
    let inner = Arc::new(Counting::new(InMemory::new()));
    let sealed = SealedStore::from_arc(Arc::clone(&inner), keyring(9));
    sealed.put(&path, file.clone().into()).await.unwrap();
    let object_len = inner.head(&path).await.unwrap().size;
    let outer = Arc::new(Counting::new(sealed));
    inner.reset();
    let got = read_column(Arc::clone(&outer) as Arc<dyn ObjectStore>, &path, 2, 1).await;
    assert_eq!(got, want, "the batches equal those of the plaintext file");

    let asked = outer.ranges();
    let (_, _, _, fetched) = inner.reset();
    let asked_bytes: u64 = asked.iter().map(|r| r.end - r.start).sum();
    // Around each asked range: its chunks (each 16 bytes larger sealed, the
    // first and last partly outside it), the final chunk when the length
    // matters, and once the header and body prefix.
    let allowance: u64 = asked
        .iter()
        .map(|r| {
            let chunks = (r.end.div_ceil(CHUNK as u64) - r.start / CHUNK as u64).max(1);
            chunks * (SEALED - CHUNK as u64) + 3 * SEALED
        })
        .sum::<u64>()
        + (HEADER_LEN as u64 + 56);
    eprintln!(
        "parquet: {} ranges, {asked_bytes} B asked, {fetched} B fetched of a {object_len} B object",
        asked.len()
    );
    assert!(
        fetched <= asked_bytes + allowance,
        "fetched {fetched} B for {asked_bytes} B asked ({} ranges)",
        asked.len()
    );
    assert!(
        fetched < object_len / 3,
        "fetched {fetched} B of {object_len}"
    );
}
