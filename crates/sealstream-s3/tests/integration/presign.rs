//! Presigned flows with a plain HTTP client holding no AWS credentials:
//! GET, whole-object PUT, multipart (parts, completion, abort), share
//! links; tampered and expired URLs are refused; nothing prints a
//! signature or a key.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::TryStreamExt;
use sealstream_format::{EncryptionContext, Suite};
use sealstream_s3::{
    Error, MAX_PRESIGN_EXPIRY, MIN_PART_SIZE, PlainHttp, PresignPutOptions, PresignedRequest,
    ShareLink, UploadOptions,
};
use tokio::io::{AsyncRead, ReadBuf};

const PART: usize = MIN_PART_SIZE as usize;
const HOUR: Duration = Duration::from_secs(3600);

async fn collect(dl: sealstream_s3::Download) -> Result<Vec<u8>, Error> {
    let pieces: Vec<bytes::Bytes> = dl.try_collect().await?;
    Ok(pieces.concat())
}

fn signature_of(url: &str) -> String {
    url.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("X-Amz-Signature="))
        .unwrap()
        .to_owned()
}

fn tampered(req: &PresignedRequest) -> PresignedRequest {
    let url = req.expose_url();
    let sig = signature_of(url);
    let mut bad = sig.clone().into_bytes();
    bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
    let bad = String::from_utf8(bad).unwrap();
    PresignedRequest::new(
        req.method(),
        url.replace(&sig, &bad),
        req.headers().to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_tampered_and_expired() {
    let env = env_or_skip!("presigned_get", common::small_parts());
    let plain = common::data(PART + 99, 50);
    let key = env.key("obj");
    env.client
        .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
        .await
        .unwrap();
    let http = PlainHttp::new().unwrap();
    let keyring = common::keyring(1);

    let get = env
        .client
        .presign_get(&env.bucket, &key, HOUR)
        .await
        .unwrap();
    let got = collect(http.download_presigned(&get, &keyring).await.unwrap())
        .await
        .unwrap();
    assert!(got == plain);

    let err = http
        .download_presigned(&tampered(&get), &keyring)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Http {
                status: Some(403),
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(!msg.contains(&signature_of(get.expose_url())), "{msg}");

    let short = env
        .client
        .presign_get(&env.bucket, &key, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let err = http.download_presigned(&short, &keyring).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Http {
                status: Some(403),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");

    let err = env
        .client
        .presign_get(
            &env.bucket,
            &key,
            MAX_PRESIGN_EXPIRY + Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("7 days"), "{err}");

    // Debug of the request never shows the signature.
    let shown = format!("{get:?}");
    assert!(!shown.contains(&signature_of(get.expose_url())), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_put_of_a_whole_object() {
    let env = env_or_skip!("presigned_put", common::small_parts());
    let http = PlainHttp::new().unwrap();
    // The uncredentialed side seals with its own keyring.
    let uploader = common::keyring(1);
    for size in [0usize, 1000, PART + 3] {
        let key = env.key(&format!("put-{size}"));
        let plain = common::data(size, 51);
        let put = env
            .client
            .presign_put(&env.bucket, &key, HOUR, PresignPutOptions::default())
            .await
            .unwrap();
        let seal = uploader
            .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), &key)
            .await
            .unwrap();
        let out = http
            .put_presigned(&put, seal, &plain[..], size as u64)
            .await
            .unwrap();
        assert_eq!(out.plaintext_len, size as u64);
        let mut got = Vec::new();
        env.client
            .download_to_writer(&env.bucket, &key, &mut got)
            .await
            .unwrap();
        assert!(got == plain, "{size}");
    }

    // A wrong declared length cuts the request short: nothing is stored.
    let key = env.key("put-short");
    let put = env
        .client
        .presign_put(&env.bucket, &key, HOUR, PresignPutOptions::default())
        .await
        .unwrap();
    let seal = || uploader.seal_key(Suite::Aes256Gcm, EncryptionContext::new(), &key);
    assert!(
        http.put_presigned(&put, seal().await.unwrap(), &b"12345"[..], 6)
            .await
            .is_err()
    );
    assert!(!env.exists(&key).await);
    // A tampered PUT URL is refused.
    let err = http
        .put_presigned(&tampered(&put), seal().await.unwrap(), &b"12345"[..], 5)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Http {
                status: Some(403),
                ..
            }
        ),
        "{err}"
    );
}

/// Fake source that fails after `ok` bytes.
struct FakeFailingSource {
    data: Vec<u8>,
    pos: usize,
    ok: usize,
}

impl AsyncRead for FakeFailingSource {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos >= self.ok {
            return Poll::Ready(Err(std::io::Error::other("fake source failure")));
        }
        let end = self.ok.min(self.pos + buf.remaining());
        let pos = self.pos;
        buf.put_slice(&self.data[pos..end]);
        self.pos = end;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_multipart_upload_and_abort() {
    let env = env_or_skip!("presigned_multipart", common::small_parts());
    let http = PlainHttp::new().unwrap();
    let uploader = common::keyring(1);
    for size in [1000usize, 2 * PART + 77] {
        let key = env.key(&format!("mp-{size}"));
        let plain = common::data(size, 52);
        let plan = env
            .client
            .presign_multipart(&env.bucket, &key, size as u64, HOUR)
            .await
            .unwrap();
        assert_eq!(plan.parts.len(), size.div_ceil(PART));
        let shown = format!("{plan:?}");
        assert!(!shown.contains(&signature_of(plan.parts[0].expose_url())));
        let seal = uploader
            .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), &key)
            .await
            .unwrap();
        let out = http
            .upload_presigned_multipart(&plan, seal, &plain[..], 2)
            .await
            .unwrap();
        assert_eq!(out.plaintext_len, size as u64);
        let mut got = Vec::new();
        env.client
            .download_to_writer(&env.bucket, &key, &mut got)
            .await
            .unwrap();
        assert!(got == plain, "{size}");
        assert!(env.uploads().await.is_empty());
    }

    // A failing source aborts through the presigned abort.
    let key = env.key("mp-fails");
    let size = 3 * PART;
    let plan = env
        .client
        .presign_multipart(&env.bucket, &key, size as u64, HOUR)
        .await
        .unwrap();
    let seal = uploader
        .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), &key)
        .await
        .unwrap();
    let src = FakeFailingSource {
        data: common::data(size, 53),
        pos: 0,
        ok: PART + 10,
    };
    let err = http
        .upload_presigned_multipart(&plan, seal, src, 2)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UploadAborted { .. }), "{err}");
    assert!(!env.exists(&key).await);
    assert!(env.uploads().await.is_empty());

    assert!(
        env.client
            .presign_multipart(&env.bucket, &key, 10, MAX_PRESIGN_EXPIRY * 2)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links() {
    let env = env_or_skip!("share_links", common::small_parts());
    let http = PlainHttp::new().unwrap();
    let plain = common::data(PART + 5, 60);
    let key = env.key("shared");
    env.client
        .upload_reader(&env.bucket, &key, &plain[..], UploadOptions::default())
        .await
        .unwrap();
    let link = env.client.share(&env.bucket, &key, HOUR).await.unwrap();
    let text = link.expose_secret();
    assert!(text.contains("#k="));
    // What the recipient does: parse the text, fetch, open with the key.
    let parsed = ShareLink::parse(&text).unwrap();
    assert!(!parsed.presigned().expose_url().contains('#'));
    let got = collect(http.open_share_link(&parsed).await.unwrap())
        .await
        .unwrap();
    assert!(got == plain);
    let dir = std::env::temp_dir().join(format!("sealstream-s3-share-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dst = dir.join("shared.bin");
    http.open_share_link_to_file(&parsed, &dst).await.unwrap();
    assert!(std::fs::read(&dst).unwrap() == plain);
    std::fs::remove_dir_all(&dir).unwrap();

    // Neither Debug nor Display shows the signature or the key.
    let fragment = text.split_once("#k=").unwrap().1.to_owned();
    let sig = signature_of(parsed.presigned().expose_url());
    for shown in [format!("{link:?}"), link.to_string(), format!("{parsed:?}")] {
        assert!(
            !shown.contains(&fragment) && !shown.contains(&sig),
            "{shown}"
        );
    }

    // Another key in the fragment: the commitment check refuses it.
    let other = format!(
        "{}#k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        parsed.presigned().expose_url()
    );
    let err = http
        .open_share_link(&ShareLink::parse(&other).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err}");

    // Share decides from the authenticated object alone (issue 10, item
    // 15): every data key protects one object, and the header must be bound
    // to the key being shared. S3 metadata the operator can change does not
    // matter: the same bytes stored without any metadata, or with a
    // `sealstream-key-reused: true` left over from format version 1, share
    // all the same.
    let raw = env.get_raw(&key).await;
    env.put_raw(&key, raw.clone()).await;
    env.client.share(&env.bucket, &key, HOUR).await.unwrap();
    env.client
        .s3()
        .put_object()
        .bucket(&env.bucket)
        .key(&key)
        .metadata("sealstream-key-reused", "true")
        .body(raw.clone().into())
        .send()
        .await
        .unwrap();
    let link = env.client.share(&env.bucket, &key, HOUR).await.unwrap();
    let got = collect(
        http.open_share_link(&ShareLink::parse(&link.expose_secret()).unwrap())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(got == plain);
    // A copy of the object under another key is bound to the original key's
    // name, so it is refused (whatever its metadata says).
    let copy = env.key("raw-copy");
    env.put_raw(&copy, raw).await;
    let err = env
        .client
        .share(&env.bucket, &copy, HOUR)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&key) && msg.contains(&copy), "{msg}");
}
