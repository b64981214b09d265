//! The verbs against the real local S3 and KMS servers (scripts/services):
//! `source .test-services/env` provides SEALSTREAM_TEST_S3_ENDPOINT,
//! SEALSTREAM_TEST_S3_BUCKET, SEALSTREAM_TEST_KMS_ENDPOINT and AWS_*
//! credentials. Without them each test prints a skip line and returns,
//! unless SEALSTREAM_REQUIRE_SERVICES=1, which makes them fail.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;
mod object_store_interop;

use assert_cmd::Command;
use common::{AUTH, Env, KEY, NOT_FOUND, SERVICE, USAGE, data, json_lines, json_one};
use predicates::prelude::*;
use predicates::str::contains;
use sealstream_faultproxy::{Fault, FaultPlan, FaultProxy, Match, Rule};
use sealstream_format::{BODY_PREFIX_LEN, CHUNK_SIZE, HEADER_LEN, SEALED_CHUNK_SIZE};

/// The test servers.
struct Services {
    s3_endpoint: String,
    bucket: String,
    kms_endpoint: Option<String>,
    /// AWS_* variables to pass to the command.
    aws_env: Vec<(String, String)>,
}

fn services(test: &str) -> Option<Services> {
    let Ok(s3_endpoint) = std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SEALSTREAM_REQUIRE_SERVICES=1 but SEALSTREAM_TEST_S3_ENDPOINT is unset: \
             run `scripts/services start` and `source .test-services/env`"
        );
        eprintln!("skipping {test}: SEALSTREAM_TEST_S3_ENDPOINT is unset (no local S3 server)");
        return None;
    };
    let bucket =
        std::env::var("SEALSTREAM_TEST_S3_BUCKET").unwrap_or_else(|_| "sealstream-test".into());
    let kms_endpoint = std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT").ok();
    let aws_env = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    Some(Services {
        s3_endpoint,
        bucket,
        kms_endpoint,
        aws_env,
    })
}

impl Services {
    /// A fresh prefix for one test: `s3://bucket/cli-tests/NAME-RANDOM/`.
    fn store(&self, env: &Env, name: &str) -> String {
        let tag = env
            .work()
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap();
        format!("s3://{}/cli-tests/{name}-{tag}", self.bucket)
    }

    /// `sealstream` with the AWS credentials and the endpoints.
    fn cmd(&self, env: &Env) -> Command {
        let mut c = env.cmd();
        for (k, v) in &self.aws_env {
            c.env(k, v);
        }
        c.env("SEALSTREAM_ENDPOINT_URL", &self.s3_endpoint);
        if let Some(k) = &self.kms_endpoint {
            c.env("SEALSTREAM_KMS_ENDPOINT_URL", k);
        }
        c
    }

    async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = common::services::sdk_config(&self.s3_endpoint).await;
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    async fn kms(&self) -> Option<aws_sdk_kms::Client> {
        let endpoint = self.kms_endpoint.clone()?;
        let sdk = common::services::sdk_config(&endpoint).await;
        Some(aws_sdk_kms::Client::new(&sdk))
    }
}

impl Services {
    /// The bytes and ETag of `s3://bucket/key`, read directly.
    async fn get_raw(&self, key: &str) -> (Vec<u8>, String) {
        let out = self
            .s3()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let etag = out.e_tag().unwrap().to_owned();
        (out.body.collect().await.unwrap().to_vec(), etag)
    }

    /// Overwrites `s3://bucket/key` with `bytes`, directly (what a storage
    /// operator can do).
    async fn put_raw(&self, key: &str, bytes: Vec<u8>) {
        self.s3()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }
}

