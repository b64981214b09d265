//! Failures and cancellation abort the multipart upload: nothing under the
//! key, no upload left listed. Faults the real server cannot produce are
//! injected by fakes named as such: a plaintext source that fails or stalls
//! part-way, and an SDK interceptor that fails one UploadPart.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use sealstream_s3::{Error, MIN_PART_SIZE, SealClient, UploadOptions};
use tokio::io::{AsyncRead, ReadBuf};

const PART: usize = MIN_PART_SIZE as usize;

/// Fake source: yields `ok` bytes, then fails (or, with `stall`, never
/// yields again).
struct FakeFailingSource {
    data: Vec<u8>,
    pos: usize,
    ok: usize,
    stall: bool,
}

impl AsyncRead for FakeFailingSource {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos >= self.ok {
            if self.stall {
                return Poll::Pending;
            }
            return Poll::Ready(Err(std::io::Error::other("fake source: disk read failed")));
        }
        let end = self.ok.min(self.pos + buf.remaining());
        let pos = self.pos;
        buf.put_slice(&self.data[pos..end]);
        self.pos = end;
        Poll::Ready(Ok(()))
    }
}

async fn wait_no_uploads(env: &common::TestEnv) {
    for _ in 0..50 {
        if env.uploads().await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("uploads still listed: {:?}", env.uploads().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_source_aborts_the_upload() {
    let env = env_or_skip!("failing_source_aborts", common::small_parts());
    let key = env.key("fails");
    let src = FakeFailingSource {
        data: common::data(4 * PART, 3),
        pos: 0,
        ok: 2 * PART + 1000,
        stall: false,
    };
    let err = env
        .client
        .upload_reader(&env.bucket, &key, src, UploadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UploadAborted { .. }), "{err}");
    assert!(err.to_string().contains("disk read failed"), "{err}");
    assert!(err.to_string().contains(&key), "{err}");
    assert!(!env.exists(&key).await);
    wait_no_uploads(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_upload_future_aborts() {
    let env = env_or_skip!("dropping_the_upload_future", common::small_parts());
    let key = env.key("dropped");
    let src = FakeFailingSource {
        data: common::data(4 * PART, 4),
        pos: 0,
        ok: 2 * PART + 1000,
        stall: true,
    };
    let client = env.client.clone();
    let (bucket, k) = (env.bucket.clone(), key.clone());
    let upload = async move {
        client
            .upload_reader(&bucket, &k, src, UploadOptions::default())
            .await
    };
    // Parts 1 and 2 go up; the source then stalls and the future is dropped.
    let r = tokio::time::timeout(Duration::from_secs(4), upload).await;
    assert!(
        r.is_err(),
        "the upload should still be waiting on the source"
    );
    wait_no_uploads(&env).await;
    assert!(!env.exists(&key).await);
}

/// Fake fault: fails every attempt of UploadPart number 2 before it is sent.
#[derive(Debug)]
struct FakeFailPartTwo;

impl Intercept for FakeFailPartTwo {
    fn name(&self) -> &'static str {
        "FakeFailPartTwo"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let uri = ctx.request().uri();
        if uri.contains("partNumber=2&") || uri.ends_with("partNumber=2") {
            return Err("fake fault: connection reset while sending part 2".into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_part_request_aborts_the_upload() {
    let env = env_or_skip!("failing_part_request", common::small_parts());
    let conf = env
        .client
        .s3()
        .config()
        .to_builder()
        .interceptor(FakeFailPartTwo)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let client = SealClient::new(s3, common::keyring(1), common::small_parts()).unwrap();
    let key = env.key("part-two-fails");
    let plain = common::data(3 * PART + 7, 5);
    let err = client
        .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UploadAborted { .. }), "{err}");
    assert!(err.to_string().contains("UploadPart"), "{err}");
    assert!(!env.exists(&key).await);
    wait_no_uploads(&env).await;
}
