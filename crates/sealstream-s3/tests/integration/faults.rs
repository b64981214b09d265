//! Fault tests: the real S3 server (SeaweedFS `weed mini`) behind
//! `sealstream-faultproxy`, a named fake that injects the failures the real
//! server cannot produce (5xx, SlowDown, connection resets, cut and
//! corrupted bodies). What reached the server is always checked on the
//! server directly, never through the proxy.
//!
//! Random decisions follow a seed, printed by every failure (set
//! `SEALSTREAM_FAULT_SEED` to repeat a run's draws).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::retry::RetryConfig;
use futures_util::StreamExt;
use sealstream_faultproxy::{Fault, FaultPlan, FaultProxy, Match, Rule, seed_from_env};
use sealstream_format::{BODY_PREFIX_LEN, CHUNK_SIZE, SEALED_CHUNK_SIZE};
use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_s3::{Config, Error, MIN_PART_SIZE, SealClient, UploadOptions};

const MIB: usize = 1024 * 1024;

struct Env {
    endpoint: String,
    bucket: String,
    prefix: String,
    /// Straight to the server, for set-up and checks.
    direct: SealClient,
    seed: u64,
}

async fn env(test: &str) -> Option<Env> {
    let endpoint = match std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => {
            assert!(
                std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: SEALSTREAM_TEST_S3_ENDPOINT is unset but SEALSTREAM_REQUIRE_SERVICES=1; \
                 run `scripts/services start` and source its env"
            );
            eprintln!("SKIP {test}: SEALSTREAM_TEST_S3_ENDPOINT is unset (no local S3 server)");
            return None;
        }
    };
    let bucket =
        std::env::var("SEALSTREAM_TEST_S3_BUCKET").unwrap_or_else(|_| "sealstream-test".into());
    let seed = seed_from_env("SEALSTREAM_FAULT_SEED");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("faults/{test}-{}-{nanos}/", std::process::id());
    let direct = client(&endpoint, config(), RetryConfig::standard()).await;
    Some(Env {
        endpoint,
        bucket,
        prefix,
        direct,
        seed,
    })
}

fn keyring() -> Keyring {
    let p = LocalKeyProvider::from_key_bytes(&[7; 32], "fault test key").unwrap();
    Keyring::new(vec![Arc::new(p)]).unwrap()
}

/// 5 MiB parts, 4 in flight; downloads in 16-chunk segments, 4 in flight.
fn config() -> Config {
    Config::default()
        .part_size(MIN_PART_SIZE)
        .upload_concurrency(4)
        .download_concurrency(4)
        .download_segment_chunks(16)
}

/// The SDK's standard retry mode with short backoffs.
fn retries(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(200))
}

/// A sealing client for `endpoint` with `retry` (the S3 crate's
/// `s3_client` takes no retry configuration, so the SDK client is built
/// here the same way, plus the retry config).
async fn client(endpoint: &str, config: Config, retry: RetryConfig) -> SealClient {
    let sdk = common::sdk_config(endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .retry_config(retry)
            .build(),
    );
    SealClient::new(s3, keyring(), config).unwrap()
}

/// Deterministic bytes, different per salt.
fn data(len: usize, salt: u64) -> Vec<u8> {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

impl Env {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn proxy(&self, plan: FaultPlan) -> FaultProxy {
        FaultProxy::start(self.endpoint.as_str(), plan)
            .await
            .unwrap()
    }

    async fn upload_direct(&self, key: &str, plain: &[u8]) {
        self.direct
            .upload_reader(
                &self.bucket,
                key,
                plain,
                UploadOptions::default().plaintext_len(plain.len() as u64),
            )
            .await
            .unwrap();
    }

    /// Multipart uploads in progress under this test's prefix, asked of the
    /// server directly.
    async fn uploads_in_progress(&self) -> Vec<String> {
        let out = self
            .direct
            .s3()
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .unwrap();
        out.uploads()
            .iter()
            .map(|u| {
                format!(
                    "{} ({})",
                    u.key().unwrap_or(""),
                    u.upload_id().unwrap_or("")
                )
            })
            .collect()
    }

    async fn exists(&self, key: &str) -> bool {
        match self
            .direct
            .s3()
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                assert_eq!(status, Some(404), "HeadObject {key}: {e:?}");
                false
            }
        }
    }

    /// The length of the object's header, from its first bytes.
    async fn header_len(&self, key: &str) -> u64 {
        let dl = self.direct.download(&self.bucket, key).await.unwrap();
        dl.header().encode().len() as u64
    }

    async fn cleanup(&self) {
        let s3 = self.direct.s3();
        if let Ok(out) = s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
        {
            for o in out.contents() {
                if let Some(k) = o.key() {
                    let _ = s3.delete_object().bucket(&self.bucket).key(k).send().await;
                }
            }
        }
    }
}