/// The S3 key of `name` in a store from [`Services::store`].
fn key_in(store: &str, name: &str) -> String {
    let path = store.strip_prefix("s3://").unwrap();
    let (_, prefix) = path.split_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// A runtime whose worker thread serves a fault proxy while the test
/// thread waits on a `sealstream` process.
fn proxy_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn out(a: &assert_cmd::assert::Assert) -> Vec<u8> {
    a.get_output().stdout.clone()
}

#[test]
fn s3_store_round_trips_files_pipes_and_ranges() {
    let Some(svc) = services("s3_store_round_trips_files_pipes_and_ranges") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "roundtrip");
    let small = data(70_000, 1);
    // 12 MiB with 5 MiB parts: a multipart upload of three parts.
    let big = data(12 << 20, 2);
    env.write("small.bin", &small);
    env.write("big.bin", &big);

    let v = json_one(&out(&svc
        .cmd(&env)
        .args(["--json", "--store", &store, "put", "small.bin"])
        .assert()
        .success()));
    assert_eq!(v["object"], format!("{store}/small.bin"));
    assert_eq!(v["plaintext_size"], 70_000);
    svc.cmd(&env)
        .env("SEALSTREAM_PART_SIZE", "5MiB")
        .args(["--store", &store, "put", "big.bin"])
        .assert()
        .success();
    // From a pipe, to an explicit s3:// key.
    svc.cmd(&env)
        .args(["put", "-", &format!("{store}/piped/p.bin")])
        .write_stdin(small.clone())
        .assert()
        .success();
    // No overwrite without --force.
    svc.cmd(&env)
        .args(["--store", &store, "put", "small.bin"])
        .assert()
        .code(USAGE)
        .stderr(contains("already exists"));

    std::fs::remove_file(env.path("big.bin")).unwrap();
    svc.cmd(&env)
        .args(["--store", &store, "get", "big.bin"])
        .assert()
        .success();
    assert!(
        env.read("big.bin") == big,
        "big.bin differs after the round trip"
    );
    let piped = out(&svc
        .cmd(&env)
        .args(["get", &format!("{store}/piped/p.bin"), "-"])
        .assert()
        .success());
    assert_eq!(piped, small);
    let cat = out(&svc
        .cmd(&env)
        .args(["--store", &store, "cat", "small.bin"])
        .assert()
        .success());
    assert_eq!(cat, small);
    for (range, want) in [
        ("100-199", &big[100..200]),
        ("16380-16400", &big[16_380..=16_400]),
        ("12582900-", &big[12_582_900..]),
        ("-3", &big[big.len() - 3..]),
    ] {
        let got = out(&svc
            .cmd(&env)
            .args(["--store", &store, "cat", "big.bin", "--range", range])
            .assert()
            .success());
        assert!(got == want, "range {range}");
    }

    let lines = json_lines(&out(&svc
        .cmd(&env)
        .args(["--json", "ls", &store])
        .assert()
        .success()));
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["big.bin", "piped/p.bin", "small.bin"]);
    assert_eq!(lines[0]["plaintext_size"], 12 << 20);
    assert_eq!(lines[2]["suite"], "aes-256-gcm");
    assert_eq!(lines[2]["keys"][0]["provider"], "local");

    let v = json_one(&out(&svc
        .cmd(&env)
        .args(["--json", "--store", &store, "inspect", "big.bin"])
        .assert()
        .success()));
    assert_eq!(v["plaintext_size"], 12 << 20);
    assert_eq!(v["version"], 2);

    svc.cmd(&env)
        .args(["--store", &store, "get", "missing.bin"])
        .assert()
        .code(NOT_FOUND);
}

#[test]
fn tampered_and_wrong_key_s3_objects_fail_clearly() {
    let Some(svc) = services("tampered_and_wrong_key_s3_objects_fail_clearly") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "tamper");
    let key = env.keygen("k.key");
    let other = env.keygen("other.key");
    let plain = data(5 * 16_384 + 9, 3);
    env.write("p.bin", &plain);
    env.cmd()
        .args(["encrypt", "p.bin", "-o", "p.sealed", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    let header_len = json_one(&out(&env
        .cmd()
        .args(["--json", "inspect", "p.sealed"])
        .assert()
        .success()))["header_size"]
        .as_u64()
        .unwrap();
    let mut bytes = env.read("p.sealed");
    let at = (header_len + 56 + 3 * 16_400 + 5) as usize;
    bytes[at] ^= 0x80;
    let bucket = svc.bucket.clone();
    let prefix = store
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    // Objects in a store are bound to their key: `put` both, then change a
    // byte of bad.bin in place.
    for name in ["good.bin", "bad.bin"] {
        svc.cmd(&env)
            .args(["--store", &store, "put", "p.bin", name, "--key-file"])
            .arg(&key)
            .assert()
            .success();
    }
    rt().block_on(async {
        let s3 = svc.s3().await;
        let full = format!("{prefix}/bad.bin");
        let stored = s3
            .get_object()
            .bucket(&bucket)
            .key(&full)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec();
        let mut tampered = stored;
        tampered[at] ^= 0x80;
        s3.put_object()
            .bucket(&bucket)
            .key(&full)
            .body(tampered.into())
            .send()
            .await
            .unwrap();
        // A plainly encrypted file (bound to no name) copied into the store.
        s3.put_object()
            .bucket(&bucket)
            .key(format!("{prefix}/unbound.bin"))
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    });
    svc.cmd(&env)
        .args(["--store", &store, "get", "unbound.bin", "-", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("name mismatch"))
        .stderr(contains("unbound.bin"));
    svc.cmd(&env)
        .args(["--store", &store, "get", "bad.bin", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("chunk 3"))
        .stderr(contains("bad.bin"));
    assert!(!env.path("bad.bin").exists());
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "cat",
            "bad.bin",
            "--range",
            "50000-50010",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("chunk 3"));
    svc.cmd(&env)
        .args(["--store", &store, "get", "good.bin", "-", "--key-file"])
        .arg(&other)
        .assert()
        .code(KEY)
        .stderr(contains("good.bin"));
    let got = out(&svc
        .cmd(&env)
        .args(["--store", &store, "get", "good.bin", "-", "--key-file"])
        .arg(&key)
        .assert()
        .success());
    assert_eq!(got, plain);
}

#[test]
fn kms_keys_seal_open_and_rewrap() {
    let Some(svc) = services("kms_keys_seal_open_and_rewrap") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "kms");
    let alias = format!(
        "alias/sealstream-cli-{}",
        env.work()
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap()
    );
    let Some(arn) = rt().block_on(async {
        let kms = svc.kms().await?;
        let k = kms.create_key().send().await.unwrap();
        let arn = k.key_metadata().and_then(|m| m.arn()).map(str::to_owned)?;
        kms.create_alias()
            .alias_name(&alias)
            .target_key_id(&arn)
            .send()
            .await
            .unwrap();
        Some(arn)
    }) else {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SEALSTREAM_REQUIRE_SERVICES=1 but SEALSTREAM_TEST_KMS_ENDPOINT is unset"
        );
        eprintln!("skipping kms_keys_seal_open_and_rewrap: SEALSTREAM_TEST_KMS_ENDPOINT is unset");
        return;
    };
    let local = env.keygen("local.key");
    env.write("k.txt", b"sealed by KMS");
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "put",
            "k.txt",
            "--context",
            "app=test",
            "--kms-key",
            &arn,
        ])
        .assert()
        .success();
    let v = json_one(&out(&svc
        .cmd(&env)
        .args(["--json", "--store", &store, "inspect", "k.txt"])
        .assert()
        .success()));
    assert_eq!(v["keys"][0]["provider"], "aws-kms");
    assert_eq!(v["keys"][0]["key_id"], arn.as_str());
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "cat",
            "k.txt",
            "--context",
            "app=test",
            "--kms-key",
            &arn,
        ])
        .assert()
        .success()
        .stdout("sealed by KMS");
    // The alias resolves to the same key: it opens what the ARN sealed.
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "cat",
            "k.txt",
            "--context",
            "app=test",
            "--kms-key",
            &alias,
        ])
        .assert()
        .success()
        .stdout("sealed by KMS");
    // Wrong context: refused before any KMS call.
    svc.cmd(&env)
        .args(["--store", &store, "cat", "k.txt", "--kms-key", &arn])
        .assert()
        .code(AUTH)
        .stderr(contains("encryption context mismatch"));

    // A local file sealed for KMS and a local key; rewrapped to the local key only.
    env.cmd()
        .args(["encrypt", "k.txt", "-o", "k.sealed", "--key-file"])
        .arg(&local)
        .assert()
        .success();
    svc.cmd(&env)
        .args(["rewrap", "./k.sealed", "--key-file"])
        .arg(&local)
        .args(["--new-kms-key", &arn])
        .assert()
        .success();
    svc.cmd(&env)
        .args(["decrypt", "k.sealed", "--key-file"])
        .arg(&local)
        .assert()
        .code(KEY);
    svc.cmd(&env)
        .args(["decrypt", "k.sealed", "--kms-key", &arn])
        .assert()
        .success()
        .stdout("sealed by KMS");
}

