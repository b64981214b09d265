//! Behaviour of `SealedStore` beyond the conformance suite: requests and
//! bytes it costs (counted by a pass-through store), the opened-object cache
//! (KMS calls counted by a pass-through provider), byte-for-byte sealstream
//! objects, and the errors of tampering, wrong keys and renamed objects.
#![allow(missing_docs, clippy::unwrap_used)] // test helpers panic on failure

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{BoxStream, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sealstream_format::{
    BodyPrefix, DataKey, HEADER_LEN, Header, KeyRecord, Suite, layout, open_slice, seal_to_vec,
};
use sealstream_kms::{EncryptionContext, KeyProvider, Keyring, LocalKeyProvider, WrapContext};
use sealstream_object_store::{Error, SealedStore};

/// Counts the requests and the bytes of GET responses of the inner store.
#[derive(Debug, Default)]
struct Counting {
    inner: InMemory,
    gets: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    bytes: Arc<AtomicU64>,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

impl Counting {
    fn reset(&self) -> (u64, u64, u64, u64) {
        (
            self.gets.swap(0, Ordering::SeqCst),
            self.heads.swap(0, Ordering::SeqCst),
            self.lists.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl ObjectStore for Counting {
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
        let mut r = self.inner.get_opts(l, o).await?;
        let bytes = Arc::clone(&self.bytes);
        let stream = r.into_stream().inspect_ok(move |b| {
            bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
        });
        r = GetResult {
            payload: object_store::GetResultPayload::Stream(stream.boxed()),
            ..r
        };
        Ok(r)
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
    async fn unwrap(
        &self,
        record: &KeyRecord,
        ctx: WrapContext<'_>,
    ) -> sealstream_kms::Result<DataKey> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(record, ctx).await
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
    let inner = Arc::new(Counting::default());
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
    let sizes = [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7];
    for (i, n) in sizes.iter().enumerate() {
        store
            .put(&Path::from(format!("dir/o{i}")), data(*n).into())
            .await
            .unwrap();
    }
    inner.reset();
    let mut listed: Vec<_> = store.list(Some(&Path::from("dir"))).try_collect().await.unwrap();
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let got: Vec<u64> = listed.iter().map(|m| m.size).collect();
    assert_eq!(got, sizes.iter().map(|&n| n as u64).collect::<Vec<_>>());
    let delim = store.list_with_delimiter(Some(&Path::from("dir"))).await.unwrap();
    assert_eq!(delim.objects.len(), sizes.len());
    let (gets, heads, lists, _) = inner.reset();
    assert_eq!((gets, heads, lists), (0, 0, 2), "listing issued GET or HEAD requests");
    // head: one HEAD, no GET.
    let m = store.head(&Path::from("dir/o5")).await.unwrap();
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
        .get_opts(&path, GetOptions::new().with_range(Some(GetRange::Suffix(8))))
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
    store.put(&path, plain[..100].to_vec().into()).await.unwrap();
    inner.reset();
    let got = store.get_range(&path, 10..20).await.unwrap();
    assert_eq!(&got[..], &plain[10..20]);
    assert_eq!(key.unwraps.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_range_kind_matches_the_plaintext_at_every_edge() {
    let inner = InMemory::new();
    let store = SealedStore::new(InMemory::new(), keyring(1));
    for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
        let plain = Bytes::from(data(len));
        let path = Path::from(format!("len{len}"));
        store.put(&path, plain.clone().into()).await.unwrap();
        inner.put(&path, plain.clone().into()).await.unwrap();
        let l = len as u64;
        let mut ranges = vec![
            GetRange::Suffix(0),
            GetRange::Suffix(1),
            GetRange::Suffix(l + 5),
            GetRange::Offset(0),
            GetRange::Offset(l.saturating_sub(1)),
            GetRange::Offset(l),
            GetRange::Offset(l + 1),
            GetRange::Bounded(0..1),
            GetRange::Bounded(l..l + 1),
            GetRange::Bounded(l.saturating_sub(1)..l + 100),
            GetRange::Bounded(5..5),
        ];
        for p in [CHUNK as u64 - 1, CHUNK as u64, CHUNK as u64 + 1] {
            ranges.push(GetRange::Bounded(p..p + 2));
        }
        for r in ranges {
            let opts = GetOptions::new().with_range(Some(r.clone()));
            let want = inner.get_opts(&path, opts.clone()).await;
            let got = store.get_opts(&path, opts).await;
            match (want, got) {
                (Ok(w), Ok(g)) => {
                    assert_eq!(w.range, g.range, "len {len} {r:?}");
                    assert_eq!(w.meta.size, g.meta.size);
                    assert_eq!(w.bytes().await.unwrap(), g.bytes().await.unwrap());
                }
                (Err(_), Err(e)) => {
                    assert!(matches!(e, object_store::Error::Generic { .. }), "{e}")
                }
                (w, g) => panic!(
                    "len {len} {r:?}: inner {:?}, sealed {:?}",
                    w.map(|r| r.range),
                    g.map(|r| r.range)
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_ordinary_sealstream_objects_both_ways() {
    let store = SealedStore::new(InMemory::new(), keyring(3));
    let path = Path::from("backups/db.tar");
    let plain = data(3 * CHUNK + 5);
    store.put(&path, plain.clone().into()).await.unwrap();

    // Written by the wrapper, opened by the format crate and the key ring.
    let raw = store.inner().get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(raw.len() as u64, layout::object_len(plain.len() as u64).unwrap());
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
        .seal_key(Suite::XChaCha20Poly1305, EncryptionContext::new(), "from/cli.bin")
        .await
        .unwrap();
    let object = seal_to_vec(&sealed.header, &sealed.key, sealed.salt, &plain).unwrap();
    store.inner().put(&other, object.into()).await.unwrap();
    let got = store.get(&other).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
    assert_eq!(store.get_range(&other, 16380..16390).await.unwrap(), &plain[16380..16390]);
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
    let raw = store.inner().get(&path).await.unwrap().bytes().await.unwrap();

    // A flipped byte in chunk 1: the whole read fails, ranges that need chunk 1 too.
    let mut bad = raw.to_vec();
    bad[4096 + 56 + 16400 + 7] ^= 1;
    let tampered = Path::from("a/c");
    let mut rebound = bad.clone();
    rebound.clear();
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

    // Truncated by one byte: the stored size is no sealstream length.
    store
        .inner()
        .put(&path, raw.slice(..raw.len() - 1).into())
        .await
        .unwrap();
    let e = store.head(&path).await.unwrap_err();
    assert!(sealing_error(&e).is_tampering(), "{e}");

    // Wrong key: PermissionDenied, not tampering.
    store.inner().put(&path, raw.clone().into()).await.unwrap();
    let other = SealedStore::new(InMemory::new(), keyring(6));
    other.inner().put(&path, raw.clone().into()).await.unwrap();
    let e = other.get(&path).await.unwrap_err();
    assert!(matches!(e, object_store::Error::PermissionDenied { .. }), "{e}");
    assert!(sealing_error(&e).is_wrong_key());

    // Moved below the wrapper: bound to the old name.
    store.inner().copy(&path, &tampered).await.unwrap();
    let e = store.get(&tampered).await.unwrap_err();
    assert!(matches!(sealing_error(&e), Error::NameMismatch { .. }), "{e}");
    // Copied through the wrapper: re-wrapped for the new name.
    store.copy(&path, &tampered).await.unwrap();
    let got = store.get(&tampered).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);
    let copied = store.inner().get(&tampered).await.unwrap().bytes().await.unwrap();
    assert_eq!(&copied[HEADER_LEN..], &raw[HEADER_LEN..], "the body is copied unchanged");

    // A plaintext object in the inner store.
    store.inner().put(&path, "plain".into()).await.unwrap();
    let e = store.get(&path).await.unwrap_err();
    assert!(matches!(sealing_error(&e), Error::NotSealstream { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_parts_of_any_size_make_one_object() {
    let store = SealedStore::new(InMemory::new(), keyring(7)).with_part_size(64 * 1024);
    let path = Path::from("big");
    let plain = data(300_001);
    let mut up = store.put_multipart(&path).await.unwrap();
    for piece in [&plain[..1], &plain[1..70_000], &plain[70_000..70_003], &plain[70_003..]] {
        up.put_part(piece.to_vec().into()).await.unwrap();
    }
    up.complete().await.unwrap();
    let raw = store.inner().get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(raw.len() as u64, layout::object_len(plain.len() as u64).unwrap());
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], &plain[..]);

    // Dropped unfinished: nothing appears.
    let gone = Path::from("dropped");
    let mut up = store.put_multipart(&gone).await.unwrap();
    up.put_part(plain.clone().into()).await.unwrap();
    drop(up);
    assert!(matches!(
        store.head(&gone).await.unwrap_err(),
        object_store::Error::NotFound { .. }
    ));
}
