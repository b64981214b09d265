//! The S3 crate's integration tests, one module per subject, in one test binary: each binary
//! links the AWS SDK, so one link instead of ten. `load` stays a binary of its own because it
//! measures the peak memory of its process.

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod abort;
mod faults;
mod hygiene;
mod presign;
mod range;
mod rewrap;
mod roundtrip;
mod s3ec;
mod sse;
mod tamper;