#[test]
fn cleanup_aborts_an_abandoned_upload() {
    let Some(svc) = services("cleanup_aborts_an_abandoned_upload") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "cleanup");
    let bucket = svc.bucket.clone();
    let prefix = store
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let key = format!("{prefix}/abandoned.bin");
    let upload_id = rt().block_on(async {
        let s3 = svc.s3().await;
        let up = s3
            .create_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        up.upload_id().unwrap().to_owned()
    });
    // Too young for the default --older-than 24h: listed by nobody.
    let lines = json_lines(&out(&svc
        .cmd(&env)
        .args(["--json", "cleanup", &store])
        .assert()
        .success()));
    assert!(lines.is_empty(), "{lines:?}");
    let lines = json_lines(&out(&svc
        .cmd(&env)
        .args([
            "--json",
            "cleanup",
            &store,
            "--older-than",
            "0",
            "--dry-run",
        ])
        .assert()
        .success()));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["aborted"], false);
    let lines = json_lines(&out(&svc
        .cmd(&env)
        .args(["--json", "cleanup", &store, "--older-than", "0"])
        .assert()
        .success()));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["object"], format!("s3://{bucket}/{key}"));
    assert_eq!(lines[0]["upload_id"], upload_id.as_str());
    assert_eq!(lines[0]["aborted"], true);
    let left = rt().block_on(async {
        let s3 = svc.s3().await;
        let l = s3
            .list_multipart_uploads()
            .bucket(&bucket)
            .prefix(&prefix)
            .send()
            .await
            .unwrap();
        l.uploads().len()
    });
    assert_eq!(left, 0);
}

#[test]
fn presign_prints_a_signed_url_and_errors_redact_it() {
    let Some(svc) = services("presign_prints_a_signed_url_and_errors_redact_it") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "presign");
    env.write("x.bin", b"x");
    svc.cmd(&env)
        .args(["--store", &store, "put", "x.bin"])
        .assert()
        .success();
    let v = json_one(&out(&svc
        .cmd(&env)
        .args([
            "--json",
            "--store",
            &store,
            "presign",
            "x.bin",
            "--expires",
            "10m",
        ])
        .assert()
        .success()));
    let url = v["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("x.bin"), "{url}");
    assert_eq!(v["expires_in_seconds"], 600);
    // ISO 8601 next to epoch seconds, ten minutes from now (issue 15).
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let at = v["expires_at_epoch"].as_i64().unwrap();
    assert!((at - now - 600).abs() < 120, "{v}");
    let iso = v["expires_at"].as_str().unwrap();
    assert!(
        iso.len() == 20 && iso.ends_with('Z') && iso.as_bytes()[10] == b'T',
        "{iso}"
    );
    svc.cmd(&env)
        .args(["--store", &store, "presign", "x.bin", "--expires", "8d"])
        .assert()
        .code(USAGE);
    // A URL in an error message never shows its signature or key.
    let bad = "https://127.0.0.1:1/b/k?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIDEXAMPLE#k=c2VjcmV0";
    let a = svc.cmd(&env).args(["inspect", bad]).assert().failure();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(!stderr.contains("deadbeefcafe"), "{stderr}");
    assert!(!stderr.contains("c2VjcmV0"), "{stderr}");
    assert!(!stderr.contains("AKIDEXAMPLE"), "{stderr}");
    let _ = predicate::always();
}

