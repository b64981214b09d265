//! A small, deterministic, fault-injecting HTTP/1.1 reverse proxy for
//! sealstream's fault tests. This is a named fake: it sits between an SDK
//! client and a real S3 or KMS server on 127.0.0.1 and breaks exactly the
//! requests its plan says, in the ways the real servers cannot be made to.
//!
//! # Which type for which job
//!
//! | job | use |
//! |---|---|
//! | start a proxy in front of a server, stopped on drop | [`FaultProxy::start`], then [`FaultProxy::endpoint`] as the SDK's endpoint URL |
//! | say what to break | a [`FaultPlan`] of [`Rule`]s, each a [`Match`] and one or more [`Fault`]s |
//! | break a fraction of requests, reproducibly | [`Rule::rate`] with the plan's seed ([`seed_from_env`]) |
//! | break the first few, or the n-th | [`Rule::times`], [`Rule::skip`], [`Match::nth`] |
//! | check what was injected | [`FaultProxy::stats`], [`FaultProxy::log`], [`FaultProxy::report`] |
//!
//! # Faults
//!
//! | [`Fault`] | the client sees | reaches the upstream |
//! |---|---|---|
//! | `Status(500)`, `Status(503)` | that status, S3 XML error (JSON for `x-amz-target` requests) | no |
//! | `SlowDown` | `503` with S3's `SlowDown` error | no |
//! | `KmsThrottling` | `400` with `{"__type":"ThrottlingException"}` | no |
//! | `ResetRequest` | a TCP reset while sending the body | no |
//! | `DropResponse` | a TCP reset instead of the answer | yes |
//! | `ResetResponse` | the head and part of the body, then a TCP reset | yes |
//! | `Truncate` | the head (full `Content-Length`), part of the body, then EOF | yes |
//! | `FlipByte` | the whole response with one byte inverted | yes |
//! | `Stall` | the normal answer, late | yes |
//! | `Serve` | another object's bytes and ETag, ranges honoured (a swapping endpoint) | no |
//! | `Reply` | a given status and XML body (say, a DeleteObjects result refusing some keys) | no |
//!
//! Random decisions depend only on the seed and the request, not on the
//! order concurrent requests arrive in (see the `plan` module docs of
//! [`FaultPlan`]). A proxy dropped during a panic prints its seed.
//!
//! # Example
//!
//! ```
//! use sealstream_faultproxy::{Fault, FaultPlan, FaultProxy, Match, Rule, seed_from_env};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // One in ten UploadPart requests fails with a 503 SlowDown or a reset.
//! let plan = FaultPlan::new(seed_from_env("SEALSTREAM_FAULT_SEED")).rule(
//!     Rule::one_of(
//!         Match::any().method("PUT").query("partNumber"),
//!         vec![Fault::SlowDown, Fault::ResetRequest { after_bytes: 4096 }],
//!     )
//!     .rate(0.1),
//! );
//! let proxy = FaultProxy::start("http://127.0.0.1:9000", plan).await?;
//! assert!(proxy.endpoint().starts_with("http://127.0.0.1:"));
//! // ... point the S3 client's endpoint_url at proxy.endpoint() ...
//! assert_eq!(proxy.stats().requests, 0);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod plan;
mod proxy;
mod record;

pub use plan::{Fault, FaultPlan, Match, Rule, parse_seed, seed_from_env};
pub use proxy::{FaultProxy, MAX_LOG_ENTRIES, Upstream};
pub use record::{FaultStats, RequestRecord};
