#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! The AWS KMS provider against a real KMS server on 127.0.0.1 (moto in
//! server mode, started by `scripts/services`). Every test creates its own
//! keys. Without the server the tests print a skip line, or fail when
//! `SEALSTREAM_REQUIRE_SERVICES=1`.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use sealstream_format::open_slice;
use sealstream_kms::{
    EncryptionContext, Error, Header, KeyProvider, KeyRecord, Keyring, KmsConfig, KmsErrorKind,
    KmsProvider, LocalKeyProvider, RetryPolicy, Suite, WrapContext, X25519Identity,
};
use support::{
    CountingTestDoubleProvider, FaultInjectingKms, create_key, host_port, kms_endpoint,
    offline_sdk_config, prefix_of, record_vectors, sdk_config, seal_with, unhex, unique_alias,
    with_prefix,
};

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(10),
    }
}

fn ring(providers: Vec<Arc<dyn KeyProvider>>) -> Keyring {
    Keyring::new(providers).unwrap()
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap()
}

macro_rules! services {
    ($name:literal) => {
        match kms_endpoint($name) {
            Some(e) => e,
            None => return,
        }
    };
}

#[tokio::test]
async fn generate_and_unwrap() {
    let endpoint = services!("generate_and_unwrap");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let kms = KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
        .await
        .unwrap();
    assert_eq!(kms.key_arn(), Some(arn.as_str()));
    let kr = ring(vec![Arc::new(kms)]);
    for suite in Suite::ALL {
        let context = ctx(&[("bucket", "b"), ("path", "backups/db.tar")]);
        let sealed = kr.seal_key(suite, context, "").await.unwrap();
        let rec = &sealed.header.records()[0];
        assert_eq!(rec.provider(), "aws-kms");
        assert_eq!(
            rec.key_id(),
            arn,
            "the record names the key ARN KMS answered with"
        );
        let (sealed, object) = seal_with(sealed, b"kms sealed");
        let prefix = prefix_of(&object, &sealed.header);
        let key = kr.open_key(&sealed.header, &prefix, None).await.unwrap();
        assert_eq!(key.expose_secret(), sealed.key.expose_secret());
        assert_eq!(open_slice(&object, &key).unwrap().1, b"kms sealed");
    }
}

/// The reserved pairs are part of the KMS encryption context: a plain KMS
/// Decrypt with only the object's context fails, with them it succeeds.
#[tokio::test]
async fn kms_encryption_context_has_reserved_pairs() {
    let endpoint = services!("kms_encryption_context_has_reserved_pairs");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let kr = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
            .await
            .unwrap(),
    )]);
    let sealed = kr
        .seal_key(
            Suite::XChaCha20Poly1305,
            ctx(&[("app", "x")]),
            "backups/db.tar",
        )
        .await
        .unwrap();
    let salt_hex: String = sealed
        .salt
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let client = aws_sdk_kms::Client::new(&sdk);
    let blob = aws_sdk_kms::primitives::Blob::new(sealed.header.records()[0].wrapped().to_vec());
    let full = [
        ("app", "x"),
        ("sealstream:version", "2"),
        ("sealstream:suite", "2"),
        ("sealstream:salt", salt_hex.as_str()),
        ("sealstream:name", "backups/db.tar"),
    ];
    // Without any one of the pairs, KMS refuses.
    for skip in 0..full.len() {
        let mut req = client.decrypt().key_id(&arn).ciphertext_blob(blob.clone());
        for (i, (k, v)) in full.iter().enumerate() {
            if i != skip {
                req = req.encryption_context(*k, *v);
            }
        }
        assert!(req.send().await.is_err(), "without {:?}", full[skip]);
    }
    let mut req = client.decrypt().key_id(&arn).ciphertext_blob(blob);
    for (k, v) in full {
        req = req.encryption_context(k, v);
    }
    let with = req.send().await.unwrap();
    assert_eq!(
        with.plaintext().unwrap().as_ref(),
        sealed.key.expose_secret()
    );
}