#[test]
fn share_link_opens_without_aws_credentials() {
    let Some(svc) = services("share_link_opens_without_aws_credentials") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "share");
    let plain = data(100_000, 8);
    env.write("s.bin", &plain);
    svc.cmd(&env)
        .args(["--store", &store, "put", "s.bin", "--context", "team=a"])
        .assert()
        .success();
    // share is an opening verb: it needs the context too.
    svc.cmd(&env)
        .args(["--store", &store, "share", "s.bin"])
        .assert()
        .code(AUTH);
    let v = json_one(&out(&svc
        .cmd(&env)
        .args([
            "--json",
            "--store",
            &store,
            "share",
            "s.bin",
            "--context",
            "team=a",
            "--expires",
            "1h",
        ])
        .assert()
        .success()));
    let link = v["link"].as_str().unwrap().to_owned();
    assert!(link.contains("#k="), "{link}");
    assert_eq!(v["expires_in_seconds"], 3600);
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(link.contains("X-Amz-Signature="), "{link}");

    // No AWS variables, no key files: only the link.
    let other = Env::new();
    let a = other.cmd().args(["get", &link, "-"]).assert().success();
    assert!(a.get_output().stdout == plain);
    other.cmd().args(["get", &link]).assert().success();
    assert!(other.read("s.bin") == plain);
    let cat = out(&other.cmd().args(["cat", &link]).assert().success());
    assert!(cat == plain);

    // A link with another key fails authentication, and the error shows
    // neither the signature nor the key.
    let (url, _) = link.split_once("#k=").unwrap();
    let forged = format!("{url}#k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let a = other
        .cmd()
        .args(["get", &forged, "x.out"])
        .assert()
        .code(AUTH);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let sig = url.split("X-Amz-Signature=").nth(1).unwrap();
    let sig = sig.split('&').next().unwrap();
    assert!(!stderr.contains(sig), "{stderr}");
    assert!(!stderr.contains("AAAAAAAAAAAAAAAAAAAA"), "{stderr}");
    assert!(!other.path("x.out").exists());
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_put_aborts_the_multipart_upload() {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let Some(svc) = services("ctrl_c_during_put_aborts_the_multipart_upload") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "interrupt");
    let bucket = svc.bucket.clone();
    let prefix = store
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sealstream"));
    cmd.env_clear()
        .env("HOME", env.home())
        .env("SEALSTREAM_ENDPOINT_URL", &svc.s3_endpoint)
        .env("SEALSTREAM_PART_SIZE", "5MiB")
        .current_dir(env.work());
    for (k, v) in &svc.aws_env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(["--create-key", "--store", &store, "put", "-", "stream.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // More than one part, then a stdin that stays open.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(7 << 20, 6)).unwrap();
    stdin.flush().unwrap();
    let uploads = |s3: &aws_sdk_s3::Client| {
        let (s3, bucket, prefix) = (s3.clone(), bucket.clone(), prefix.clone());
        async move {
            s3.list_multipart_uploads()
                .bucket(&bucket)
                .prefix(&prefix)
                .send()
                .await
                .unwrap()
                .uploads()
                .len()
        }
    };
    let rt = rt();
    let s3 = rt.block_on(svc.s3());
    let start = Instant::now();
    while rt.block_on(uploads(&s3)) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no multipart upload started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("aborted"), "{stderr}");
    assert_eq!(rt.block_on(uploads(&s3)), 0, "the upload was not aborted");
    let head = rt.block_on(async {
        s3.head_object()
            .bucket(&bucket)
            .key(format!("{prefix}/stream.bin"))
            .send()
            .await
    });
    assert!(head.is_err(), "an object appeared under the key");
}

#[test]
fn rewrap_s3_objects_then_open_with_the_new_key_only() {
    let Some(svc) = services("rewrap_s3_objects_then_open_with_the_new_key_only") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "rewrap");
    let old = env.keygen("old.key");
    let new = env.keygen("new.key");
    // A small object (rewritten whole) and one over 5 MiB (server-side copy).
    for (name, len) in [("small.bin", 40_000), ("large.bin", (11 << 20) + 5)] {
        let plain = data(len, 12);
        env.write(name, &plain);
        svc.cmd(&env)
            .env("SEALSTREAM_PART_SIZE", "5MiB")
            .args([
                "--store",
                &store,
                "put",
                name,
                "--context",
                "k=v",
                "--key-file",
            ])
            .arg(&old)
            .assert()
            .success();
        let v = json_one(&out(&svc
            .cmd(&env)
            .args([
                "--json",
                "--store",
                &store,
                "rewrap",
                name,
                "--context",
                "k=v",
                "--key-file",
            ])
            .arg(&old)
            .arg("--new-key-file")
            .arg(&new)
            .assert()
            .success()));
        assert_eq!(v["verb"], "rewrap");
        assert_ne!(v["keys"][0]["key_id"], v["old_keys"][0]["key_id"]);
        svc.cmd(&env)
            .args([
                "--store",
                &store,
                "get",
                name,
                "-",
                "--context",
                "k=v",
                "--key-file",
            ])
            .arg(&old)
            .assert()
            .code(KEY);
        let got = out(&svc
            .cmd(&env)
            .args([
                "--store",
                &store,
                "get",
                name,
                "-",
                "--context",
                "k=v",
                "--key-file",
            ])
            .arg(&new)
            .assert()
            .success());
        assert!(got == plain, "{name} differs after rewrap");
    }
}

