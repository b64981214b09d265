//! S3 adapter for sealstream (work in progress).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
mod download;
mod error;
pub mod io;
mod parts;
mod pipeline;
mod range;
mod s3target;
mod sse;

pub use client::{SealClient, UploadOptions, metadata, s3_client};
pub use config::{
    Config, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, DEFAULT_SEGMENT_CHUNKS, MAX_PART_SIZE,
    MAX_PARTS, MIN_PART_SIZE, S3_MAX_PART_BYTES,
};
pub use download::Download;
pub use error::{Error, Result};
pub use pipeline::UploadOutcome;
pub use sse::{Sse, SseCustomerKey};