/// A KMS record moved to a body with another salt, or to a header with
/// another name (or no name), does not decrypt (issue 10, items 4 and 5).
#[tokio::test]
async fn kms_record_is_bound_to_salt_and_name() {
    let endpoint = services!("kms_record_is_bound_to_salt_and_name");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let kr = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
            .await
            .unwrap(),
    )]);
    let context = ctx(&[("app", "x")]);
    let a = kr
        .seal_key(Suite::Aes256Gcm, context.clone(), "backups/a.tar")
        .await
        .unwrap();
    let (a, object_a) = seal_with(a, b"object a");
    let prefix_a = prefix_of(&object_a, &a.header);
    let b = kr
        .seal_key(Suite::Aes256Gcm, context.clone(), "backups/a.tar")
        .await
        .unwrap();
    let (b, object_b) = seal_with(b, b"object b");
    let prefix_b = prefix_of(&object_b, &b.header);
    // Same name, same context, another body (salt): a's record on b's body.
    let err = kr.open_key(&a.header, &prefix_b, None).await.unwrap_err();
    assert!(
        err.to_string().contains("InvalidCiphertextException"),
        "{err}"
    );
    // a's record under another name, and unbound.
    for name in ["backups/b.tar", ""] {
        let renamed = a
            .header
            .with_name_and_records(name, a.header.records().to_vec())
            .unwrap();
        let err = kr.open_key(&renamed, &prefix_a, None).await.unwrap_err();
        assert!(
            err.to_string().contains("InvalidCiphertextException"),
            "{name}: {err}"
        );
    }
    // In place, it opens; a rewrap to a new name opens under that name only.
    kr.open_key(&a.header, &prefix_a, Some("backups/a.tar"))
        .await
        .unwrap();
    let moved = kr
        .rewrap(&a.header, &prefix_a, &kr, Some("backups/b.tar"))
        .await
        .unwrap();
    assert_eq!(moved.name(), "backups/b.tar");
    let key = kr
        .open_key(&moved, &prefix_a, Some("backups/b.tar"))
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), a.key.expose_secret());
    let back = moved
        .with_name_and_records("backups/a.tar", moved.records().to_vec())
        .unwrap();
    assert!(kr.open_key(&back, &prefix_a, None).await.is_err());
}

#[tokio::test]
async fn wrong_encryption_context_fails() {
    let endpoint = services!("wrong_encryption_context_fails");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let kr = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
            .await
            .unwrap(),
    )]);
    let context = ctx(&[("tenant", "a")]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, context.clone(), "")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    let records = sealed.header.records().to_vec();
    for header in [
        Header::new(
            Suite::Aes256Gcm,
            ctx(&[("tenant", "b")]),
            "",
            records.clone(),
        )
        .unwrap(),
        Header::new(
            Suite::Aes256Gcm,
            EncryptionContext::new(),
            "",
            records.clone(),
        )
        .unwrap(),
        Header::new(
            Suite::Aes256Gcm,
            ctx(&[("tenant", "a"), ("x", "y")]),
            "",
            records.clone(),
        )
        .unwrap(),
        Header::new(
            Suite::XChaCha20Poly1305,
            context.clone(),
            "",
            records.clone(),
        )
        .unwrap(),
    ] {
        let err = kr.open_key(&header, &prefix, None).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::NoMatchingKey { .. }), "{msg}");
        assert!(msg.contains(&arn), "the error names the key: {msg}");
        assert!(msg.contains("InvalidCiphertextException"), "{msg}");
    }
    // The provider alone classifies it.
    let kms = KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
        .await
        .unwrap();
    let wrong = ctx(&[("tenant", "b")]);
    let err = kms
        .unwrap_unverified(
            &records[0],
            sealstream_kms::WrapContext {
                suite: Suite::Aes256Gcm,
                context: &wrong,
                bound: &Header::bound_section_for(Suite::Aes256Gcm, &wrong),
                salt: &prefix.salt,
                name: "",
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kms {
                kind: KmsErrorKind::InvalidCiphertext,
                retryable: false,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn missing_or_wrong_key_fails_naming_the_key() {
    let endpoint = services!("missing_or_wrong_key_fails_naming_the_key");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn_a = create_key(&sdk, None).await;
    let arn_b = create_key(&sdk, None).await;

    // A key that does not exist.
    let missing = format!(
        "arn:aws:kms:us-east-1:{}:key/00000000-0000-0000-0000-000000000000",
        account_of(&arn_a)
    );
    let kms = KmsProvider::new(
        KmsProvider::client(&sdk),
        KmsConfig::strict(&missing).with_retry(fast_retry(3)),
    )
    .unwrap();
    let err = ring(vec![Arc::new(kms)])
        .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kms {
                kind: KmsErrorKind::NotFound,
                retryable: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&missing), "{err}");
    let err = KmsProvider::connect(&sdk, KmsConfig::strict("alias/sealstream-no-such-alias"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kms {
                kind: KmsErrorKind::NotFound,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("alias/sealstream-no-such-alias"),
        "{err}"
    );

    // Sealed under A, opened by a keyring configured for B only.
    let a = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn_a))
            .await
            .unwrap(),
    )]);
    let sealed = a
        .seal_key(Suite::Aes256Gcm, ctx(&[("k", "v")]), "")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    let b = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn_b))
            .await
            .unwrap(),
    )]);
    let err = b.open_key(&sealed.header, &prefix, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("sealed for aws-kms key {arn_a}")),
        "{msg}"
    );

    // A forged record that claims key B but holds A's ciphertext: KMS
    // refuses (AWS: IncorrectKeyException; moto: AccessDeniedException).
    let forged = KeyRecord::new(
        "aws-kms",
        &arn_b,
        sealed.header.records()[0].wrapped().to_vec(),
    )
    .unwrap();
    let header = sealed.header.with_records(vec![forged]).unwrap();
    let err = b.open_key(&header, &prefix, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&arn_b), "{msg}");
    assert!(
        msg.contains("IncorrectKeyException")
            || msg.contains("AccessDeniedException")
            || msg.contains("InvalidCiphertextException"),
        "{msg}"
    );

    // moto does not enforce key states (a disabled key still decrypts):
    // `key_states_and_denials_are_classified` covers them with a fake.
}