#[test]
fn bench_s3_measures_sealed_and_plain_transfers() {
    let Some(svc) = services("bench_s3_measures_sealed_and_plain_transfers") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "bench");
    let lines = json_lines(&out(&svc
        .cmd(&env)
        .args([
            "--json",
            "--store",
            &store,
            "bench",
            "--s3",
            "--size",
            "6MiB",
            "--repetitions",
            "1",
            "--threads",
            "1",
            "--suite",
            "aes-256-gcm",
        ])
        .assert()
        .success()));
    let s3 = lines.iter().find(|l| l["name"] == "s3-transfer").unwrap();
    assert_eq!(s3["bytes"], 6 << 20);
    assert!(s3["encrypted_upload"]["mib_per_s"].as_f64().unwrap() > 0.0);
    assert!(s3["download_ratio"].as_f64().unwrap() > 0.0);
}

#[test]
fn sse_options_layer_server_side_encryption_under_the_sealing() {
    let Some(svc) = services("sse_options_layer_server_side_encryption_under_the_sealing") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "sse");
    let plain = data(30_000, 13);
    env.write("s.bin", &plain);
    // SSE-C key files are secrets: mode 0600, as the command requires.
    for (name, byte) in [("sse-c.key", 7u8), ("other-sse-c.key", 9u8)] {
        let p = env.write(name, &[byte; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    svc.cmd(&env)
        .args([
            "--store", &store, "put", "s.bin", "aes.bin", "--sse", "AES256",
        ])
        .assert()
        .success();
    let got = out(&svc
        .cmd(&env)
        .args(["--store", &store, "get", "aes.bin", "-"])
        .assert()
        .success());
    assert!(got == plain);

    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "put",
            "s.bin",
            "c.bin",
            "--sse-c-key-file",
            "sse-c.key",
        ])
        .assert()
        .success();
    let got = out(&svc
        .cmd(&env)
        .args([
            "--store",
            &store,
            "get",
            "c.bin",
            "-",
            "--sse-c-key-file",
            "sse-c.key",
        ])
        .assert()
        .success());
    assert!(got == plain);
    let got = out(&svc
        .cmd(&env)
        .args([
            "--store",
            &store,
            "cat",
            "c.bin",
            "--range",
            "10-19",
            "--sse-c-key-file",
            "sse-c.key",
        ])
        .assert()
        .success());
    assert!(got == plain[10..20]);
    // Without the SSE-C key, or with another: refused by the server.
    svc.cmd(&env)
        .args(["--store", &store, "get", "c.bin", "-"])
        .assert()
        .code(KEY)
        .stderr(contains("--sse-c-key-file"));
    svc.cmd(&env)
        .args(["--store", &store, "inspect", "c.bin", "--json"])
        .assert()
        .code(KEY);
    let v = json_one(&out(&svc
        .cmd(&env)
        .args([
            "--store",
            &store,
            "inspect",
            "c.bin",
            "--json",
            "--sse-c-key-file",
            "sse-c.key",
        ])
        .assert()
        .success()));
    assert_eq!(v["plaintext_size"], 30_000);
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "get",
            "c.bin",
            "-",
            "--sse-c-key-file",
            "other-sse-c.key",
        ])
        .assert()
        .code(KEY);
    svc.cmd(&env)
        .args(["--store", &store, "put", "s.bin", "x.bin", "--sse", "bogus"])
        .assert()
        .code(USAGE);
}

/// A storage operator truncates an object (overwrites it with fewer bytes
/// through S3): every `cat --range` whose answer depends on the length
/// fails with exit 4 and prints nothing, at a chunk boundary, at a boundary
/// plus 16 bytes (a claimed empty final chunk), inside a chunk and inside
/// the final chunk.
#[test]
fn cat_range_of_a_truncated_object_fails_and_prints_nothing() {
    let Some(svc) = services("cat_range_of_a_truncated_object_fails_and_prints_nothing") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "truncated");
    let c = CHUNK_SIZE as u64;
    let plain = data((10 * c + 500) as usize, 21);
    env.write("t.bin", &plain);
    svc.cmd(&env)
        .args(["--store", &store, "put", "t.bin"])
        .assert()
        .success();
    let key = key_in(&store, "t.bin");
    let rt = rt();
    let (raw, _) = rt.block_on(svc.get_raw(&key));
    let body = (HEADER_LEN + BODY_PREFIX_LEN) as u64;
    let sealed = SEALED_CHUNK_SIZE as u64;
    for (what, keep) in [
        ("at a chunk boundary", body + 10 * sealed),
        ("at a boundary plus 16 bytes", body + 6 * sealed + 16),
        ("inside a chunk", body + 6 * sealed + 1016),
        ("inside the final chunk", body + 10 * sealed + 300),
    ] {
        rt.block_on(svc.put_raw(&key, raw[..keep as usize].to_vec()));
        let claimed = (keep - body) / sealed * c + ((keep - body) % sealed).saturating_sub(16);
        let a = 2 * c + 5;
        for range in [
            format!("{a}-"),
            format!("{a}-{}", claimed + 100),
            format!("{a}-{}", claimed - 1),
            format!("{}-{}", claimed - 10, claimed - 1),
            "-100".to_owned(),
            format!("-{}", claimed + 5),
            format!("{claimed}-"),
        ] {
            let done = svc
                .cmd(&env)
                .args(["--store", &store, "cat", "t.bin", "--range", &range])
                .assert()
                .code(AUTH);
            let o = done.get_output();
            assert!(
                o.stdout.is_empty(),
                "{what}, --range {range}: {} bytes printed",
                o.stdout.len()
            );
        }
    }
}

