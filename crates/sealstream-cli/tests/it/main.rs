//! The CLI's integration tests, one module per subject, in one test binary: each binary links
//! the CLI's dependencies (the AWS SDK among them), so one link instead of ten. Run one subject
//! with `cargo test -p sealstream-cli --test it SUBJECT::`, e.g. `--test it s3::`.

#[path = "../common/mod.rs"]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod common;

mod backup;
mod crash;
mod interrupt;
mod local;
mod s3;
mod s3ec;
mod security;
mod tree;
mod ux;
mod web;