/// Strict mode: a record for a key that is not configured is refused by
/// `accepts()`, without any KMS call (counted, and the provider's endpoint
/// is not even reachable).
#[tokio::test]
async fn strict_mode_refuses_unconfigured_key_without_calling_kms() {
    let endpoint = services!("strict_mode_refuses_unconfigured_key_without_calling_kms");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn_a = create_key(&sdk, None).await;
    let a = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn_a))
            .await
            .unwrap(),
    )]);
    let sealed = a
        .seal_key(Suite::Aes256Gcm, ctx(&[("k", "v")]), "")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);

    // A provider for another key whose endpoint is dead: any KMS call would
    // end in "unreachable".
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dead_sdk = sdk_config(&dead_endpoint, "us-east-1").await;
    let other = format!(
        "arn:aws:kms:us-east-1:{}:key/11111111-2222-3333-4444-555555555555",
        account_of(&arn_a)
    );
    let strict = KmsProvider::new(
        KmsProvider::client(&dead_sdk),
        KmsConfig::strict(&other).with_retry(fast_retry(1)),
    )
    .unwrap();
    let counting = CountingTestDoubleProvider::new(Arc::new(strict));
    let err = ring(vec![counting.clone()])
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_err();
    assert_eq!(counting.unwrap_calls(), 0);
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");
    assert!(err.to_string().contains(&arn_a), "{err}");

    // A hostile header of 12 records naming the configured key (as many as
    // fit in the 4096-byte header with 150-byte blobs): at most max_attempts
    // Decrypt calls.
    let kms = KmsProvider::connect(&sdk, KmsConfig::strict(&arn_a))
        .await
        .unwrap();
    let counting = CountingTestDoubleProvider::new(Arc::new(kms));
    let junk: Vec<KeyRecord> = (0..12u8)
        .map(|i| KeyRecord::new("aws-kms", &arn_a, vec![i; 150]).unwrap())
        .collect();
    let hostile = sealed.header.with_records(junk).unwrap();
    let kr = ring(vec![counting.clone()]);
    let err = kr.open_key(&hostile, &prefix, None).await.unwrap_err();
    assert_eq!(
        counting.unwrap_calls(),
        sealstream_kms::DEFAULT_MAX_UNWRAP_ATTEMPTS
    );
    assert!(
        err.to_string().contains("stopped after 4 attempts"),
        "{err}"
    );
}