/// `cat --range` on S3 at and past the end, as on local files
/// (tests/it/local.rs, cat_range_at_and_past_the_end).
#[test]
fn cat_range_at_and_past_the_end_of_an_s3_object() {
    let Some(svc) = services("cat_range_at_and_past_the_end_of_an_s3_object") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "range-end");
    let plain = data(1000, 12);
    env.write("e.bin", &plain);
    svc.cmd(&env)
        .args(["--store", &store, "put", "e.bin"])
        .assert()
        .success();
    for (range, want) in [
        ("1000-", &plain[1000..]),
        ("1000-5000", &plain[1000..]),
        ("990-", &plain[990..]),
        ("-5000", &plain[..]),
    ] {
        let got = out(&svc
            .cmd(&env)
            .args(["--store", &store, "cat", "e.bin", "--range", range])
            .assert()
            .success());
        assert!(got == want, "--range {range}");
    }
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "cat", "e.bin", "--range", "1001-"])
        .assert()
        .code(USAGE);
    let o = a.get_output();
    assert!(o.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&o.stderr);
    for want in [
        "--range 1001-",
        "e.bin",
        "1000 bytes",
        "START of at most 1000",
    ] {
        assert!(stderr.contains(want), "{want:?} missing: {stderr}");
    }
}

/// A malicious endpoint answers every GET of an operation but the first
/// with an older object of the same owner stored under the same key (so
/// its name binding holds), claiming the current ETag and length. What
/// was checked on the first answer (the context `tenant=alice`) must be
/// what is decrypted, shared or rewrapped: `cat --range` prints Alice's
/// bytes or fails with exit 4 and prints nothing, a share link carries
/// Alice's key, and rewrap writes nothing.
#[test]
fn swapped_answers_never_open_another_objects_data() {
    let Some(svc) = services("swapped_answers_never_open_another_objects_data") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "swap");
    let key = key_in(&store, "doc.bin");
    let rt = rt();
    // Bob's version first; the operator keeps its bytes.
    let bob = data(200_000, 41);
    env.write("doc.bin", &bob);
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "put",
            "doc.bin",
            "--context",
            "tenant=bob",
        ])
        .assert()
        .success();
    let (bob_raw, _) = rt.block_on(svc.get_raw(&key));
    // Then Alice's, of the same length, under the same key.
    let alice = data(200_000, 42);
    env.write("doc.bin", &alice);
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "put",
            "doc.bin",
            "--force",
            "--context",
            "tenant=alice",
        ])
        .assert()
        .success();
    let (alice_raw, alice_etag) = rt.block_on(svc.get_raw(&key));
    assert_eq!(alice_raw.len(), bob_raw.len());

    let prt = proxy_rt();
    let swap = FaultPlan::new(7).rule(
        Rule::new(
            Match::any().method("GET").path(key.as_str()),
            Fault::serve(bob_raw.clone(), alice_etag.clone()),
        )
        .skip(1),
    );
    let proxy = prt
        .block_on(FaultProxy::start(
            svc.s3_endpoint.as_str(),
            FaultPlan::passthrough(),
        ))
        .unwrap();
    let via = |env: &Env| {
        let mut c = svc.cmd(env);
        c.env("SEALSTREAM_ENDPOINT_URL", proxy.endpoint());
        c
    };

    // cat --range: inside the first answer, and far past it.
    for (range, want) in [("10-99", Some(&alice[10..100])), ("150000-150099", None)] {
        proxy.set_plan(swap.clone());
        let a = via(&env)
            .args([
                "--store",
                &store,
                "cat",
                "doc.bin",
                "--range",
                range,
                "--encryption-context",
                "tenant=alice",
            ])
            .assert();
        let o = a.get_output();
        let report = proxy.report();
        match want {
            Some(w) => assert!(
                o.status.success() && o.stdout == w,
                "--range {range}: {:?}, {} bytes\n{report}",
                o.status,
                o.stdout.len()
            ),
            None => {
                assert!(
                    o.status.code() == Some(AUTH) && o.stdout.is_empty(),
                    "--range {range}: {:?}, {} bytes\n{report}",
                    o.status,
                    o.stdout.len()
                );
                assert!(proxy.stats().count("serve") > 0, "not swapped\n{report}");
            }
        }
    }

    // share: the link's key opens Alice's object (read without the proxy
    // in the way), never Bob's.
    proxy.set_plan(swap.clone());
    let a = via(&env)
        .args([
            "--json",
            "--store",
            &store,
            "share",
            "doc.bin",
            "--encryption-context",
            "tenant=alice",
        ])
        .assert()
        .success();
    let link = json_one(&out(&a))["link"].as_str().unwrap().to_owned();
    proxy.set_plan(FaultPlan::passthrough());
    let other = Env::new();
    let got = out(&other.cmd().args(["get", &link, "-"]).assert().success());
    assert!(got == alice, "the share link does not open Alice's object");

    // rewrap: refused before anything is written.
    let new = env.keygen("new.key");
    proxy.set_plan(swap);
    let a = via(&env)
        .args([
            "--store",
            &store,
            "rewrap",
            "doc.bin",
            "--encryption-context",
            "tenant=alice",
            "--new-key-file",
        ])
        .arg(&new)
        .assert();
    let report = proxy.report();
    assert_eq!(a.get_output().status.code(), Some(AUTH), "rewrap\n{report}");
    assert!(proxy.stats().count("serve") > 0, "not swapped\n{report}");
    let (after, _) = rt.block_on(svc.get_raw(&key));
    assert!(after == alice_raw, "rewrap wrote the object\n{report}");
}

