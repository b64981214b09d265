//! The proxy in front of the real KMS server (moto): JSON requests pass
//! through, `x-amz-target` selects the operation, and KMS-shaped errors
//! reach the SDK with the codes real KMS uses.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use common::{sdk_config, service_env};
use sealstream_faultproxy::{Fault, FaultPlan, FaultProxy, Match, Rule};

async fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    let sdk = sdk_config(endpoint).await;
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

async fn create_key(endpoint: &str) -> String {
    let out = kms_client(endpoint)
        .await
        .create_key()
        .description("sealstream-faultproxy self-test")
        .send()
        .await
        .unwrap();
    out.key_metadata().unwrap().arn().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_faults_by_target() {
    let Some(endpoint) = service_env("kms_faults_by_target", "SEALSTREAM_TEST_KMS_ENDPOINT") else {
        return;
    };
    let key = create_key(&endpoint).await;
    let plan = FaultPlan::new(11)
        .rule(Rule::new(Match::any().target("GenerateDataKey"), Fault::KmsThrottling).times(1))
        .rule(
            Rule::new(
                Match::any().target("TrentService.Decrypt"),
                Fault::Status(500),
            )
            .times(1),
        )
        .rule(
            Rule::new(
                Match::any().target("Decrypt"),
                Fault::Truncate { keep_bytes: 10 },
            )
            .times(1),
        );
    let proxy = FaultProxy::start(endpoint.as_str(), plan).await.unwrap();
    let kms = kms_client(&proxy.endpoint()).await;
    let generate = || {
        kms.generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("object", "a")
            .send()
    };

    let err = generate().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("ThrottlingException"),
        "{err:?}\n{}",
        proxy.report()
    );
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));

    let out = generate().await.unwrap();
    let plaintext = out.plaintext().unwrap().as_ref().to_vec();
    let blob = out.ciphertext_blob().unwrap().clone();
    let decrypt = || {
        kms.decrypt()
            .key_id(&key)
            .ciphertext_blob(Blob::new(blob.as_ref().to_vec()))
            .encryption_context("object", "a")
            .send()
    };
    let err = decrypt().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("KMSInternalException"),
        "{err:?}\n{}",
        proxy.report()
    );
    let err = decrypt().await.unwrap_err();
    assert!(
        !matches!(err, SdkError::ServiceError(_)),
        "a truncated answer is a transport or parse failure: {err:?}"
    );
    let out = decrypt().await.unwrap();
    assert!(out.plaintext().unwrap().as_ref() == plaintext.as_slice());

    let log = proxy.log();
    let targets: Vec<_> = log
        .iter()
        .map(|r| r.target.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        targets,
        [
            "TrentService.GenerateDataKey",
            "TrentService.GenerateDataKey",
            "TrentService.Decrypt",
            "TrentService.Decrypt",
            "TrentService.Decrypt",
        ],
        "{}",
        proxy.report()
    );
    let stats = proxy.stats();
    assert_eq!(
        (
            stats.count("kms-throttling"),
            stats.count("status-500"),
            stats.count("truncate")
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.forwarded, 3);
}