#[tokio::test]
async fn discovery_mode_accepts_only_named_accounts() {
    let endpoint = services!("discovery_mode_accepts_only_named_accounts");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let a = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
            .await
            .unwrap(),
    )]);
    let sealed = a
        .seal_key(Suite::Aes256Gcm, ctx(&[("d", "1")]), "")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    let account = account_of(&arn).to_owned();

    let discovery = KmsProvider::new(
        KmsProvider::client(&sdk),
        KmsConfig::discovery([account.clone()]),
    )
    .unwrap();
    assert!(discovery.accepts(&sealed.header.records()[0]));
    let key = ring(vec![Arc::new(discovery)])
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());

    let elsewhere = KmsProvider::new(
        KmsProvider::client(&sdk),
        KmsConfig::discovery(["111122223333"]),
    )
    .unwrap();
    let counting = CountingTestDoubleProvider::new(Arc::new(elsewhere));
    let err = ring(vec![counting.clone()])
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");
    assert_eq!(counting.unwrap_calls(), 0);

    // Records naming aliases, other partitions or non-ARNs are never tried.
    let discovery = KmsProvider::new(
        KmsProvider::client(&sdk),
        KmsConfig::discovery([account.clone()]),
    )
    .unwrap();
    for id in [
        format!("arn:aws:kms:us-east-1:{account}:alias/x"),
        format!("arn:aws-cn:kms:cn-north-1:{account}:key/abc"),
        "alias/x".to_owned(),
        "abc".to_owned(),
    ] {
        assert!(
            !discovery.accepts(&KeyRecord::new("aws-kms", &id, vec![1]).unwrap()),
            "{id}"
        );
    }
    // Discovery cannot seal.
    let err = ring(vec![Arc::new(discovery)])
        .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    // Bad discovery configurations.
    assert!(
        KmsProvider::new(
            KmsProvider::client(&sdk),
            KmsConfig::discovery(Vec::<String>::new())
        )
        .is_err()
    );
    assert!(KmsProvider::new(KmsProvider::client(&sdk), KmsConfig::discovery(["12345"])).is_err());
}

/// KMS (two Regions) + X25519 recipient + local key file: the object opens
/// with any one of them alone. The second KMS key wraps with Encrypt.
#[tokio::test]
async fn multi_wrap_kms_recipient_local_opens_with_any_alone() {
    let endpoint = services!("multi_wrap_kms_recipient_local_opens_with_any_alone");
    let east = sdk_config(&endpoint, "us-east-1").await;
    let west = sdk_config(&endpoint, "us-west-2").await;
    let alias = unique_alias("multi");
    let arn_east = create_key(&east, Some(&alias)).await;
    let arn_west = create_key(&west, None).await;
    assert!(arn_west.contains(":us-west-2:"), "{arn_west}");

    let kms_east = CountingTestDoubleProvider::new(Arc::new(
        KmsProvider::connect(&east, KmsConfig::strict(&alias))
            .await
            .unwrap(),
    ));
    let kms_west = CountingTestDoubleProvider::new(Arc::new(
        KmsProvider::connect(
            &west,
            KmsConfig::strict(&arn_west).with_grant_tokens(["test-grant-token"]),
        )
        .await
        .unwrap(),
    ));
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[42u8; 32], "test"));
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[43u8; 32], "test").unwrap());
    let kr = ring(vec![
        kms_east.clone(),
        kms_west.clone(),
        Arc::new(identity.recipient().clone()),
        local.clone(),
    ]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("m", "w")]), "")
        .await
        .unwrap();
    assert_eq!(
        (kms_east.generate_calls(), kms_west.generate_calls()),
        (1, 0)
    );
    assert_eq!(kms_west.wraps.load(std::sync::atomic::Ordering::SeqCst), 1);
    let ids: Vec<(&str, &str)> = sealed
        .header
        .records()
        .iter()
        .map(|r| (r.provider(), r.key_id()))
        .collect();
    assert_eq!(ids[0], ("aws-kms", arn_east.as_str()));
    assert_eq!(ids[1], ("aws-kms", arn_west.as_str()));
    assert_eq!(ids[2], ("x25519", identity.fingerprint()));
    assert_eq!(ids[3], ("local", local.key_id()));
    let (sealed, object) = seal_with(sealed, b"four readers");
    let prefix = prefix_of(&object, &sealed.header);

    let alone: Vec<Arc<dyn KeyProvider>> = vec![
        Arc::new(
            KmsProvider::connect(&east, KmsConfig::strict(&alias))
                .await
                .unwrap(),
        ),
        Arc::new(
            KmsProvider::connect(&west, KmsConfig::strict(&arn_west))
                .await
                .unwrap(),
        ),
        identity,
        local,
    ];
    for p in alone {
        let what = p.describe();
        let counting = CountingTestDoubleProvider::new(p);
        let key = ring(vec![counting.clone()])
            .open_key(&sealed.header, &prefix, None)
            .await
            .unwrap();
        assert_eq!(
            open_slice(&object, &key).unwrap().1,
            b"four readers",
            "{what}"
        );
        assert_eq!(counting.unwrap_calls(), 1, "{what}");
    }
}