/// Replaces the stored bytes of `key` with `f(bytes)`.
async fn rewrite_object(svc: &Services, key: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let s3 = svc.s3().await;
    let mut bytes = s3
        .get_object()
        .bucket(&svc.bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec();
    f(&mut bytes);
    s3.put_object()
        .bucket(&svc.bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
}

#[test]
fn check_authenticates_s3_objects_and_names_the_bad_chunk() {
    let Some(svc) = services("check_authenticates_s3_objects_and_names_the_bad_chunk") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "check");
    let key = env.keygen("k.key");
    env.write("p.bin", &data(4 * 16_384 + 3, 5));
    for name in ["good.bin", "bad.bin", "cut.bin"] {
        svc.cmd(&env)
            .args(["--store", &store, "put", "p.bin", name, "--key-file"])
            .arg(&key)
            .assert()
            .success();
    }
    svc.cmd(&env)
        .args(["--store", &store, "check", "--key-file"])
        .arg(&key)
        .assert()
        .success()
        .stdout(contains("checked 3 of 3 objects: 3 ok, 0 failed"));
    // An S3 download written through a character device, not replacing it.
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "get",
            "good.bin",
            "/dev/null",
            "--force",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &std::fs::metadata("/dev/null").unwrap().file_type()
    ));
    let prefix = store
        .trim_start_matches(&format!("s3://{}/", svc.bucket))
        .to_owned();
    rt().block_on(async {
        rewrite_object(&svc, &format!("{prefix}/bad.bin"), |b| {
            b[4096 + 56 + 2 * 16_400 + 9] ^= 0x40;
        })
        .await;
        rewrite_object(&svc, &format!("{prefix}/cut.bin"), |b| {
            b.truncate(b.len() - 20);
        })
        .await;
    });
    svc.cmd(&env)
        .args(["--store", &store, "check", "--jobs", "2", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stdout(contains("FAILED bad.bin: "))
        .stdout(contains("chunk 2"))
        .stdout(contains("FAILED cut.bin: "))
        .stdout(contains("FAILED good.bin").not())
        .stdout(contains("checked 3 of 3 objects: 1 ok, 2 failed"));
    // A store URL as PREFIX, and --json.
    let a = svc
        .cmd(&env)
        .args(["--json", "check", &format!("{store}/"), "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH);
    let lines = json_lines(&a.get_output().stdout);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let bad = lines.iter().find(|v| v["object"] == "bad.bin").unwrap();
    assert_eq!(bad["chunk"], 2);
    assert_eq!(bad["exit_code"], AUTH);
    let good = lines.iter().find(|v| v["object"] == "good.bin").unwrap();
    assert_eq!(good["ok"], true);
    assert_eq!(lines[3]["failed"], 2);
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "check",
            "good",
            "--sample",
            "100",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success()
        .stdout(contains("checked 1 of 1 objects: 1 ok, 0 failed"));
    svc.cmd(&env)
        .args(["--store", &store, "check", "--sample", "0", "--key-file"])
        .arg(&key)
        .assert()
        .success()
        .stdout(contains("checked 0 of 3 objects"));
}

#[test]
fn rm_removes_s3_objects_and_prefixes() {
    let Some(svc) = services("rm_removes_s3_objects_and_prefixes") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "rm");
    let key = env.keygen("k.key");
    env.write("p.bin", &data(1000, 2));
    for name in ["d/x", "d/y", "d2/z", "top"] {
        svc.cmd(&env)
            .args(["--store", &store, "put", "p.bin", name, "--key-file"])
            .arg(&key)
            .assert()
            .success();
    }
    let rm = |args: &[&str]| {
        let mut c = svc.cmd(&env);
        c.args(["--store", &store, "rm"]).args(args);
        c
    };
    rm(&["d/"]).assert().code(USAGE);
    rm(&["top", "d/nosuch"])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("d/nosuch"));
    rm(&["-r", "d", "-n"])
        .assert()
        .success()
        .stdout(contains("would remove").count(2));
    rm(&["top"])
        .assert()
        .success()
        .stdout(contains(format!("removed {store}/top")));
    rm(&["-r", "d/"])
        .assert()
        .success()
        .stdout(contains(format!("removed {store}/d/x")))
        .stdout(contains(format!("removed {store}/d/y")));
    let left = json_lines(&out(&svc
        .cmd(&env)
        .args(["--json", "--store", &store, "ls"])
        .assert()
        .success()));
    let names: Vec<&str> = left.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["d2/z"]);
    svc.cmd(&env)
        .args(["rm", &format!("{store}/d2/z")])
        .assert()
        .success();
    rm(&["-r", "d2"]).assert().code(NOT_FOUND);
}

