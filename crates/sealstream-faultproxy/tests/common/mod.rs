//! Helpers of the proxy's own tests: the local servers from
//! `.test-services/env`, SDK clients pointed at a proxy, and a raw HTTP/1.1
//! GET that shows exactly what bytes came through.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_smithy_http_client::tls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The value of `var`, or `None` after a skip line (a failure with
/// `SEALSTREAM_REQUIRE_SERVICES=1`).
pub fn service_env(test: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: {var} is not set but SEALSTREAM_REQUIRE_SERVICES=1 \
                 (source .test-services/env after `scripts/services start`)"
            );
            eprintln!("SKIP {test}: {var} unset (no local test server; `scripts/services start`)");
            None
        }
    }
}

/// The local S3 server's endpoint and bucket.
pub fn s3_env(test: &str) -> Option<(String, String)> {
    let endpoint = service_env(test, "SEALSTREAM_TEST_S3_ENDPOINT")?;
    let bucket = service_env(test, "SEALSTREAM_TEST_S3_BUCKET")?;
    Some((endpoint, bucket))
}

/// SDK configuration for `endpoint` (credentials and Region from the
/// environment, us-east-1 by default).
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(Region::from_static("us-east-1"))
        .load()
        .await
}

/// An S3 client for `endpoint`, path-style, with `retry`.
pub async fn s3_client(endpoint: &str, retry: RetryConfig) -> aws_sdk_s3::Client {
    let sdk = sdk_config(endpoint).await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .retry_config(retry)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A key prefix no other run uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "faultproxy-selftest/{test}/{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Deterministic test bytes.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ ((i >> 8) as u8))
        .collect()
}

/// What a raw GET saw.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub content_length: Option<usize>,
    pub body: Vec<u8>,
    /// How reading ended: `None` for EOF, else the error kind.
    pub ended_by: Option<io::ErrorKind>,
}

/// Sends `GET path_and_query` with `Host: addr` and reads until the
/// connection ends (the request says `Connection: close`).
pub async fn raw_get(addr: SocketAddr, path_and_query: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let ended_by = loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => break Some(e.kind()),
        }
    };
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let content_length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    });
    RawResponse {
        status,
        content_length,
        body: buf[head_end + 4..].to_vec(),
        ended_by,
    }
}