#[tokio::test]
async fn rewrap_to_new_kms_key_removes_old() {
    let endpoint = services!("rewrap_to_new_kms_key_removes_old");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn_old = create_key(&sdk, None).await;
    let arn_new = create_key(&sdk, None).await;
    let old = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn_old))
            .await
            .unwrap(),
    )]);
    let new = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn_new))
            .await
            .unwrap(),
    )]);
    let sealed = old
        .seal_key(Suite::Aes256Gcm, ctx(&[("r", "1")]), "")
        .await
        .unwrap();
    let plaintext = vec![7u8; 50_000];
    let (sealed, object) = seal_with(sealed, &plaintext);
    let start = sealed.header.encoded_len();
    let prefix =
        sealstream_kms::BodyPrefix::from_bytes(&object[start..start + 56].try_into().unwrap());

    let header = old
        .rewrap(&sealed.header, &prefix, &new, None)
        .await
        .unwrap();
    let mut rewrapped = header.encode();
    rewrapped.extend_from_slice(&object[start..]);
    let (h, _) = Header::read_from(&mut &rewrapped[..]).unwrap();
    assert_eq!(h.records().len(), 1);
    assert_eq!(h.records()[0].key_id(), arn_new);

    let key = new.open_key(&h, &prefix, None).await.unwrap();
    assert_eq!(open_slice(&rewrapped, &key).unwrap().1, plaintext);
    let err = old.open_key(&h, &prefix, None).await.unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");
    // Even in discovery mode for the account, the old key has no record.
    let disc = ring(vec![Arc::new(
        KmsProvider::new(
            KmsProvider::client(&sdk),
            KmsConfig::discovery([account_of(&arn_old)]),
        )
        .unwrap(),
    )]);
    let key = disc.open_key(&h, &prefix, None).await.unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
}

/// A Decrypt answer that names no key (`KeyId` missing) is refused like
/// one naming another key (issue 10, item 16). moto always returns `KeyId`,
/// so the fault-injecting fake removes it from the real server's answer.
#[tokio::test]
async fn decrypt_answer_without_key_id_is_refused() {
    let endpoint = services!("decrypt_answer_without_key_id_is_refused");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let kr = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn))
            .await
            .unwrap(),
    )]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("a", "b")]), "n")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    let fake = FaultInjectingKms::without_decrypt_key_id(host_port(&endpoint)).await;
    let via_fake = sdk_config(&fake.endpoint(), "us-east-1").await;
    let kms = KmsProvider::new(
        KmsProvider::client(&via_fake),
        KmsConfig::strict(&arn).with_retry(fast_retry(1)),
    )
    .unwrap();
    let err = ring(vec![Arc::new(kms)])
        .open_key(&sealed.header, &prefix, Some("n"))
        .await
        .unwrap_err();
    assert_eq!(fake.faults(), 1, "the fake removed KeyId once");
    let msg = err.to_string();
    assert!(msg.contains("without naming the key (no KeyId)"), "{msg}");
    assert!(msg.contains(&arn), "{msg}");
    // Through the real server directly, the same record opens.
    let key = kr
        .open_key(&sealed.header, &prefix, Some("n"))
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
}

