//! Server-side encryption layered under the sealing: SSE-S3 and SSE-C
//! round trips against the real server, and the SSE-KMS request headers
//! (weed mini has no KMS and answers SSE-KMS uploads with a 500, so those
//! are checked by a fake interceptor that captures and stops the request).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::types::ServerSideEncryption;
use sealstream_s3::{Error, MIN_PART_SIZE, SealClient, Sse, SseCustomerKey, UploadOptions};

const PART: usize = MIN_PART_SIZE as usize;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_s3_round_trip() {
    let env = env_or_skip!("sse_s3_round_trip", common::small_parts());
    let client = env
        .client
        .with_config(common::small_parts().sse(Sse::S3))
        .unwrap();
    for (name, size) in [("single", 1000usize), ("multi", PART + 5)] {
        let key = env.key(name);
        let plain = common::data(size, 40);
        client
            .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
            .await
            .unwrap();
        let head = client
            .s3()
            .head_object()
            .bucket(&env.bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{name}"
        );
        let mut got = Vec::new();
        client
            .download_to_writer(&env.bucket, &key, &mut got)
            .await
            .unwrap();
        assert!(got == plain, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_round_trip_and_missing_key() {
    let env = env_or_skip!("sse_c_round_trip", common::small_parts());
    let ssec = SseCustomerKey::new([0x5Au8; 32]);
    let client = env
        .client
        .with_config(common::small_parts().sse(Sse::Customer(ssec)))
        .unwrap();
    for (name, size) in [("single", 1000usize), ("multi", 2 * PART + 17)] {
        let key = env.key(name);
        let plain = common::data(size, 41);
        client
            .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
            .await
            .unwrap();
        for c in [
            client.clone(),
            client
                .with_config(client.config().clone().download_concurrency(1))
                .unwrap(),
        ] {
            let mut got = Vec::new();
            c.download_to_writer(&env.bucket, &key, &mut got)
                .await
                .unwrap();
            assert!(got == plain, "{name}");
        }
        let got = client.get_range(&env.bucket, &key, 10..20).await.unwrap();
        assert_eq!(&got[..], &plain[10..20]);

        // Without the SSE-C key: a clear error naming SSE-C and the object.
        let mut sink = Vec::new();
        let err = env
            .client
            .download_to_writer(&env.bucket, &key, &mut sink)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::SseCustomerKey { .. } | Error::AccessDenied { .. }
            ),
            "{name}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&key), "{msg}");
        assert!(!msg.contains("WlpaWlpa"), "the key leaked: {msg}");

        // With another SSE-C key: refused too.
        let wrong = env
            .client
            .with_config(common::small_parts().sse(Sse::Customer(SseCustomerKey::new([1; 32]))))
            .unwrap();
        assert!(
            wrong
                .download_to_writer(&env.bucket, &key, &mut sink)
                .await
                .is_err()
        );
    }
}

/// Fake: records the request headers of every call, then stops it before
/// it is sent (weed cannot serve SSE-KMS).
#[derive(Debug, Clone, Default)]
struct FakeCaptureAndStop(Arc<Mutex<Vec<Headers>>>);

type Headers = Vec<(String, String)>;

impl Intercept for FakeCaptureAndStop {
    fn name(&self) -> &'static str {
        "FakeCaptureAndStop"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let headers = ctx
            .request()
            .headers()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        self.0.lock().unwrap().push(headers);
        Err("fake: request captured and stopped".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_request_headers() {
    let env = env_or_skip!("sse_kms_request_headers", common::small_parts());
    let capture = FakeCaptureAndStop::default();
    let conf = env
        .client
        .s3()
        .config()
        .to_builder()
        .interceptor(capture.clone())
        .build();
    let sse = Sse::Kms {
        key_id: Some("arn:aws:kms:us-east-1:111122223333:key/test".into()),
        bucket_key: true,
    };
    let client = SealClient::new(
        aws_sdk_s3::Client::from_conf(conf),
        common::keyring(1),
        common::small_parts().sse(sse),
    )
    .unwrap();
    for size in [10usize, PART + 1] {
        let plain = common::data(size, 42);
        let key = env.key(&format!("kms-{size}"));
        assert!(
            client
                .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
                .await
                .is_err()
        );
    }
    let seen = capture.0.lock().unwrap().clone();
    assert!(seen.len() >= 2);
    for headers in &seen {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-amz-server-side-encryption"), Some("aws:kms"));
        assert_eq!(
            get("x-amz-server-side-encryption-aws-kms-key-id"),
            Some("arn:aws:kms:us-east-1:111122223333:key/test")
        );
        assert_eq!(
            get("x-amz-server-side-encryption-bucket-key-enabled"),
            Some("true")
        );
    }
}
