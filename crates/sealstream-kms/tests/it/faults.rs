//! Fault tests: the real KMS server (moto) behind `sealstream-faultproxy`,
//! a named fake that injects what moto cannot produce: throttling, 5xx,
//! connection resets, lost answers and stalls, aimed at one operation by
//! its `x-amz-target`.
//!
//! Random decisions follow a seed, printed by every failure (set
//! `SEALSTREAM_FAULT_SEED` to repeat a run's draws).

#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealstream_faultproxy::{Fault, FaultPlan, FaultProxy, Match, Rule, seed_from_env};
use sealstream_kms::{
    EncryptionContext, Error, Keyring, KmsConfig, KmsErrorKind, KmsProvider, RetryPolicy, Suite,
};
use support::with_prefix;

const GENERATE: &str = "TrentService.GenerateDataKey";
const DECRYPT: &str = "TrentService.Decrypt";

fn kms_endpoint(test: &str) -> Option<String> {
    match std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            assert!(
                std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: SEALSTREAM_TEST_KMS_ENDPOINT is unset but SEALSTREAM_REQUIRE_SERVICES=1; \
                 run `scripts/services start` and source its env"
            );
            eprintln!("SKIP {test}: SEALSTREAM_TEST_KMS_ENDPOINT is unset (no local KMS server)");
            None
        }
    }
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    support::sdk_config(endpoint, "us-east-1").await
}

/// A fresh key on the real server (asked directly, not through a proxy).
async fn create_key(endpoint: &str) -> String {
    let out = aws_sdk_kms::Client::new(&sdk(endpoint).await)
        .create_key()
        .description("sealstream-kms fault test key")
        .send()
        .await
        .unwrap();
    out.key_metadata().unwrap().arn().unwrap().to_owned()
}

/// Short backoffs (20 ms doubling to 80 ms) so the tests stay quick.
fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        attempt_timeout: Duration::from_millis(1500),
    }
}

/// The least time `failures` failed attempts must wait in all: every
/// backoff is at least half its cap ("equal jitter").
fn min_backoff(p: &RetryPolicy, failures: u32) -> Duration {
    (1..=failures)
        .map(|a| {
            let cap = p
                .initial_backoff
                .saturating_mul(1 << (a - 1).min(20))
                .min(p.max_backoff);
            cap / 2
        })
        .sum()
}

/// A keyring of one KMS provider that reaches the server through `proxy`.
async fn keyring(proxy: &FaultProxy, arn: &str, retry: RetryPolicy) -> Keyring {
    let sdk = sdk(&proxy.endpoint()).await;
    let provider = KmsProvider::new(
        KmsProvider::client(&sdk),
        KmsConfig::strict(arn).with_retry(retry),
    )
    .unwrap();
    Keyring::new(vec![Arc::new(provider)]).unwrap()
}

fn context(n: usize) -> EncryptionContext {
    EncryptionContext::from_pairs([("object", format!("faults/{n}"))]).unwrap()
}

fn calls(proxy: &FaultProxy, target: &str) -> usize {
    proxy
        .log()
        .iter()
        .filter(|r| r.target.as_deref() == Some(target))
        .count()
}

fn assert_throttled(err: &Error, arn: &str, attempts: u32, report: &str) {
    assert!(
        matches!(
            err,
            Error::Kms {
                kind: KmsErrorKind::Throttled,
                retryable: true,
                key_id,
                ..
            } if key_id == arn
        ),
        "expected a throttling error for {arn}, got: {err}\n{report}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(arn)
            && msg.contains("throttled")
            && msg.contains(&format!("after {attempts} attempts")),
        "the message must name the key, say throttled and count the attempts: {msg}\n{report}"
    );
}

#[tokio::test]
async fn throttling_on_every_attempt_fails_clearly_after_backoff() {
    let Some(endpoint) = kms_endpoint("throttling_on_every_attempt") else {
        return;
    };
    let arn = create_key(&endpoint).await;
    let seed = seed_from_env("SEALSTREAM_FAULT_SEED");
    let proxy = FaultProxy::start(endpoint.as_str(), FaultPlan::new(seed))
        .await
        .unwrap();
    let retry = policy(4);
    let kr = keyring(&proxy, &arn, retry.clone()).await;

    // A key sealed while KMS answers, for the Decrypt half.
    let sealed = kr.seal_key(Suite::Aes256Gcm, context(0), "").await.unwrap();
    let (sealed, prefix) = with_prefix(sealed);

    proxy.set_plan(FaultPlan::new(seed).rule(Rule::new(
        Match::any().target(GENERATE),
        Fault::KmsThrottling,
    )));
    let started = Instant::now();
    let err = kr
        .seal_key(Suite::Aes256Gcm, context(1), "")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let report = proxy.report();
    assert_throttled(&err, &arn, 4, &report);
    assert_eq!(
        calls(&proxy, GENERATE),
        1 + 4,
        "exactly max_attempts calls\n{report}"
    );
    assert!(
        elapsed >= min_backoff(&retry, 3),
        "4 attempts must back off at least {:?}, took {elapsed:?}\n{report}",
        min_backoff(&retry, 3)
    );

    proxy.set_plan(FaultPlan::new(seed).rule(Rule::new(
        Match::any().target(DECRYPT),
        Fault::KmsThrottling,
    )));
    let err = kr
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_err();
    let report = proxy.report();
    assert_throttled(&err, &arn, 4, &report);
    assert_eq!(calls(&proxy, DECRYPT), 4, "{report}");
}