/// Throttling is retried with backoff; a fake endpoint injects it.
#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let endpoint = services!("throttling_is_retried_then_reported");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;

    // Two throttles, then the real server: succeeds on attempt 3.
    let fake = FaultInjectingKms::throttle(Some(host_port(&endpoint)), 2).await;
    let via_fake = sdk_config(&fake.endpoint(), "us-east-1").await;
    let kms = KmsProvider::new(
        KmsProvider::client(&via_fake),
        KmsConfig::strict(&arn).with_retry(fast_retry(4)),
    )
    .unwrap();
    let kr = ring(vec![Arc::new(kms)]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("t", "1")]), "")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    assert_eq!((fake.faults(), fake.forwarded()), (2, 1));
    kr.open_key(&sealed.header, &prefix, None).await.unwrap();
    assert_eq!((fake.faults(), fake.forwarded()), (2, 2));

    // Throttled on every attempt: the error says so, names the key, is
    // retryable, and exactly max_attempts requests were made.
    let always = FaultInjectingKms::throttle(None, 0).await;
    let via_always = sdk_config(&always.endpoint(), "us-east-1").await;
    let kms = KmsProvider::new(
        KmsProvider::client(&via_always),
        KmsConfig::strict(&arn).with_retry(fast_retry(3)),
    )
    .unwrap();
    let kr = ring(vec![Arc::new(kms)]);
    let err = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("t", "2")]), "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kms {
                kind: KmsErrorKind::Throttled,
                retryable: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains(&arn)
            && msg.contains("ThrottlingException")
            && msg.contains("after 3 attempts"),
        "{msg}"
    );
    assert_eq!(always.faults(), 3);
    // Opening: every attempt transient, so the retryable error comes back
    // (not "no matching key").
    let err = kr
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(always.faults(), 6);
}

#[tokio::test]
async fn unreachable_kms_is_classified_and_bounded() {
    // Needs no server: nothing listens on the port.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let sdk = offline_sdk_config(&endpoint).await;
    let arn = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let kms = KmsProvider::new(
        KmsProvider::client(&sdk),
        KmsConfig::strict(arn).with_retry(fast_retry(2)),
    )
    .unwrap();
    let err = ring(vec![Arc::new(kms)])
        .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kms {
                kind: KmsErrorKind::Unreachable,
                retryable: true,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(arn)
            && msg.contains("could not be reached")
            && msg.contains("after 2 attempts"),
        "{msg}"
    );
}

/// Errors the local server cannot produce (it does not enforce key states
/// or policies), injected by a fake endpoint: each is classified, names the
/// key, says what to do, and only transient ones are retried.
#[tokio::test]
async fn key_states_and_denials_are_classified() {
    let arn = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000001";
    let cases = [
        (
            "DisabledException",
            400,
            KmsErrorKind::Disabled,
            "enable it",
        ),
        (
            "KMSInvalidStateException",
            400,
            KmsErrorKind::Disabled,
            "pending deletion",
        ),
        (
            "NotFoundException",
            400,
            KmsErrorKind::NotFound,
            "check the key ARN",
        ),
        (
            "AccessDeniedException",
            400,
            KmsErrorKind::AccessDenied,
            "key policy",
        ),
        (
            "IncorrectKeyException",
            400,
            KmsErrorKind::IncorrectKey,
            "different KMS key",
        ),
        (
            "InvalidCiphertextException",
            400,
            KmsErrorKind::InvalidCiphertext,
            "encryption context",
        ),
        (
            "InvalidKeyUsageException",
            400,
            KmsErrorKind::InvalidRequest,
            "ENCRYPT_DECRYPT",
        ),
        (
            "KMSInternalException",
            500,
            KmsErrorKind::ServiceUnavailable,
            "retry later",
        ),
        (
            "SomethingNew",
            503,
            KmsErrorKind::ServiceUnavailable,
            "HTTP 503",
        ),
        ("SomethingElse", 400, KmsErrorKind::Other, "SomethingElse"),
    ];
    for (code, status, kind, hint) in cases {
        let fake = FaultInjectingKms::always(code, status).await;
        let sdk = offline_sdk_config(&fake.endpoint()).await;
        let kms = KmsProvider::new(
            KmsProvider::client(&sdk),
            KmsConfig::strict(arn).with_retry(fast_retry(3)),
        )
        .unwrap();
        let err = ring(vec![Arc::new(kms)])
            .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), "")
            .await
            .unwrap_err();
        let Error::Kms {
            kind: got,
            retryable,
            ..
        } = &err
        else {
            panic!("{code}: {err}")
        };
        assert_eq!(*got, kind, "{code}: {err}");
        let transient = kind == KmsErrorKind::ServiceUnavailable;
        assert_eq!(*retryable, transient, "{code}");
        assert_eq!(
            fake.faults(),
            if transient { 3 } else { 1 },
            "{code}: attempts"
        );
        let msg = err.to_string();
        assert!(msg.contains(arn) && msg.contains(hint), "{code}: {msg}");
    }
}

