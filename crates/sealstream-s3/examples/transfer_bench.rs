//! Runs [`sealstream_s3::bench::transfer_bench`] against the local test S3
//! server (`source "$(scripts/services env)"` first):
//!
//! ```text
//! cargo run --release -p sealstream-s3 --example transfer_bench -- [MiB] [part MiB] [concurrency]
//! ```
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_s3::bench::{BenchOptions, transfer_bench};
use sealstream_s3::{Config, SealClient};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let mib = args.next().transpose()?.unwrap_or(512);
    let part_mib = args.next().transpose()?.unwrap_or(16);
    let concurrency = args.next().transpose()?.unwrap_or(4);
    let endpoint = std::env::var("SEALSTREAM_TEST_S3_ENDPOINT")
        .map_err(|_| "SEALSTREAM_TEST_S3_ENDPOINT is unset: source \"$(scripts/services env)\"")?;
    let bucket = std::env::var("SEALSTREAM_TEST_S3_BUCKET").unwrap_or("sealstream-test".into());
    // The caller loads the SDK configuration (the CLI's `aws.rs` does the
    // same with its options); the SDKs are built without a default HTTP client.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let provider = LocalKeyProvider::from_key_bytes(&[7u8; 32], "benchmark key")?;
    let keyring = Keyring::new(vec![Arc::new(provider)])?;
    let concurrency = usize::try_from(concurrency)?;
    let config = Config::default()
        .part_size(part_mib << 20)
        .upload_concurrency(concurrency)
        .download_concurrency(concurrency);
    let client = SealClient::from_sdk_config(&sdk, keyring, config)?;
    let prefix = format!("bench/{}/", std::process::id());
    let report = transfer_bench(&client, &BenchOptions::new(bucket, prefix, mib << 20)).await?;
    println!("{report}");
    Ok(())
}
