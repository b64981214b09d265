//! Shared set-up for the tests against the real local S3 server (SeaweedFS
//! `weed mini`, started by `scripts/services start`; `source "$(scripts/services
//! env)"` exports its endpoint, bucket and credentials).
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_types::SdkConfig;
use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_s3::{Config, SealClient, s3_client};

pub struct TestEnv {
    pub client: SealClient,
    pub bucket: String,
    /// A key prefix unique to this test and run.
    pub prefix: String,
    pub sdk: SdkConfig,
}

/// The server's endpoint, or `None` (after a clear skip line) when the
/// services are not running. With `SEALSTREAM_REQUIRE_SERVICES=1`, a
/// missing endpoint fails the test instead.
pub fn endpoint(test: &str) -> Option<(String, String)> {
    match std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => {
            let bucket = std::env::var("SEALSTREAM_TEST_S3_BUCKET")
                .unwrap_or_else(|_| "sealstream-test".into());
            Some((e, bucket))
        }
        _ => {
            assert!(
                std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: SEALSTREAM_TEST_S3_ENDPOINT is unset but SEALSTREAM_REQUIRE_SERVICES=1; \
                 run `scripts/services start` and `source \"$(scripts/services env)\"`"
            );
            eprintln!(
                "SKIP {test}: SEALSTREAM_TEST_S3_ENDPOINT is unset (run `scripts/services start` \
                 and `source \"$(scripts/services env)\"` to run the S3 tests)"
            );
            None
        }
    }
}

/// The AWS SDK configuration for a local server at `endpoint`: credentials
/// from the environment, `$AWS_REGION` or `us-east-1`, and the CLI's HTTP
/// client (hyper 1, rustls on ring; the SDKs are built without a default
/// one). The libraries load no configuration; the CLI's `aws.rs` does.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .load()
        .await
}

/// The CLI's HTTP client, built the same way: hyper 1 with rustls on ring.
pub fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A keyring with a local key derived from `seed` (no files, no KMS).
pub fn keyring(seed: u8) -> Keyring {
    let p = LocalKeyProvider::from_key_bytes(&[seed; 32], format!("test key {seed}")).unwrap();
    Keyring::new(vec![Arc::new(p)]).unwrap()
}

/// Small parts so that multipart tests stay small (weed enforces 5 MiB).
pub fn small_parts() -> Config {
    Config::default()
        .part_size(sealstream_s3::MIN_PART_SIZE)
        .download_segment_chunks(64)
}

pub async fn env(test: &str, config: Config) -> Option<TestEnv> {
    let (endpoint, bucket) = endpoint(test)?;
    let sdk = sdk_config(&endpoint).await;
    let s3 = s3_client(&sdk);
    let client = SealClient::new(s3, keyring(1), config).unwrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("s3-tests/{test}-{}-{nanos}/", std::process::id());
    Some(TestEnv {
        client,
        bucket,
        prefix,
        sdk,
    })
}

impl TestEnv {
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub async fn exists(&self, key: &str) -> bool {
        match self
            .client
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
                assert_eq!(status, Some(404), "HEAD {key}: {e:?}");
                false
            }
        }
    }

    /// Multipart uploads in progress under this test's prefix.
    pub async fn uploads(&self) -> Vec<String> {
        let out = self
            .client
            .s3()
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .unwrap();
        out.uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_owned))
            .collect()
    }

    pub async fn get_raw(&self, key: &str) -> Vec<u8> {
        self.client
            .s3()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .to_vec()
    }

    pub async fn put_raw(&self, key: &str, bytes: Vec<u8>) {
        self.client
            .s3()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
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

#[macro_export]
macro_rules! env_or_skip {
    ($name:expr, $config:expr) => {
        match common::env($name, $config).await {
            Some(e) => e,
            None => return,
        }
    };
}