/// `aws-kms-batch` records: objects of one batch share one KMS blob (one
/// GenerateDataKey), each has its own derived data key bound to its salt
/// and name, a batch rotates at `max_objects` and on other user pairs, and
/// a fresh reader (strict or discovery, batching off) opens them all.
#[tokio::test]
async fn batch_records_share_one_kms_blob_and_bind_each_object() {
    let endpoint = services!("batch_records_share_one_kms_blob_and_bind_each_object");
    let sdk = sdk_config(&endpoint, "us-east-1").await;
    let arn = create_key(&sdk, None).await;
    let limits = sealstream_kms::BatchLimits {
        max_objects: 3,
        max_age: Duration::from_secs(600),
    };
    let writer = ring(vec![Arc::new(
        KmsProvider::connect(&sdk, KmsConfig::strict(&arn).with_batch(limits))
            .await
            .unwrap(),
    )]);
    let context = ctx(&[("app", "backup")]);
    let mut objects = Vec::new();
    for i in 0..4 {
        let sealed = writer
            .seal_key(Suite::Aes256Gcm, context.clone(), &format!("t/{i}"))
            .await
            .unwrap();
        let rec = &sealed.header.records()[0];
        assert_eq!(rec.provider(), "aws-kms-batch");
        assert_eq!(rec.key_id(), arn);
        assert_eq!(rec.wrapped()[0], 0x01);
        objects.push(seal_with(sealed, format!("object {i}").as_bytes()));
    }
    let blob = |i: usize| objects[i].0.header.records()[0].wrapped().to_vec();
    assert_eq!(blob(0), blob(1));
    assert_eq!(blob(1), blob(2));
    assert_ne!(
        blob(2),
        blob(3),
        "a batch holds at most max_objects objects"
    );
    for i in 0..4 {
        for j in 0..i {
            assert_ne!(
                objects[i].0.key.expose_secret(),
                objects[j].0.key.expose_secret(),
                "objects {j} and {i} share a data key"
            );
        }
    }
    // Other user pairs: another batch.
    let other = writer
        .seal_key(Suite::Aes256Gcm, ctx(&[("app", "other")]), "t/4")
        .await
        .unwrap();
    assert_ne!(other.header.records()[0].wrapped(), &blob(3)[..]);
    // Fresh readers, batching off.
    for config in [
        KmsConfig::strict(&arn),
        KmsConfig::discovery([account_of(&arn)]),
    ] {
        let reader = ring(vec![Arc::new(
            KmsProvider::connect(&sdk, config).await.unwrap(),
        )]);
        for (i, (sealed, object)) in objects.iter().enumerate() {
            let prefix = prefix_of(object, &sealed.header);
            let key = reader
                .open_key(&sealed.header, &prefix, None)
                .await
                .unwrap();
            assert_eq!(key.expose_secret(), sealed.key.expose_secret());
            assert_eq!(
                open_slice(object, &key).unwrap().1,
                format!("object {i}").as_bytes()
            );
        }
    }
    // Binding: object 0's header under another name, or over object 1's
    // body (another salt), derives another key and is refused.
    let (a, object_a) = &objects[0];
    let (_, object_b) = &objects[1];
    let renamed = a
        .header
        .with_name_and_records("t/1", a.header.records().to_vec())
        .unwrap();
    assert!(
        writer
            .open_key(&renamed, &prefix_of(object_a, &a.header), None)
            .await
            .is_err(),
        "a batch record opened under another name"
    );
    assert!(
        writer
            .open_key(&a.header, &prefix_of(object_b, &a.header), None)
            .await
            .is_err(),
        "a batch record opened over another object's body"
    );
}

