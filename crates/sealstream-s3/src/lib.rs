//! S3 adapter for sealstream (work in progress).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod compat;
mod config;
mod download;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod http;
pub mod io;
mod parts;
mod pipeline;
mod presign;
mod range;
mod rewrap;
mod s3target;
mod share;
mod sse;

pub use client::{SealClient, UploadOptions, metadata, s3_client};
pub use config::{
    Config, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, DEFAULT_SEGMENT_CHUNKS, MAX_PART_SIZE,
    MAX_PARTS, MIN_PART_SIZE, S3_MAX_PART_BYTES,
};
pub use download::Download;
pub use error::{Error, Result};
pub use http::PlainHttp;
pub use pipeline::UploadOutcome;
pub use presign::{MAX_PRESIGN_EXPIRY, PresignPutOptions, PresignedMultipart, PresignedRequest};
pub use rewrap::RewrapOutcome;
pub use share::ShareLink;
pub use sse::{Sse, SseCustomerKey};
