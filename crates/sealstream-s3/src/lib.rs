//! S3 adapter for sealstream: objects are sealed on the client before they
//! reach S3 and opened only after they come back, in the object format of
//! docs/FORMAT.md (the sealstream-format crate), with data keys from a
//! sealstream-kms [`Keyring`](sealstream_kms::Keyring).
//!
//! # Which type for which job
//!
//! | job | use |
//! |---|---|
//! | upload from an `AsyncRead`, a `Stream` of `Bytes`, or a file | [`SealClient::upload_reader`], [`upload_stream`](SealClient::upload_stream), [`upload_file`](SealClient::upload_file) |
//! | download into an `AsyncWrite`, as a `Stream`, or into a file (all or nothing) | [`SealClient::download_to_writer`], [`download`](SealClient::download), [`download_to_file`](SealClient::download_to_file) |
//! | read plaintext bytes `a..b` (only the chunks that hold them) | [`SealClient::get_range`] |
//! | check a header first, then read, download, share or rewrap exactly what was checked | [`SealClient::head`] → [`ObjectHead`] → [`SealClient::read_range`] (a [`PlainRange`]), [`SealClient::download_head`], [`SealClient::share_head`], [`SealClient::rewrap_head`] |
//! | seal/open any tokio stream (files, sockets, pipes) | [`io::SealingWriter`] (**call `finish` or `shutdown`**), [`io::OpeningReader`] |
//! | SSE-S3, SSE-KMS, SSE-C under the sealing | [`Config::sse`] with [`Sse`] |
//! | let someone without AWS credentials upload or download | [`SealClient::presign_put`], [`presign_multipart`](SealClient::presign_multipart), [`presign_get`](SealClient::presign_get), then [`PlainHttp`] on their side |
//! | share one object by link (key in the URL fragment) | [`SealClient::share`] → [`ShareLink`] → [`PlainHttp::open_share_link`] |
//! | let someone open or upload with only a browser (the `web/` page) | [`ShareLink::expose_web_link`], [`SealClient::upload_link`] → [`UploadLink`], [`cors_rule_json`] / [`put_web_cors`] |
//! | add or remove readers without re-encrypting | [`SealClient::rewrap`] |
//! | survive a crash mid-upload: journal it, resume it later | [`SealClient::upload_reader_journaled`] with an [`UploadJournal`], then [`SealClient::resume_file`] |
//! | read or migrate Amazon S3 Encryption Client objects | [`s3ec::S3ecObject`], [`SealClient::migrate_s3ec`] |
//! | list, stat (HEAD) and delete stored objects (no key needed) | [`SealClient::list`], [`stat`](SealClient::stat), [`exists`](SealClient::exists), [`delete`](SealClient::delete), [`delete_many`](SealClient::delete_many) |
//! | read a header without a key (listings, inspection) | [`SealClient::read_header`] → [`StoredHeader`] |
//! | list and abort in-progress multipart uploads | [`SealClient::list_uploads`], [`abort_upload`](SealClient::abort_upload), [`abort_uploads_since`](SealClient::abort_uploads_since) |
//! | measure sealing overhead against plain S3 transfers | [`bench::transfer_bench`] |
//!
//! # Upload and download paths
//!
//! ```text
//!  upload:   reader ──▶ part buffer (plaintext read straight into 16 KiB chunk slots)
//!                 ──▶ seal on all cores (blocking pool) ──▶ CRC32 ──▶ UploadPart
//!            up to `upload_concurrency` parts in flight (a JoinSet that waits for
//!            capacity), buffers reused: memory < (concurrency + 2) * part size.
//!            One part → one PutObject. Any failure, or dropping the future, aborts
//!            the multipart upload: nothing appears under the key unless complete.
//!
//!  download: GET bytes=0-… (header, prefix, first chunks; total length) ─▶ unwrap key,
//!            check the commitment ─▶ chunk-aligned ranged GETs (If-Match the ETag),
//!            up to `download_concurrency` in flight, opened on all cores, yielded in
//!            order; a cut response body is fetched again (or resumed) before it is
//!            reported as truncated.
//! ```
//!
//! Part sizes (default 16 MiB, 5 MiB to 5 GiB) are whole runs of 16 KiB
//! chunks: every part's ciphertext is a whole number of 16400-byte sealed
//! chunks, part 1 also carries the header and the 56-byte body prefix.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sealstream_kms::{Keyring, LocalKeyProvider};
//! use sealstream_s3::{Config, SealClient, UploadOptions};
//!
//! # async fn run(sdk: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
//! // `sdk`: the caller's AWS SDK configuration (`aws_config::defaults(..).load().await`).
//! let key = LocalKeyProvider::from_file("local.key")?;
//! let keyring = Keyring::new(vec![Arc::new(key)])?;
//! let client = SealClient::from_sdk_config(&sdk, keyring, Config::default())?;
//!
//! client
//!     .upload_file("backups", "db.tar", "db.tar", UploadOptions::default())
//!     .await?;
//! // Written to a temporary name, renamed only once the last chunk authenticated.
//! client.download_to_file("backups", "db.tar", "restored.tar").await?;
//! let middle = client.get_range("backups", "db.tar", 1_000_000..1_000_100).await?;
//! # let _ = middle; Ok(()) }
//! ```
//!
//! # Metadata
//!
//! Every object gets the user metadata in [`metadata`] (`x-amz-meta-sealstream-version`,
//! `-suite`, and `-plaintext-length` when known). They are hints, not
//! authenticated, and no decision depends on them; the object stays self-describing through its
//! header.
//!
//! # Secrets
//!
//! SSE-C keys are wiped on drop and never printed; a [`PresignedRequest`]
//! or [`ShareLink`] prints neither its signature nor its key, and no error
//! message carries key bytes, plaintext or credentials. The AWS SDK and
//! hyper do not wipe their own buffers (request headers holding an SSE-C
//! key included).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin;
pub mod bench;
mod client;
mod compat;
mod config;
mod download;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod http;
pub mod io;
mod parts;
mod pipeline;
mod presign;
mod range;
pub mod redact;
mod resume;
mod rewrap;
pub mod s3ec;
mod s3target;
mod share;
mod sse;
mod weblink;

pub use admin::{DeleteOutcome, MAX_DELETE_BATCH, ObjectEntry, PendingUpload};
pub use client::{SealClient, UploadOptions, s3_client, s3_client_from};
pub use config::{
    Config, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, DEFAULT_SEGMENT_CHUNKS, MAX_PART_SIZE,
    MAX_PARTS, MIN_PART_SIZE, S3_MAX_PART_BYTES,
};
pub use download::Download;
pub use error::{Error, Result};
pub use head::{ObjectHead, StoredHeader};
pub use http::PlainHttp;
pub use pipeline::UploadOutcome;
pub use presign::{MAX_PRESIGN_EXPIRY, PresignPutOptions, PresignedMultipart, PresignedRequest};
pub use range::PlainRange;
pub use resume::{JournalStart, PartIntent, PartStored, ResumeOutcome, ResumeState, UploadJournal};
pub use rewrap::RewrapOutcome;
pub use s3target::metadata;
pub use share::ShareLink;
pub use sse::{Sse, SseCustomerKey};
pub use weblink::{UploadLink, cors_rule_json, origin_of, put_web_cors};