/// The `batch_invalid_*` and `batch_wrapped_*` vectors (tests/vectors/records.txt) through the
/// public API, against a fake KMS that counts requests (no server needed): an invalid
/// `wrapped` is a malformed record, refused without a KMS request (by `KeyProvider::unwrap`
/// and, where the record fits in a header, by the keyring, where it makes only that record
/// unusable: a genuine local record after it still opens the object); a well-formed one of
/// either boundary length (1 and 6144 blob bytes) is sent to KMS.
#[tokio::test]
async fn batch_record_vectors_invalid_ones_are_refused_without_a_kms_call() {
    let v = record_vectors();
    let arn = v["batch_arn"];
    let fake = FaultInjectingKms::always("KMSInternalException", 500).await;
    let sdk = offline_sdk_config(&fake.endpoint()).await;
    let kms = Arc::new(
        KmsProvider::new(
            KmsProvider::client(&sdk),
            KmsConfig::strict(arn).with_retry(fast_retry(1)),
        )
        .unwrap(),
    );
    let local: Arc<dyn KeyProvider> =
        Arc::new(LocalKeyProvider::from_key_bytes(&[44u8; 32], "t").unwrap());
    let reader = ring(vec![kms.clone(), local.clone()]);
    let sealed = ring(vec![local])
        .seal_key(Suite::Aes256Gcm, ctx(&[("app", "backup")]), "n")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    let genuine = sealed.header.records().to_vec();
    let wrap_ctx = WrapContext {
        suite: sealed.header.suite(),
        context: sealed.header.context(),
        bound: sealed.header.bound_section(),
        salt: &prefix.salt,
        name: sealed.header.name(),
    };
    let record = |name: &str| KeyRecord::new("aws-kms-batch", arn, unhex(v[name])).unwrap();

    let invalid: Vec<&str> = v
        .keys()
        .copied()
        .filter(|k| k.starts_with("batch_invalid_"))
        .collect();
    assert!(invalid.len() >= 5, "{invalid:?}");
    let mut in_headers = 0;
    for name in invalid {
        assert!(kms.accepts(&record(name)), "{name}");
        let err = kms
            .unwrap_unverified(&record(name), wrap_ctx)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MalformedRecord { .. }) && err.to_string().contains(arn),
            "{name}: {err}"
        );
        assert_eq!(fake.faults(), 0, "{name} was sent to KMS");
        // A record too long for the 4096-byte header reaches only the API above.
        let Ok(alone) = sealed.header.with_records(vec![record(name)]) else {
            continue;
        };
        in_headers += 1;
        let msg = reader
            .open_key(&alone, &prefix, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("malformed aws-kms-batch key record") && msg.contains(arn),
            "{name}: {msg}"
        );
        let mut records = vec![record(name)];
        records.extend(genuine.iter().cloned());
        let header = sealed.header.with_records(records).unwrap();
        let key = reader.open_key(&header, &prefix, None).await.unwrap();
        assert_eq!(key.expose_secret(), sealed.key.expose_secret(), "{name}");
        assert_eq!(fake.faults(), 0, "{name} was sent to KMS");
    }
    assert!(
        in_headers >= 4,
        "{in_headers} invalid vectors fit in a header"
    );

    for (sent, name) in ["batch_wrapped_blob_min", "batch_wrapped_blob_max"]
        .into_iter()
        .enumerate()
    {
        let err = kms
            .unwrap_unverified(&record(name), wrap_ctx)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Kms { .. }),
            "{name} should reach KMS: {err}"
        );
        assert_eq!(fake.faults(), sent + 1, "{name} was not sent to KMS: {err}");
    }
}
