//! The proxy in front of the real S3 server (SeaweedFS `weed mini`, which
//! verifies SigV4): signed requests pass through intact, and each fault
//! reaches the client as documented. Checks of what reached the server go
//! to the server directly, never through the proxy.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::{RawResponse, pattern, raw_get, s3_client, s3_env, unique_prefix};
use sealstream_faultproxy::{Fault, FaultPlan, FaultProxy, Match, Rule};

struct Env {
    endpoint: String,
    bucket: String,
    prefix: String,
    direct: aws_sdk_s3::Client,
}

async fn env(test: &str) -> Option<Env> {
    let (endpoint, bucket) = s3_env(test)?;
    let direct = s3_client(&endpoint, RetryConfig::standard()).await;
    Some(Env {
        prefix: unique_prefix(test),
        endpoint,
        bucket,
        direct,
    })
}

impl Env {
    async fn put_direct(&self, key: &str, body: &[u8]) {
        self.direct
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }

    /// The object's length, or `None` if HeadObject says 404.
    async fn head_direct(&self, key: &str) -> Option<i64> {
        match self
            .direct
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Some(out.content_length().unwrap_or(-1)),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => None,
            Err(e) => panic!("HeadObject {key}: {e:?}"),
        }
    }

    async fn cleanup(&self) {
        let listed = self
            .direct
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await;
        if let Ok(out) = listed {
            for o in out.contents() {
                if let Some(k) = o.key() {
                    let _ = self
                        .direct
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(k)
                        .send()
                        .await;
                }
            }
        }
    }

    /// A presigned GET of `key` signed for the proxy's host; returns its
    /// path and query.
    async fn presigned_get(&self, proxy: &FaultProxy, key: &str) -> String {
        let client = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
        let req = client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(PresigningConfig::expires_in(Duration::from_secs(120)).unwrap())
            .await
            .unwrap();
        let uri = req.uri();
        let after_scheme = uri.strip_prefix("http://").unwrap();
        let slash = after_scheme.find('/').unwrap();
        after_scheme[slash..].to_owned()
    }
}