/// `rm -r` reports each key S3 refuses in a DeleteObjects batch, removes (and reports) the
/// others, and exits with the service code. The refusal is a `200` DeleteObjects result
/// with an `<Error>` entry, answered by the fault proxy (a named fake: the real server
/// cannot be made to refuse one key of a batch).
#[test]
fn rm_reports_each_key_s3_refuses_in_a_batch() {
    let Some(svc) = services("rm_reports_each_key_s3_refuses_in_a_batch") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "rm-refused");
    let key = env.keygen("k.key");
    env.write("p.bin", &data(100, 3));
    for name in ["d/x", "d/y", "d/z"] {
        svc.cmd(&env)
            .args(["--store", &store, "put", "p.bin", name, "--key-file"])
            .arg(&key)
            .assert()
            .success();
    }
    let (_, key_prefix) = store.trim_start_matches("s3://").split_once('/').unwrap();
    let answer = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Deleted><Key>{key_prefix}/d/x</Key></Deleted>\
         <Error><Key>{key_prefix}/d/y</Key><Code>AccessDenied</Code>\
         <Message>Access Denied</Message></Error>\
         <Deleted><Key>{key_prefix}/d/z</Key></Deleted></DeleteResult>"
    );
    let prt = proxy_rt();
    let plan = FaultPlan::new(11).rule(Rule::new(
        Match::any().method("POST").query("delete"),
        Fault::reply(200, answer),
    ));
    let proxy = prt
        .block_on(FaultProxy::start(svc.s3_endpoint.as_str(), plan))
        .unwrap();
    let rm = |json: bool| {
        let mut c = svc.cmd(&env);
        c.env("SEALSTREAM_ENDPOINT_URL", proxy.endpoint());
        if json {
            c.arg("--json");
        }
        c.args(["--store", &store, "rm", "-r", "d/"]);
        c
    };
    let a = rm(false).assert().code(SERVICE);
    let o = a.get_output();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        stdout.contains(&format!("removed {store}/d/x"))
            && stdout.contains(&format!("removed {store}/d/z"))
            && !stdout.contains("d/y"),
        "{stdout}\n{}",
        proxy.report()
    );
    assert!(
        stderr.contains(&format!("not removed: {store}/d/y: AccessDenied"))
            && stderr.contains("1 object(s) were not removed"),
        "{stderr}"
    );
    assert_eq!(proxy.stats().injected.get("reply-200"), Some(&1));

    let lines = json_lines(&rm(true).assert().code(SERVICE).get_output().stdout);
    let refused: Vec<_> = lines.iter().filter(|v| v["removed"] == false).collect();
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert_eq!(refused[0]["object"], format!("{store}/d/y"));
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("AccessDenied")),
        "{lines:?}"
    );
    assert_eq!(lines.iter().filter(|v| v["removed"] == true).count(), 2);
}

/// `mv` of an S3 object leaves the object under its new name only (the source is deleted
/// through the store layer's delete), and a refused delete of the source is reported with
/// the store's service exit code while the copy stays. The refusal is answered by the fault
/// proxy (the real server cannot be made to refuse one DeleteObject).
#[test]
fn mv_s3_removes_the_source_and_reports_a_refused_delete() {
    let Some(svc) = services("mv_s3_removes_the_source_and_reports_a_refused_delete") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "mv");
    let key = env.keygen("k.key");
    let want = data(70_000, 9);
    env.write("p.bin", &want);
    svc.cmd(&env)
        .args(["--store", &store, "put", "p.bin", "a", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    svc.cmd(&env)
        .args(["--store", &store, "mv", "a", "b", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    let names = |svc: &Services| -> Vec<String> {
        json_lines(&out(&svc
            .cmd(&env)
            .args(["--json", "--store", &store, "ls"])
            .assert()
            .success()))
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect()
    };
    assert_eq!(names(&svc), ["b"]);
    svc.cmd(&env)
        .args(["--store", &store, "get", "b", "b.out", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    assert!(env.read("b.out") == want, "the renamed object differs");

    let prt = proxy_rt();
    let plan = FaultPlan::new(12).rule(Rule::new(
        Match::any().method("DELETE"),
        Fault::reply(
            403,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
             <Message>Access Denied</Message></Error>",
        ),
    ));
    let proxy = prt
        .block_on(FaultProxy::start(svc.s3_endpoint.as_str(), plan))
        .unwrap();
    svc.cmd(&env)
        .env("SEALSTREAM_ENDPOINT_URL", proxy.endpoint())
        .args(["--store", &store, "mv", "b", "c", "--key-file"])
        .arg(&key)
        .assert()
        .code(SERVICE)
        .stderr(contains("removing the source"))
        .stderr(contains("AccessDenied").or(contains("refused")));
    assert_eq!(proxy.stats().injected.get("reply-403"), Some(&1));
    assert_eq!(names(&svc), ["b", "c"]);
}
