//! Client-side encryption for every [`object_store`] backend (S3, GCS,
//! Azure, local files, memory): [`SealedStore`] wraps any
//! [`ObjectStore`](object_store::ObjectStore) and is one itself, so engines
//! built on `object_store` (DataFusion, Polars, delta-rs, …) read and write
//! sealed objects without knowing it. The inner store sees only ciphertext.
//!
//! Every object is an ordinary sealstream object (docs/FORMAT.md), byte for
//! byte: the `sealstream` CLI opens what the wrapper wrote, and the wrapper
//! reads what the CLI put. Each object has a fresh data key from a
//! sealstream-kms [`Keyring`](sealstream_kms::Keyring) (AWS KMS, local key
//! files, X25519 recipients), wrapped in its 4096-byte header, and is
//! **bound to its name**: the name is the object's [`Path`] exactly as given
//! to the wrapper (`path.as_ref()`, percent-encoded as `object_store` keeps
//! it). An object copied or renamed below the wrapper fails with
//! [`Error::NameMismatch`]; [`copy`](object_store::ObjectStoreExt::copy) and
//! [`rename`](object_store::ObjectStoreExt::rename) through the wrapper
//! re-wrap the key for the new name.
//!
//! [`Path`]: object_store::path::Path
//!
//! # Which type for which job
//!
//! | job | use |
//! |---|---|
//! | seal and open objects in any `object_store` backend | [`SealedStore::new`]`(inner, keyring)` |
//! | large uploads in bounded memory | `put_multipart` on a [`SealedStore`] (parts of [`SealedStore::with_part_size`]) |
//! | Parquet / DataFusion over encrypted files | register the [`SealedStore`]; ranged reads open only the chunks they need |
//! | tell tampering from a wrong key | [`Error::from_object_store`], [`Error::is_tampering`], [`Error::is_wrong_key`] |
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use object_store::{ObjectStore, ObjectStoreExt, memory::InMemory, path::Path};
//! use sealstream_kms::{Keyring, LocalKeyProvider};
//! use sealstream_object_store::SealedStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = LocalKeyProvider::from_key_bytes(&[7; 32], "example key")?;
//! let store = SealedStore::new(InMemory::new(), Keyring::new(vec![Arc::new(key)])?);
//!
//! let path = Path::from("data/report.csv");
//! store.put(&path, "a,b\n1,2\n".into()).await?;
//! assert_eq!(store.head(&path).await?.size, 8); // plaintext size, from the stored size
//! assert_eq!(store.get_range(&path, 4..7).await?, "1,2");
//!
//! // The inner store holds a sealstream object: 4096-byte header, then the body.
//! let raw = store.inner().get(&path).await?.bytes().await?;
//! assert_eq!(&raw[..4], b"\x89SLS");
//! assert_eq!(raw.len(), 4096 + 56 + 8 + 16);
//! # Ok(()) }
//! ```
//!
//! # What each operation costs
//!
//! - `put`: one inner put; the payload is sealed on every core.
//! - `put_multipart`: parts of the store's part size (whole 16 KiB chunk
//!   runs, sealed on every core) whatever sizes the caller passes; the header
//!   goes in front of the first part and the final chunk ends the last one.
//!   A failed `complete` aborts the inner upload; a dropped upload is aborted.
//! - `get` of the whole object: one inner GET; plaintext is released one
//!   authenticated run of chunks (at most 4 MiB) at a time.
//! - `get` of a range (`Bounded`, `Offset`, `Suffix`): the chunks that hold
//!   the range, plus the final chunk when the answer depends on the length
//!   (an open-ended or clamped range) and the length was not authenticated
//!   yet. The first read of an object also fetches its 4152-byte header and
//!   body prefix and unwraps the key (together with the chunks when the range
//!   starts in chunk 0); later reads of the same object (same location and
//!   ETag) cost one ranged GET and no KMS call (a bounded cache,
//!   [`SealedStore::with_cache_capacity`]). Ranges at and past the end answer as
//!   the inner store does (an empty suffix answer costs one more inner
//!   request: `Suffix(0)` of the stored object, which `InMemory` answers
//!   empty and S3 with 416). Conditional options (`if_match`, `if_none_match`,
//!   dates, `version`) go to the inner store unchanged; the ETags are the
//!   inner store's (of the ciphertext).
//! - `head`, `list`, `list_with_delimiter`, `list_with_offset`: one inner
//!   call, no request per object: the plaintext size follows from the stored
//!   size alone (docs/FORMAT.md, "Lengths and offsets"). A listed object whose
//!   stored size is no sealstream length is an [`Error::NotSealstream`] item.
//!   These sizes are as trustworthy as the store; a read authenticates them.
//! - `copy`, `rename`: the header is re-wrapped for the new name (the key is
//!   checked against the commitment first) and the object is written again:
//!   one inner GET and one inner put of the whole object, ciphertext only
//!   (the body is never decrypted). The header comes first and no object
//!   store can replace the first bytes of an object in place, so a
//!   server-side copy cannot produce the new header. `copy_if_not_exists`
//!   uses the inner store's `PutMode::Create`. `rename` is copy then delete.
//!   Today the object is held in memory during a copy.
//! - `delete`: the inner store's.
//!
//! # Errors
//!
//! Inner errors (`NotFound`, `Precondition`, `NotModified`, `AlreadyExists`)
//! pass through unchanged. A wrong key is `PermissionDenied`; tampering and
//! every other sealing error is `Generic { store: "SealedStore" }`; in both
//! the `source` is an [`Error`].
//!
//! # Conformance
//!
//! `tests/conformance.rs` runs `object_store::integration` (0.14.2, its
//! `integration` feature) against the wrapper over `InMemory`,
//! `LocalFileSystem` and `AmazonS3` on the local S3 server (`weed mini`,
//! scripts/services; a fresh key prefix per test): `put_get_delete_list`,
//! `put_get_attributes`, `get_opts`, `put_opts`, `stream_get`,
//! `list_uses_directories_correctly`, `list_with_delimiter`,
//! `list_with_offset_exclusivity`, `get_nonexistent_object`,
//! `rename_and_copy`, `copy_if_not_exists`, `copy_rename_nonexistent_object`,
//! `multipart_race_condition`, `multipart_out_of_order` on all three, and
//! `response_extensions` over S3. All pass, with these notes:
//!
//! - **Not applicable**: `multipart`, `multipart_with_opts` and
//!   `multipart_put_part_out_of_order` take a `MultipartStore` (parts
//!   addressed by index, uploadable from anywhere), `list_paginated` a
//!   `PaginatedListStore`; the wrapper implements neither (a part's chunk
//!   indices depend on the sizes of the parts before it, and its data key
//!   lives in this process). The three multipart functions run on the bare
//!   `AmazonS3` of the same server and pass; `list_paginated` wants a bucket
//!   of its own and is not run. `signing` and `tagging` are private to
//!   `object_store`'s own tests.
//! - **The server, not the wrapper**: `put_get_delete_list` over S3 fails on
//!   weed 4.48 at one `list_with_offset` case (no prefix, offset `a`: weed's
//!   `start-after` skips every key under `a/`, though `a/b.file` sorts after
//!   `a`). The bare `AmazonS3` fails the same assertion
//!   (`s3_bare::put_get_delete_list_fails_on_the_server_itself`); with that
//!   one call answered client-side below the wrapper, the function passes to
//!   its end.
//! - `put_opts` over S3 is **not in the default run** (`#[ignore]`, run it
//!   with `--ignored`): its last step (5 workers x 10 `PutMode::Update`
//!   increments) once ended at 2 instead of 50 when the whole binary ran on
//!   a loaded machine; isolated runs of the wrapper and of the bare store
//!   always passed, and the server refused concurrent updates of one version
//!   correctly in a direct test. The cause is not known (a value of 2 fits a
//!   spurious 404 under load that let a worker's `PutMode::Create` reset the
//!   counter, which would be the server's; unproven). The wrapper's
//!   conditional puts over S3 are checked one at a time instead
//!   (`put_opts::s3_conditional_updates_in_sequence`).
//! - Ranges: an empty suffix answer (`Suffix(0)`, or any suffix of an empty
//!   object) is where stores differ (`InMemory`: an empty range, S3: 416);
//!   the wrapper asks the inner store, so every `GetRange` at and past the
//!   end answers as the bare inner store does on each of the three backends
//!   (`ranges_match_bare_*`).
//!
//! The name bound into each object is the path the wrapper is given: a
//! wrapper over a `PrefixStore` binds names without the prefix, so objects
//! meant for the `sealstream` CLI (which binds the full S3 key) need a
//! wrapper directly over the bucket's store.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod error;
mod store;
mod upload;

pub use error::{Error, STORE_NAME};
pub use store::{DEFAULT_CACHE_CAPACITY, DEFAULT_PART_SIZE, SealedStore};
