//! `object_store`'s own conformance suite (`object_store::integration`, behind
//! its `integration` feature), run against `SealedStore` over each backend.
//! Every function of the suite that applies to an `ObjectStore` runs here;
//! see the crate docs for the ones that need `MultipartStore` or
//! `PaginatedListStore`.
#![allow(missing_docs, clippy::unwrap_used)] // test set-up helpers panic on failure

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{DynObjectStore, ObjectStore};
use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_object_store::SealedStore;

fn keyring() -> Keyring {
    let p = LocalKeyProvider::from_key_bytes(&[42; 32], "conformance key").unwrap();
    Keyring::new(vec![Arc::new(p)]).unwrap()
}

fn sealed<S: ObjectStore>(inner: S) -> Box<DynObjectStore> {
    // Small parts so that the suite's 5 MiB uploads span several parts.
    Box::new(SealedStore::new(inner, keyring()).with_part_size(1 << 20))
}

fn memory() -> (Box<DynObjectStore>, ()) {
    (sealed(InMemory::new()), ())
}

fn local() -> (Box<DynObjectStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fs = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    (sealed(fs), dir)
}

macro_rules! conformance {
    ($backend:ident, $supports_update:expr) => {
        mod $backend {

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn put_get_delete_list() {
                let (s, _g) = super::$backend();
                object_store::integration::put_get_delete_list(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn put_get_attributes() {
                let (s, _g) = super::$backend();
                object_store::integration::put_get_attributes(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn get_opts() {
                let (s, _g) = super::$backend();
                object_store::integration::get_opts(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn put_opts() {
                let (s, _g) = super::$backend();
                object_store::integration::put_opts(&*s, $supports_update).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stream_get() {
                let (s, _g) = super::$backend();
                object_store::integration::stream_get(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn list_uses_directories_correctly() {
                let (s, _g) = super::$backend();
                object_store::integration::list_uses_directories_correctly(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn list_with_delimiter() {
                let (s, _g) = super::$backend();
                object_store::integration::list_with_delimiter(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn list_with_offset_exclusivity() {
                let (s, _g) = super::$backend();
                object_store::integration::list_with_offset_exclusivity(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn get_nonexistent_object() {
                let (s, _g) = super::$backend();
                let err = object_store::integration::get_nonexistent_object(&*s, None)
                    .await
                    .unwrap_err();
                assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rename_and_copy() {
                let (s, _g) = super::$backend();
                object_store::integration::rename_and_copy(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn copy_if_not_exists() {
                let (s, _g) = super::$backend();
                object_store::integration::copy_if_not_exists(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn copy_rename_nonexistent_object() {
                let (s, _g) = super::$backend();
                object_store::integration::copy_rename_nonexistent_object(&*s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multipart_race_condition() {
                let (s, _g) = super::$backend();
                object_store::integration::multipart_race_condition(&*s, true).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multipart_out_of_order() {
                let (s, _g) = super::$backend();
                object_store::integration::multipart_out_of_order(&*s).await;
            }
        }
    };
}

conformance!(memory, true);
conformance!(local, false);