#[tokio::test]
async fn a_few_throttles_then_success() {
    let Some(endpoint) = kms_endpoint("a_few_throttles_then_success") else {
        return;
    };
    let arn = create_key(&endpoint).await;
    let seed = seed_from_env("SEALSTREAM_FAULT_SEED");
    let plan = FaultPlan::new(seed)
        .rule(Rule::new(Match::any().target(GENERATE), Fault::KmsThrottling).times(2))
        .rule(Rule::new(Match::any().target(DECRYPT), Fault::KmsThrottling).times(3));
    let proxy = FaultProxy::start(endpoint.as_str(), plan).await.unwrap();
    let kr = keyring(&proxy, &arn, policy(4)).await;
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, context(2), "")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.report()));
    let (sealed, prefix) = with_prefix(sealed);
    let key = kr
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.report()));
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    let report = proxy.report();
    assert_eq!(
        (calls(&proxy, GENERATE), calls(&proxy, DECRYPT)),
        (3, 4),
        "{report}"
    );
    assert_eq!(proxy.stats().count("kms-throttling"), 5, "{report}");
}

#[tokio::test]
async fn transient_failures_of_every_kind_are_retried() {
    let Some(endpoint) = kms_endpoint("transient_failures_are_retried") else {
        return;
    };
    let arn = create_key(&endpoint).await;
    let seed = seed_from_env("SEALSTREAM_FAULT_SEED");
    let mut retry = policy(6);
    retry.attempt_timeout = Duration::from_millis(400);
    // Each operation meets, in turn: a KMS internal error, a reset while
    // sending, an answer lost after KMS did the work, a stall past the
    // attempt timeout, a 503; the sixth attempt gets through. (Rules are
    // tried in order and each fires once, so they fire one after another.)
    let sequence = |target: &str| {
        let on = Match::any().target(target);
        [
            Rule::new(on.clone(), Fault::Status(500)).times(1),
            Rule::new(on.clone(), Fault::ResetRequest { after_bytes: 10 }).times(1),
            Rule::new(on.clone(), Fault::DropResponse).times(1),
            Rule::new(on.clone(), Fault::Stall { ms: 1000 }).times(1),
            Rule::new(on, Fault::Status(503)).times(1),
        ]
    };
    let mut plan = FaultPlan::new(seed);
    for rule in sequence(GENERATE).into_iter().chain(sequence(DECRYPT)) {
        plan = plan.rule(rule);
    }
    let proxy = FaultProxy::start(endpoint.as_str(), plan).await.unwrap();
    let kr = keyring(&proxy, &arn, retry).await;
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, context(3), "")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.report()));
    let (sealed, prefix) = with_prefix(sealed);
    let key = kr
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.report()));
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    let report = proxy.report();
    assert_eq!(
        (calls(&proxy, GENERATE), calls(&proxy, DECRYPT)),
        (6, 6),
        "{report}"
    );
    let stats = proxy.stats();
    for kind in [
        "status-500",
        "reset-request",
        "drop-response",
        "stall",
        "status-503",
    ] {
        assert_eq!(stats.count(kind), 2, "{kind}\n{report}");
    }
}

#[tokio::test]
async fn seeded_random_faults_never_lose_a_key() {
    let Some(endpoint) = kms_endpoint("seeded_random_kms_faults") else {
        return;
    };
    let arn = create_key(&endpoint).await;
    let seed = seed_from_env("SEALSTREAM_FAULT_SEED");
    let plan = FaultPlan::new(seed).rule(
        Rule::one_of(
            Match::any().target("TrentService."),
            vec![
                Fault::KmsThrottling,
                Fault::Status(500),
                Fault::Status(503),
                Fault::ResetRequest { after_bytes: 0 },
                Fault::DropResponse,
            ],
        )
        .rate(0.3),
    );
    let proxy = FaultProxy::start(endpoint.as_str(), plan).await.unwrap();
    let kr = keyring(&proxy, &arn, policy(8)).await;
    for n in 0..8 {
        let sealed = kr
            .seal_key(Suite::Aes256Gcm, context(10 + n), "")
            .await
            .unwrap_or_else(|e| panic!("seal {n}: {e}\n{}", proxy.report()));
        let (sealed, prefix) = with_prefix(sealed);
        let key = kr
            .open_key(&sealed.header, &prefix, None)
            .await
            .unwrap_or_else(|e| panic!("open {n}: {e}\n{}", proxy.report()));
        assert_eq!(
            key.expose_secret(),
            sealed.key.expose_secret(),
            "object {n}"
        );
    }
    eprintln!("seeded_random_faults_never_lose_a_key: {}", proxy.stats());
}
