//! The format crate's integration tests, one module per subject, in one test binary. Run one
//! subject with `cargo test -p sealstream-format --test it SUBJECT::`, e.g. `--test it tamper::`.
//! `hostile` stays a binary of its own: it counts every heap byte of its process with a global
//! allocator, which other tests running in parallel would disturb.

#[path = "../support/mod.rs"]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod support;

mod interop_pyca;
mod pipeline;
mod props;
mod roundtrip;
mod tamper;
mod vectors;
