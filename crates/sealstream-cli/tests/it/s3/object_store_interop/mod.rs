//! sealstream-object-store and the CLI read each other's objects on the
//! local S3 server: an object put through `SealedStore<AmazonS3>` is opened
//! by `sealstream get s3://bucket/key`, and one put by `sealstream put` is
//! read (whole and by range) through the wrapper. Both bind the object's S3
//! key as its name (docs/FORMAT.md, "The name"), so the wrapper sits
//! directly on the bucket here (no `PrefixStore` below it).

use std::sync::Arc;

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use sealstream_kms::{Keyring, LocalKeyProvider};
use sealstream_object_store::SealedStore;

use super::common::{Env, data};
use super::{out, rt, services};

#[test]
fn object_store_wrapper_and_cli_read_each_others_objects() {
    let Some(svc) = services("object_store_wrapper_and_cli_read_each_others_objects") else {
        return;
    };
    let env = Env::new();
    let key = env.keygen("objstore.key");
    let store = svc.store(&env, "objstore");
    let prefix = store
        .trim_start_matches(&format!("s3://{}/", svc.bucket))
        .to_owned();
    // object_store's HTTP client is built with rustls but no provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let var = |k: &str| std::env::var(k).unwrap();
    let s3 = AmazonS3Builder::new()
        .with_endpoint(&svc.s3_endpoint)
        .with_bucket_name(&svc.bucket)
        .with_region("us-east-1")
        .with_access_key_id(var("AWS_ACCESS_KEY_ID"))
        .with_secret_access_key(var("AWS_SECRET_ACCESS_KEY"))
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap();
    let provider = LocalKeyProvider::from_file(&key).unwrap();
    let sealed = SealedStore::new(s3, Keyring::new(vec![Arc::new(provider)]).unwrap());

    // Through the wrapper, opened by the CLI.
    let plain = data(3 * 16_384 + 77, 11);
    let path = Path::from(format!("{prefix}/from-wrapper.bin"));
    rt().block_on(sealed.put(&path, plain.clone().into()))
        .unwrap();
    let a = svc
        .cmd(&env)
        .args([
            "get",
            &format!("{store}/from-wrapper.bin"),
            "-",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success();
    assert!(
        out(&a) == plain,
        "the CLI opened other bytes than the wrapper sealed"
    );

    // Through the CLI (a multipart upload of 5 MiB parts), read by the wrapper.
    let big = data((11 << 20) + 5, 12);
    env.write("p.bin", &big);
    svc.cmd(&env)
        .env("SEALSTREAM_PART_SIZE", "5MiB")
        .args([
            "--store",
            &store,
            "put",
            "p.bin",
            "from-cli.bin",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success();
    let path = Path::from(format!("{prefix}/from-cli.bin"));
    let (size, whole, range) = rt().block_on(async {
        let size = sealed.head(&path).await.unwrap().size;
        let whole = sealed.get(&path).await.unwrap().bytes().await.unwrap();
        let range = sealed.get_range(&path, 5_000_000..5_300_000).await.unwrap();
        (size, whole, range)
    });
    assert_eq!(size, big.len() as u64, "head reports the plaintext size");
    assert!(
        whole == big,
        "the wrapper read other bytes than the CLI sealed"
    );
    assert!(range == big[5_000_000..5_300_000]);
}
