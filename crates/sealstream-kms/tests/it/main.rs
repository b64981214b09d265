//! The KMS crate's integration tests, one module per subject, in one test binary (one link of
//! the AWS SDK instead of four). Run one subject with
//! `cargo test -p sealstream-kms --test it SUBJECT::`, e.g. `--test it providers::`.

#[path = "../support/mod.rs"]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod support;

mod faults;
mod kms;
mod providers;
mod redaction;