/// Everything a download yielded, and the error that ended it, if any.
async fn download(client: &SealClient, bucket: &str, key: &str) -> (Vec<u8>, Option<Error>) {
    let mut dl = match client.download(bucket, key).await {
        Ok(dl) => dl,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut got = Vec::new();
    while let Some(piece) = dl.next().await {
        match piece {
            Ok(b) => got.extend_from_slice(&b),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

/// The one property every damaged download must keep: whatever was yielded
/// is a prefix of the true plaintext, and a download that did not fail
/// yielded all of it.
fn assert_no_wrong_plaintext(got: &[u8], err: Option<&Error>, plain: &[u8], ctx: &str) {
    let agree = got.len() <= plain.len() && got == &plain[..got.len()];
    assert!(
        agree,
        "{ctx}: the download yielded wrong plaintext ({} bytes, err {err:?})",
        got.len()
    );
    if err.is_none() {
        assert_eq!(
            got.len(),
            plain.len(),
            "{ctx}: a download without error was short"
        );
    }
}

/// The object offset where chunk `index` starts.
fn chunk_offset(header_len: u64, index: u64) -> u64 {
    header_len + BODY_PREFIX_LEN as u64 + index * SEALED_CHUNK_SIZE as u64
}

/// The chunk a ranged GET starting at object offset `start` begins with.
fn chunk_at(header_len: u64, start: u64) -> u64 {
    (start - header_len - BODY_PREFIX_LEN as u64) / SEALED_CHUNK_SIZE as u64
}

/// `bytes=S-E` -> S.
fn range_start(range: &str) -> u64 {
    range
        .strip_prefix("bytes=")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_completes_under_ten_percent_faults() {
    let Some(env) = env("upload_ten_percent").await else {
        return;
    };
    let key = env.key("object");
    let plain = data(5 * 5 * MIB - 1000, env.seed);
    let part = |n: &str| {
        Match::any()
            .method("PUT")
            .path(key.as_str())
            .query_eq("partNumber", n)
    };
    let plan = FaultPlan::new(env.seed)
        // Each kind at least once, whatever the draws ...
        .rule(Rule::new(Match::any().query("uploads"), Fault::Status(503)).times(1))
        .rule(Rule::new(part("2"), Fault::Status(500)).times(1))
        .rule(Rule::new(part("3"), Fault::SlowDown).times(1))
        .rule(
            Rule::new(
                part("4"),
                Fault::ResetRequest {
                    after_bytes: MIB as u64,
                },
            )
            .times(1),
        )
        .rule(
            Rule::new(
                Match::any().method("POST").query("uploadId"),
                Fault::Status(500),
            )
            .times(1),
        )
        // ... then one request in ten, at random.
        .rule(
            Rule::one_of(
                Match::any().path(env.prefix.as_str()),
                vec![
                    Fault::Status(500),
                    Fault::Status(503),
                    Fault::SlowDown,
                    Fault::ResetRequest {
                        after_bytes: 64 * 1024,
                    },
                ],
            )
            .rate(0.1),
        );
    let proxy = env.proxy(plan).await;
    let via = client(&proxy.endpoint(), config(), retries(6)).await;
    let outcome = via
        .upload_reader(
            &env.bucket,
            &key,
            plain.as_slice(),
            UploadOptions::default().plaintext_len(plain.len() as u64),
        )
        .await
        .unwrap_or_else(|e| panic!("upload failed: {e}\n{}", proxy.report()));
    assert_eq!(outcome.parts, 5, "{}", proxy.report());
    let stats = proxy.stats();
    assert!(stats.injected_total() >= 5, "{}", proxy.report());
    let (got, err) = download(&env.direct, &env.bucket, &key).await;
    assert!(err.is_none(), "{err:?}\n{}", proxy.report());
    assert!(
        got == plain,
        "the object does not decrypt to the uploaded bytes\n{}",
        proxy.report()
    );
    assert_eq!(
        env.uploads_in_progress().await,
        Vec::<String>::new(),
        "{}",
        proxy.report()
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_that_exhausts_retries_is_aborted() {
    let Some(env) = env("upload_exhausted").await else {
        return;
    };
    let key = env.key("object");
    let plain = data(5 * 5 * MIB - 1000, env.seed);
    let plan = FaultPlan::new(env.seed)
        .rule(Rule::one_of(
            Match::any().method("PUT").query_eq("partNumber", "3"),
            vec![
                Fault::Status(500),
                Fault::Status(503),
                Fault::SlowDown,
                Fault::ResetRequest {
                    after_bytes: 64 * 1024,
                },
            ],
        ))
        // The first abort attempt fails too; the SDK retries it.
        .rule(
            Rule::new(
                Match::any().method("DELETE").query("uploadId"),
                Fault::Status(503),
            )
            .times(1),
        );
    let proxy = env.proxy(plan).await;
    let via = client(&proxy.endpoint(), config(), retries(3)).await;
    let err = via
        .upload_reader(
            &env.bucket,
            &key,
            plain.as_slice(),
            UploadOptions::default().plaintext_len(plain.len() as u64),
        )
        .await
        .expect_err(&format!(
            "part 3 always fails, yet the upload succeeded\n{}",
            proxy.report()
        ));
    let report = proxy.report();
    assert!(
        matches!(err, Error::UploadAborted { .. }),
        "{err}\n{report}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&key) && msg.contains("aborted"), "{msg}");
    let part3 = proxy
        .log()
        .iter()
        .filter(|r| r.method == "PUT" && r.uri.contains("partNumber=3"))
        .count();
    assert_eq!(
        part3, 3,
        "part 3 should be tried exactly max_attempts times\n{report}"
    );
    let aborts = proxy.log().iter().filter(|r| r.method == "DELETE").count();
    assert!(
        aborts >= 2,
        "the failed abort should have been retried\n{report}"
    );
    // A part request in flight when the upload failed may land after the
    // abort; the crate aborts once more 2 s later, so allow for that.
    let mut left = env.uploads_in_progress().await;
    for _ in 0..30 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = env.uploads_in_progress().await;
    }
    assert_eq!(
        left,
        Vec::<String>::new(),
        "multipart uploads left behind\n{report}"
    );
    assert!(
        !env.exists(&key).await,
        "an object exists under the key\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_fail_authentication_naming_the_chunk() {
    let Some(env) = env("download_flips").await else {
        return;
    };
    let key = env.key("object");
    let plain = data(120 * CHUNK_SIZE + 1234, env.seed);
    env.upload_direct(&key, &plain).await;
    let h = env.header_len(&key).await;

    // A clean parallel download through the proxy shows the segment ranges.
    let proxy = env.proxy(FaultPlan::new(env.seed)).await;
    let via = client(&proxy.endpoint(), config(), retries(3)).await;
    let (got, err) = download(&via, &env.bucket, &key).await;
    assert!(
        err.is_none() && got == plain,
        "clean download: {err:?}\n{}",
        proxy.report()
    );
    let mut starts: Vec<u64> = proxy
        .log()
        .iter()
        .filter_map(|r| r.range.as_deref().map(range_start))
        .filter(|&s| s > 0)
        .collect();
    starts.sort_unstable();
    assert!(
        starts.len() >= 3,
        "expected several segments\n{}",
        proxy.report()
    );
    let segment = starts[2];
    let first_chunk = chunk_at(h, segment);
    let last = starts[starts.len() - 1];
    // 120 full chunks, then the final chunk of 1234 bytes and its tag.
    let object_len = chunk_offset(h, 120) + 1234 + 16;

    let sequential = client(
        &proxy.endpoint(),
        config().download_concurrency(1),
        retries(3),
    )
    .await;
    let get = || Match::any().method("GET").path(key.as_str());
    let cases: Vec<(&str, &SealClient, Rule, u64)> = vec![
        // The first request is the header read, which holds the first
        // chunks (ObjectHead); its chunks are opened from those bytes.
        (
            "parallel, first request, chunk 2",
            &via,
            Rule::new(
                get().header("range", "bytes=0-"),
                Fault::FlipByte {
                    offset: chunk_offset(h, 2) + 100,
                },
            ),
            2,
        ),
        (
            "parallel, a later segment, its fourth chunk",
            &via,
            Rule::new(
                get().header("range", format!("bytes={segment}-")),
                Fault::FlipByte {
                    offset: 3 * SEALED_CHUNK_SIZE as u64 + 7,
                },
            ),
            first_chunk + 3,
        ),
        (
            "parallel, the final chunk's tag",
            &via,
            Rule::new(
                get().header("range", format!("bytes={last}-")),
                Fault::FlipByte {
                    offset: object_len - 1 - last,
                },
            ),
            120,
        ),
        (
            "sequential, chunk 77",
            &sequential,
            // Past the header read: the streaming GET of the whole object.
            Rule::new(
                get(),
                Fault::FlipByte {
                    offset: chunk_offset(h, 77) + 16_000,
                },
            )
            .skip(1),
            77,
        ),
    ];
    for (what, dl_client, rule, chunk) in cases {
        let before = proxy.stats().count("flip-byte");
        proxy.set_plan(FaultPlan::new(env.seed).rule(rule.times(1)));
        let (got, err) = download(dl_client, &env.bucket, &key).await;
        let report = proxy.report();
        assert_eq!(
            proxy.stats().count("flip-byte"),
            before + 1,
            "{what}: not injected\n{report}"
        );
        assert_no_wrong_plaintext(&got, err.as_ref(), &plain, what);
        let err = err.unwrap_or_else(|| panic!("{what}: a flipped byte went unnoticed\n{report}"));
        assert!(
            matches!(err, Error::ChunkAuthentication { index, .. } if index == chunk),
            "{what}: expected chunk {chunk} to fail authentication, got: {err}\n{report}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("chunk {chunk}")) && msg.contains(&key),
            "{what}: {msg}"
        );
    }

    // A flipped header byte: refused before any plaintext.
    for (what, dl_client) in [("parallel", &via), ("sequential", &sequential)] {
        proxy.set_plan(
            FaultPlan::new(env.seed)
                .rule(Rule::new(get(), Fault::FlipByte { offset: 12 }).times(1)),
        );
        let (got, err) = download(dl_client, &env.bucket, &key).await;
        assert!(
            got.is_empty(),
            "{what}: plaintext from an object with a modified header"
        );
        assert!(
            err.is_some(),
            "{what}: a modified header went unnoticed\n{}",
            proxy.report()
        );
    }
    env.cleanup().await;
}

/// Downloads whose response bodies are cut short (truncated, reset) at
/// several places, parallel and sequential. With `persistent`, every
/// matching response is cut, retries included; otherwise only the first.
/// Asserts on every case that no wrong plaintext was yielded and that an
/// error names the object; returns each case's name, error and the
/// proxy's report.
async fn cut_body_downloads(
    env: &Env,
    salt: u64,
    persistent: bool,
) -> Vec<(String, Option<Error>, String)> {
    let key = env.key(&format!("cut-{salt}"));
    let plain = data(120 * CHUNK_SIZE + 1234, env.seed ^ salt);
    env.upload_direct(&key, &plain).await;
    let h = env.header_len(&key).await;
    let proxy = env.proxy(FaultPlan::new(env.seed)).await;
    let parallel = client(&proxy.endpoint(), config(), retries(3)).await;
    let sequential = client(
        &proxy.endpoint(),
        config().download_concurrency(1),
        retries(3),
    )
    .await;
    let get = || Match::any().method("GET").path(key.as_str());
    // From the fourth ranged GET on: a segment after the first request.
    let later_segment = |fault| Rule::new(get().header("range", "bytes="), fault).skip(3);
    let cases: Vec<(&str, &SealClient, Rule)> = vec![
        (
            "parallel, a segment truncated",
            &parallel,
            later_segment(Fault::Truncate { keep_bytes: 5000 }),
        ),
        (
            "parallel, a segment reset",
            &parallel,
            later_segment(Fault::ResetResponse {
                after_bytes: 20_000,
            }),
        ),
        (
            "parallel, the first request truncated inside the header",
            &parallel,
            Rule::new(get(), Fault::Truncate { keep_bytes: 20 }),
        ),
        (
            "sequential, truncated inside chunk 50",
            &sequential,
            Rule::new(
                get(),
                Fault::Truncate {
                    keep_bytes: chunk_offset(h, 50) + 10,
                },
            ),
        ),
        (
            "sequential, truncated on the boundary of chunk 60",
            &sequential,
            Rule::new(
                get(),
                Fault::Truncate {
                    keep_bytes: chunk_offset(h, 60),
                },
            ),
        ),
        (
            "sequential, reset inside chunk 30",
            &sequential,
            Rule::new(
                get(),
                Fault::ResetResponse {
                    after_bytes: chunk_offset(h, 30) + 99,
                },
            ),
        ),
    ];
    let mut outcomes = Vec::new();
    for (what, dl_client, rule) in cases {
        let rule = if persistent { rule } else { rule.times(1) };
        let before = proxy.stats().injected_total();
        proxy.set_plan(FaultPlan::new(env.seed).rule(rule));
        let (got, err) = download(dl_client, &env.bucket, &key).await;
        let report = proxy.report();
        assert!(
            proxy.stats().injected_total() > before,
            "{what}: not injected\n{report}"
        );
        assert_no_wrong_plaintext(&got, err.as_ref(), &plain, what);
        if let Some(e) = &err {
            let msg = e.to_string();
            assert!(
                msg.contains(&key),
                "{what}: the error does not name the object: {msg}\n{report}"
            );
            assert!(
                !msg.contains("  "),
                "{what}: stray spaces in the error: {msg:?}"
            );
        }
        outcomes.push((what.to_owned(), err, report));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_bodies_are_resumed() {
    let Some(env) = env("download_cuts_once").await else {
        return;
    };
    for (what, err, report) in cut_body_downloads(&env, 1, false).await {
        assert!(
            err.is_none(),
            "{what}: a body cut once must be fetched again and the download complete; got: {}\n{report}",
            err.map(|e| e.to_string()).unwrap_or_default()
        );
        let gets = report.matches(" GET ").count();
        assert!(gets >= 2, "{what}: no second GET\n{report}");
    }
    env.cleanup().await;
}

/// A body cut on every attempt fails as a truncation naming where it was cut
/// (including a first ranged GET cut inside the header, which once was
/// misreported as "the object is empty").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_cuts_fail_as_truncation_naming_the_chunk() {
    let Some(env) = env("download_cuts_always").await else {
        return;
    };
    let mut wrong = Vec::new();
    let mut last_report = String::new();
    for (what, err, report) in cut_body_downloads(&env, 2, true).await {
        let err = err.unwrap_or_else(|| {
            panic!("{what}: every response was cut, yet the download completed\n{report}")
        });
        let msg = err.to_string();
        eprintln!("{what}: {msg}");
        let named = matches!(err, Error::Truncated { .. })
            && (msg.contains("chunk") || msg.contains("header"));
        if !named {
            wrong.push(format!("{what}: {msg}"));
        }
        last_report = report;
    }
    assert!(
        wrong.is_empty(),
        "expected truncation errors naming the chunk (or the header); got:\n  {}\n{last_report}",
        wrong.join("\n  ")
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_random_download_faults() {
    let Some(env) = env("download_random").await else {
        return;
    };
    let key = env.key("object");
    let plain = data(120 * CHUNK_SIZE + 1234, env.seed ^ 2);
    env.upload_direct(&key, &plain).await;
    // Offsets drawn from the seed, so a failing run can be repeated.
    let mut x = env.seed | 1;
    let mut next = |bound: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    };
    let body = (SEALED_CHUNK_SIZE * 16) as u64;
    let faults = vec![
        Fault::Status(500),
        Fault::Status(503),
        Fault::SlowDown,
        Fault::Truncate {
            keep_bytes: next(body),
        },
        Fault::ResetResponse {
            after_bytes: next(body),
        },
        Fault::FlipByte { offset: next(body) },
        Fault::FlipByte { offset: next(body) },
    ];
    let proxy = env
        .proxy(
            FaultPlan::new(env.seed)
                .rule(Rule::one_of(Match::any().method("GET"), faults).rate(0.2)),
        )
        .await;
    let mut ok = 0;
    let mut failed = 0;
    for concurrency in [4, 4, 4, 1, 1, 1] {
        let via = client(
            &proxy.endpoint(),
            config().download_concurrency(concurrency),
            retries(3),
        )
        .await;
        let (got, err) = download(&via, &env.bucket, &key).await;
        let what = format!(
            "download with concurrency {concurrency}\n{}",
            proxy.report()
        );
        assert_no_wrong_plaintext(&got, err.as_ref(), &plain, &what);
        if err.is_some() {
            failed += 1;
        } else {
            ok += 1;
        }
    }
    eprintln!(
        "seeded_random_download_faults: {ok} complete, {failed} failed cleanly; {}",
        proxy.stats()
    );
    assert!(proxy.stats().injected_total() > 0, "{}", proxy.report());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_are_retried_without_harm() {
    let Some(env) = env("lost_answers").await else {
        return;
    };
    let key = env.key("object");
    let plain = data(2 * 5 * MIB + 77, env.seed ^ 3);
    // The server does the work, the client never hears of it, and retries.
    let plan = FaultPlan::new(env.seed)
        .rule(
            Rule::new(
                Match::any().method("PUT").query_eq("partNumber", "1"),
                Fault::DropResponse,
            )
            .times(1),
        )
        .rule(
            Rule::new(
                Match::any().method("POST").query("uploadId"),
                Fault::DropResponse,
            )
            .times(1),
        );
    let proxy = env.proxy(plan).await;
    let via = client(&proxy.endpoint(), config(), retries(4)).await;
    let result = via
        .upload_reader(
            &env.bucket,
            &key,
            plain.as_slice(),
            UploadOptions::default().plaintext_len(plain.len() as u64),
        )
        .await;
    let report = proxy.report();
    assert_eq!(proxy.stats().count("drop-response"), 2, "{report}");
    let exists = env.exists(&key).await;
    match &result {
        Ok(_) => {
            let (got, err) = download(&env.direct, &env.bucket, &key).await;
            assert!(err.is_none() && got == plain, "{err:?}\n{report}");
        }
        Err(e) => assert!(
            !exists,
            "the upload reported failure ({e}) but the object exists under the key\n{report}"
        ),
    }
    assert_eq!(
        env.uploads_in_progress().await,
        Vec::<String>::new(),
        "{report}"
    );
    eprintln!(
        "lost_answers: upload result {:?}; {report}",
        result.as_ref().map(|o| o.parts)
    );
    env.cleanup().await;
}

/// A swapping endpoint (`Fault::Serve`): every GET of an operation but the
/// first is answered with an older object stored under the same key (so
/// its name binding holds), once with its own ETag and once claiming the
/// current one. Nothing of the older object is returned, downloaded or
/// rewrapped: a later answer of another version is `ObjectChanged`, and
/// one that forges the ETag fails authentication under the key that the
/// first answer's header gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_answers_are_refused_before_any_key_is_used() {
    let Some(env) = env("swapped_answers").await else {
        return;
    };
    let key = env.key("doc");
    let old = data(200_000, 51);
    env.upload_direct(&key, &old).await;
    let raw = |env: &Env, key: String| {
        let s3 = env.direct.s3().clone();
        let bucket = env.bucket.clone();
        async move {
            let out = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            let etag = out.e_tag().unwrap().to_owned();
            (out.body.collect().await.unwrap().to_vec(), etag)
        }
    };
    let (old_raw, old_etag) = raw(&env, key.clone()).await;
    let new = data(200_000, 52);
    env.upload_direct(&key, &new).await;
    let (new_raw, new_etag) = raw(&env, key.clone()).await;
    assert_eq!(old_raw.len(), new_raw.len());

    let proxy = env.proxy(FaultPlan::passthrough()).await;
    let parallel = client(&proxy.endpoint(), config(), retries(1)).await;
    let sequential = client(
        &proxy.endpoint(),
        config().download_concurrency(1),
        retries(1),
    )
    .await;
    let leaked =
        |got: &[u8]| !got.is_empty() && old.windows(got.len().min(64)).any(|w| got.starts_with(w));
    for (what, etag, changed) in [
        ("the older version's own ETag", old_etag.clone(), true),
        ("a forged ETag (the current one)", new_etag.clone(), false),
    ] {
        let swap = FaultPlan::new(env.seed).rule(
            Rule::new(
                Match::any().method("GET").path(key.as_str()),
                Fault::serve(old_raw.clone(), etag),
            )
            .skip(1),
        );
        let expected = |e: &Error| {
            if changed {
                matches!(e, Error::ObjectChanged { .. })
            } else {
                matches!(
                    e,
                    Error::ChunkAuthentication { .. } | Error::ObjectChanged { .. }
                )
            }
        };
        // A range past the header read.
        proxy.set_plan(swap.clone());
        let got = parallel
            .get_range(&env.bucket, &key, 150_000..150_100)
            .await;
        let report = proxy.report();
        match got {
            Err(e) if expected(&e) => {}
            Err(e) => panic!("{what}, range: {e}\n{report}"),
            Ok(b) => panic!("{what}, range: {} bytes returned\n{report}", b.len()),
        }
        assert!(
            proxy.stats().count("serve") > 0,
            "{what}: not swapped\n{report}"
        );
        // Whole downloads, parallel and streaming.
        for (how, c) in [("parallel", &parallel), ("sequential", &sequential)] {
            proxy.set_plan(swap.clone());
            let (got, err) = download(c, &env.bucket, &key).await;
            let report = proxy.report();
            let err = err.unwrap_or_else(|| panic!("{what}, {how}: no error\n{report}"));
            assert!(
                expected(&err) || matches!(err, Error::ObjectChanged { .. }),
                "{what}, {how}: {err}\n{report}"
            );
            assert!(!leaked(&got), "{what}, {how}: older plaintext released");
            assert!(
                got.len() <= new.len() && new.starts_with(&got),
                "{what}, {how}"
            );
        }
        // Rewrap: refused, nothing written.
        proxy.set_plan(swap.clone());
        let r = parallel.rewrap(&env.bucket, &key, &keyring()).await;
        let report = proxy.report();
        match r {
            Err(e) if expected(&e) => {}
            Err(e) => panic!("{what}, rewrap: {e}\n{report}"),
            Ok(_) => panic!("{what}, rewrap succeeded\n{report}"),
        }
        assert!(
            raw(&env, key.clone()).await.0 == new_raw,
            "{what}: rewrap wrote"
        );
    }
    env.cleanup().await;
}

/// `delete_many` sends DeleteObjects with at most `MAX_DELETE_BATCH` keys a request (2,001
/// keys: three requests, counted at a passthrough proxy; S3 confirms deletes of keys that do
/// not exist), and reports the keys a server refuses one by one (a `200` DeleteObjects result
/// with `<Error>` entries, which the real server cannot be made to give) while returning the
/// ones it deleted.
#[tokio::test]
async fn delete_many_sends_1000_keys_a_request_and_reports_refused_keys() {
    let Some(env) = env("delete_many_sends_1000_keys_a_request_and_reports_refused_keys").await
    else {
        return;
    };
    assert_eq!(sealstream_s3::MAX_DELETE_BATCH, 1000);
    let proxy = env.proxy(FaultPlan::passthrough()).await;
    let via = client(&proxy.endpoint(), config(), retries(1)).await;
    let keys: Vec<String> = (0..2001)
        .map(|i| env.key(&format!("many/{i:04}")))
        .collect();
    let outcome = via.delete_many(&env.bucket, &keys).await.unwrap();
    let posts = || {
        proxy
            .log()
            .iter()
            .filter(|r| r.method == "POST" && r.uri.contains("delete"))
            .count()
    };
    assert_eq!(posts(), 3, "{}", proxy.report());
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.deleted.len(), 2001);

    let (kept, refused) = (env.key("d/kept"), env.key("d/refused"));
    env.upload_direct(&kept, b"kept").await;
    env.upload_direct(&refused, b"refused").await;
    let answer = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Deleted><Key>{kept}</Key></Deleted>\
         <Error><Key>{refused}</Key><Code>AccessDenied</Code><Message>Access Denied</Message>\
         </Error></DeleteResult>"
    );
    proxy.set_plan(FaultPlan::new(env.seed).rule(Rule::new(
        Match::any().method("POST").query("delete"),
        Fault::reply(200, answer),
    )));
    let outcome = via
        .delete_many(&env.bucket, &[kept.clone(), refused.clone()])
        .await
        .unwrap();
    assert_eq!(
        outcome.deleted,
        std::slice::from_ref(&kept),
        "{}",
        proxy.report()
    );
    assert_eq!(outcome.failed.len(), 1, "{:?}", outcome.failed);
    assert_eq!(outcome.failed[0].0, refused);
    assert!(
        outcome.failed[0].1.contains("AccessDenied"),
        "{:?}",
        outcome.failed
    );
    assert_eq!(proxy.stats().injected.get("reply-200"), Some(&1));
    // The fake answered: both objects are still on the server.
    for key in [&kept, &refused] {
        env.direct.stat(&env.bucket, key).await.unwrap();
    }
    env.direct
        .delete_many(&env.bucket, &[kept, refused])
        .await
        .unwrap();
}

/// A share link's GET is retried by the default `RetryPolicy` like every
/// other request: two 5xx answers, then the link opens to the plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_link_get_is_retried_after_5xx() {
    let Some(env) = env("share_link_retry").await else {
        return;
    };
    let key = env.key("shared");
    let plain = data(3 * CHUNK_SIZE + 7, env.seed);
    env.upload_direct(&key, &plain).await;
    let presigned_get = || Match::any().method("GET").query("X-Amz-Signature");
    let plan = FaultPlan::new(env.seed)
        .rule(Rule::new(presigned_get(), Fault::Status(503)).times(1))
        .rule(Rule::new(presigned_get(), Fault::Status(500)).times(1));
    let proxy = env.proxy(plan).await;
    let via = client(&proxy.endpoint(), config(), retries(3)).await;
    let link = via
        .share(&env.bucket, &key, Duration::from_secs(600))
        .await
        .unwrap_or_else(|e| panic!("share failed: {e}\n{}", proxy.report()));
    let http = sealstream_s3::PlainHttp::new().unwrap();
    let mut dl = http
        .open_share_link(&link)
        .await
        .unwrap_or_else(|e| panic!("the link did not open: {e}\n{}", proxy.report()));
    let mut got = Vec::new();
    while let Some(piece) = dl.next().await {
        got.extend_from_slice(&piece.unwrap());
    }
    assert!(got == plain, "wrong plaintext\n{}", proxy.report());
    assert_eq!(proxy.stats().injected_total(), 2, "{}", proxy.report());
    env.cleanup().await;
}