fn status_of<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(_) => err.raw_response().map(|r| r.status().as_u16()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_pass_through_intact() {
    let Some(env) = env("signed_requests_pass_through_intact").await else {
        return;
    };
    let proxy = FaultProxy::start(env.endpoint.as_str(), FaultPlan::passthrough())
        .await
        .unwrap();
    let via = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
    let key = format!("{}/obj", env.prefix);
    let data = pattern(300_000, 1);
    via.put_object()
        .bucket(&env.bucket)
        .key(&key)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = via
        .get_object()
        .bucket(&env.bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(got == data, "GET through the proxy changed the bytes");
    assert_eq!(env.head_direct(&key).await, Some(300_000));

    // The server really checks signatures behind the proxy: a wrong secret
    // is refused.
    let bad_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .endpoint_url(proxy.endpoint())
        .region(aws_config::Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            "not-the-secret",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let bad = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&bad_sdk)
            .force_path_style(true)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let err = bad
        .get_object()
        .bucket(&env.bucket)
        .key(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:?}");

    // A presigned URL signed for the proxy's host verifies too.
    let path = env.presigned_get(&proxy, &key).await;
    let raw = raw_get(proxy.addr(), &path).await;
    assert_eq!(raw.status, 200);
    assert!(raw.body == data);

    let stats = proxy.stats();
    assert_eq!(stats.requests, 4, "{}", proxy.report());
    assert_eq!(stats.forwarded, 4);
    assert_eq!(stats.injected_total(), 0);
    let report = proxy.report();
    assert!(report.contains("X-Amz-Signature=REDACTED"), "{report}");
    assert!(!report.contains("Signature=0") && !report.contains("Credential=sealstream"));
    if let Ok(secret) = std::env::var("AWS_SECRET_ACCESS_KEY") {
        assert!(!report.contains(&secret));
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_statuses_reach_the_client() {
    let Some(env) = env("injected_statuses_reach_the_client").await else {
        return;
    };
    let key = format!("{}/obj", env.prefix);
    env.put_direct(&key, b"hello").await;
    let get = Match::any().method("GET").path(key.as_str());
    let plan = FaultPlan::new(1)
        .rule(Rule::new(get.clone().nth(1), Fault::Status(500)))
        .rule(Rule::new(get.clone().nth(2), Fault::SlowDown))
        .rule(Rule::new(get.nth(3), Fault::Status(503)));
    let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
        .await
        .unwrap();
    let via = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let err = via
            .get_object()
            .bucket(&env.bucket)
            .key(&key)
            .send()
            .await
            .unwrap_err();
        seen.push((status_of(&err), err.code().map(str::to_owned)));
    }
    assert_eq!(
        seen,
        [
            (Some(500), Some("InternalError".to_owned())),
            (Some(503), Some("SlowDown".to_owned())),
            (Some(503), Some("ServiceUnavailable".to_owned())),
        ],
        "{}",
        proxy.report()
    );
    let ok = via.get_object().bucket(&env.bucket).key(&key).send().await;
    assert!(ok.is_ok(), "{}", proxy.report());
    let stats = proxy.stats();
    assert_eq!(
        (
            stats.count("status-500"),
            stats.count("slow-down"),
            stats.count("status-503")
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.forwarded, 1);
    let log = proxy.log();
    assert_eq!(log.len(), 4);
    assert_eq!(log[1].fault, Some(Fault::SlowDown));
    assert_eq!(log[1].status, Some(503));
    assert_eq!(log[3].status, Some(200));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_standard_retries_get_through() {
    let Some(env) = env("sdk_standard_retries_get_through").await else {
        return;
    };
    let key = format!("{}/obj", env.prefix);
    let plan = FaultPlan::new(2).rule(
        Rule::one_of(
            Match::any().method("PUT"),
            vec![
                Fault::SlowDown,
                Fault::Status(500),
                Fault::ResetRequest { after_bytes: 1000 },
            ],
        )
        .times(2),
    );
    let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
        .await
        .unwrap();
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10));
    let via = s3_client(&proxy.endpoint(), retry).await;
    let data = pattern(100_000, 2);
    via.put_object()
        .bucket(&env.bucket)
        .key(&key)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", proxy.report()));
    let puts: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 3, "{}", proxy.report());
    assert!(puts[0].fault.is_some() && puts[1].fault.is_some() && puts[2].fault.is_none());
    assert_eq!(puts[2].status, Some(200));
    assert_eq!(env.head_direct(&key).await, Some(100_000));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_request_never_reaches_the_server_and_drop_response_does() {
    let Some(env) = env("reset_request_and_drop_response").await else {
        return;
    };
    let reset_key = format!("{}/reset", env.prefix);
    let dropped_key = format!("{}/dropped", env.prefix);
    let plan = FaultPlan::new(3)
        .rule(Rule::new(
            Match::any().method("PUT").path(reset_key.as_str()),
            Fault::ResetRequest {
                after_bytes: 64 * 1024,
            },
        ))
        .rule(Rule::new(
            Match::any().method("PUT").path(dropped_key.as_str()),
            Fault::DropResponse,
        ));
    let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
        .await
        .unwrap();
    let via = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
    for key in [&reset_key, &dropped_key] {
        let err = via
            .put_object()
            .bucket(&env.bucket)
            .key(key)
            .body(ByteStream::from(pattern(1 << 20, 3)))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
            ),
            "{key}: expected a transport failure, got {err:?}\n{}",
            proxy.report()
        );
    }
    assert_eq!(
        env.head_direct(&reset_key).await,
        None,
        "{}",
        proxy.report()
    );
    assert_eq!(
        env.head_direct(&dropped_key).await,
        Some(1 << 20),
        "{}",
        proxy.report()
    );
    let stats = proxy.stats();
    assert_eq!(
        (stats.count("reset-request"), stats.count("drop-response")),
        (1, 1)
    );
    assert_eq!(stats.forwarded, 1);
    assert!(proxy.log().iter().all(|r| r.status.is_none()));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_body_faults_are_exact() {
    let Some(env) = env("response_body_faults_are_exact").await else {
        return;
    };
    let key = format!("{}/obj", env.prefix);
    let data = pattern(200_000, 4);
    env.put_direct(&key, &data).await;
    let get = Match::any().method("GET").path(key.as_str());
    let plan = FaultPlan::new(4)
        .rule(Rule::new(
            get.clone().nth(1),
            Fault::Truncate { keep_bytes: 70_001 },
        ))
        .rule(Rule::new(
            get.clone().nth(2),
            Fault::ResetResponse {
                after_bytes: 90_000,
            },
        ))
        .rule(Rule::new(
            get.clone().nth(3),
            Fault::FlipByte {
                offset: 200_000 + 777,
            },
        ))
        .rule(Rule::new(
            get.nth(4),
            Fault::Truncate {
                keep_bytes: u64::MAX,
            },
        ));
    let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
        .await
        .unwrap();
    let mut raws: Vec<RawResponse> = Vec::new();
    for _ in 0..5 {
        let path = env.presigned_get(&proxy, &key).await;
        raws.push(raw_get(proxy.addr(), &path).await);
    }
    let report = proxy.report();
    for r in &raws {
        assert_eq!(
            (r.status, r.content_length),
            (200, Some(200_000)),
            "{report}"
        );
    }
    // Truncated: the first 70,001 bytes, then an orderly close.
    assert_eq!(raws[0].body.len(), 70_001, "{report}");
    assert!(raws[0].body[..] == data[..70_001]);
    assert_eq!(raws[0].ended_by, None);
    // Reset: the first 90,000 bytes, then a reset.
    assert_eq!(raws[1].body.len(), 90_000, "{report}");
    assert!(raws[1].body[..] == data[..90_000]);
    assert_eq!(
        raws[1].ended_by,
        Some(std::io::ErrorKind::ConnectionReset),
        "{report}"
    );
    // Flipped: everything, one byte inverted (offset taken modulo the length).
    let diffs: Vec<usize> = (0..data.len())
        .filter(|&i| raws[2].body[i] != data[i])
        .collect();
    assert_eq!(diffs, [777], "{report}");
    assert_eq!(raws[2].body[777], !data[777]);
    // A cut beyond the end still cuts: one byte short.
    assert_eq!(raws[3].body.len(), 199_999, "{report}");
    // Untouched.
    assert!(raws[4].body == data);
    assert_eq!(raws[4].ended_by, None);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_and_multipart_matching() {
    let Some(env) = env("stall_and_multipart_matching").await else {
        return;
    };
    let key = format!("{}/mpu", env.prefix);
    let plan = FaultPlan::new(5)
        .rule(Rule::new(
            Match::any().query("uploads"),
            Fault::Stall { ms: 300 },
        ))
        .rule(Rule::new(
            Match::any()
                .method("PUT")
                .query("uploadId")
                .query_eq("partNumber", "2"),
            Fault::Status(500),
        ));
    let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
        .await
        .unwrap();
    let via = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
    let started = Instant::now();
    let upload = via
        .create_multipart_upload()
        .bucket(&env.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{}",
        proxy.report()
    );
    let id = upload.upload_id().unwrap();
    let part = |n: i32| {
        via.upload_part()
            .bucket(&env.bucket)
            .key(&key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(pattern(1000, 5)))
            .send()
    };
    assert!(part(1).await.is_ok(), "{}", proxy.report());
    let err = part(2).await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"));
    assert!(part(3).await.is_ok());
    let parts = env
        .direct
        .list_parts()
        .bucket(&env.bucket)
        .key(&key)
        .upload_id(id)
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = parts
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, [1, 3], "{}", proxy.report());
    env.direct
        .abort_multipart_upload()
        .bucket(&env.bucket)
        .key(&key)
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(proxy.stats().count("stall"), 1);
    assert_eq!(proxy.stats().count("status-500"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_rates_repeat_over_real_requests() {
    let Some(env) = env("seeded_rates_repeat_over_real_requests").await else {
        return;
    };
    let key = format!("{}/obj", env.prefix);
    env.put_direct(&key, b"x").await;
    let mut runs = Vec::new();
    for seed in [77, 77, 78] {
        let plan = FaultPlan::new(seed).rule(
            Rule::one_of(
                Match::any().method("GET"),
                vec![Fault::Status(500), Fault::SlowDown],
            )
            .rate(0.4),
        );
        let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
            .await
            .unwrap();
        let via = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
        let mut outcomes = Vec::new();
        for _ in 0..30 {
            let r = via.get_object().bucket(&env.bucket).key(&key).send().await;
            outcomes.push(r.err().and_then(|e| e.code().map(str::to_owned)));
        }
        let faults: Vec<_> = proxy.log().into_iter().map(|r| r.fault).collect();
        let injected = faults.iter().flatten().count();
        assert!(
            (3..=24).contains(&injected),
            "seed {seed}: {injected} of 30\n{}",
            proxy.report()
        );
        // Every fault the log names is the error the client saw.
        for (o, f) in outcomes.iter().zip(&faults) {
            let want = f.as_ref().map(|f| match f {
                Fault::SlowDown => "SlowDown".to_owned(),
                _ => "InternalError".to_owned(),
            });
            assert_eq!(o, &want, "seed {seed}\n{}", proxy.report());
        }
        runs.push(faults);
    }
    assert_eq!(runs[0], runs[1], "the same seed must give the same faults");
    assert_ne!(runs[0], runs[2], "another seed should give other faults");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_with_another_object() {
    let Some(env) = env("serve_answers_with_another_object").await else {
        return;
    };
    let (a, b) = (format!("{}/a", env.prefix), format!("{}/b", env.prefix));
    let (da, db) = (pattern(50_000, 5), pattern(60_000, 6));
    env.put_direct(&a, &da).await;
    env.put_direct(&b, &db).await;
    let etag = |key: String| {
        let direct = env.direct.clone();
        let bucket = env.bucket.clone();
        async move {
            let out = direct.head_object().bucket(bucket).key(key).send().await;
            out.unwrap().e_tag().unwrap().to_owned()
        }
    };
    let (etag_a, etag_b) = (etag(a.clone()).await, etag(b.clone()).await);
    assert_ne!(etag_a, etag_b);
    // Every GET of `a` but the first is answered with `b`.
    let plan = FaultPlan::new(5).rule(
        Rule::new(
            Match::any().method("GET").path(a.as_str()),
            Fault::Serve {
                body: bytes::Bytes::from(db.clone()),
                etag: etag_b.clone(),
            },
        )
        .skip(1),
    );
    let proxy = FaultProxy::start(env.endpoint.as_str(), plan)
        .await
        .unwrap();
    let via = s3_client(&proxy.endpoint(), RetryConfig::disabled()).await;
    let first = via.get_object().bucket(&env.bucket).key(&a).send().await;
    let first = first.unwrap();
    assert_eq!(first.e_tag(), Some(etag_a.as_str()));
    assert!(first.body.collect().await.unwrap().into_bytes()[..] == da[..]);
    let cases: [(&str, std::ops::Range<usize>); 4] = [
        ("bytes=10-19", 10..20),
        ("bytes=59990-", 59_990..60_000),
        ("bytes=-5", 59_995..60_000),
        ("bytes=59999-70000", 59_999..60_000),
    ];
    for (range, want) in cases {
        let out = via
            .get_object()
            .bucket(&env.bucket)
            .key(&a)
            .range(range)
            .if_match(&etag_a)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e:?}\n{}", proxy.report()));
        assert_eq!(out.e_tag(), Some(etag_b.as_str()), "{range}");
        let expect_cr = format!("bytes {}-{}/60000", want.start, want.end - 1);
        assert_eq!(out.content_range(), Some(expect_cr.as_str()), "{range}");
        let body = out.body.collect().await.unwrap().into_bytes();
        assert!(body[..] == db[want.clone()], "{range}");
    }
    let err = via
        .get_object()
        .bucket(&env.bucket)
        .key(&a)
        .range("bytes=60000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRange"), "{err:?}");
    let head = via.head_object().bucket(&env.bucket).key(&a).send().await;
    // HEAD is not a GET: the rule does not match it, the real `a` answers.
    assert_eq!(head.unwrap().content_length(), Some(50_000));
    assert_eq!(proxy.stats().count("serve"), 5, "{}", proxy.report());
    // Nothing was served by the upstream for the swapped requests.
    assert_eq!(proxy.stats().forwarded, 2, "{}", proxy.report());
    env.cleanup().await;
}
