//! `get`, `cat`, `inspect` and `migrate` of Amazon S3 Encryption Client
//! objects written by the real Python client (crates/sealstream-s3/tests/
//! s3ec/write_objects.py, `amazon-s3-encryption-client-python` 4.0.0 in its
//! own venv, target/s3ec-python), with keys from the local KMS server.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use common::{AUTH, Env};
use serde_json::Value;

fn plaintext(size: usize, seed: u64) -> Vec<u8> {
    (0..size)
        .map(|i| ((i as u64 * 31 + seed) % 251) as u8)
        .collect()
}

/// The venv's Python, made once per test binary (the tests of a binary
/// run in parallel; binaries run one after another).
fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(make_python).clone()
}

fn make_python() -> PathBuf {
    if let Ok(p) = std::env::var("SEALSTREAM_TEST_S3EC_PYTHON") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join("target/s3ec-python");
    let req = root.join("crates/sealstream-s3/tests/s3ec/requirements.txt");
    let stamp = venv.join(".sealstream-stamp");
    let want = std::fs::read_to_string(&req).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        assert!(
            StdCommand::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .status()
                .unwrap()
                .success()
        );
        assert!(
            StdCommand::new(venv.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r"
                ])
                .arg(&req)
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(&stamp, want).unwrap();
    }
    venv.join("bin/python")
}

fn cmd(env: &Env) -> Command {
    let mut c = env.cmd();
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        c.env(k, v);
    }
    c.env(
        "SEALSTREAM_ENDPOINT_URL",
        std::env::var("SEALSTREAM_TEST_S3_ENDPOINT").unwrap(),
    );
    c.env(
        "SEALSTREAM_KMS_ENDPOINT_URL",
        std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT").unwrap(),
    );
    c.timeout(std::time::Duration::from_secs(300));
    c
}

fn ctx_args(o: &Value) -> Vec<String> {
    o["context"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(k, v)| {
            [
                "--encryption-context".to_owned(),
                format!("{k}={}", v.as_str().unwrap()),
            ]
        })
        .collect()
}

/// The whole CLI path, against the real client's objects: every object
/// opens byte-identical with `get` (and `cat` for the small ones),
/// `inspect` names the format without a key, tampered objects exit 4 with
/// nothing written, and `migrate` converts every object (the result opens
/// to the same bytes) and fails with exit 4 on a tampered prefix.
#[test]
fn s3ec_get_cat_inspect_migrate() {
    let (Ok(_), Ok(_)) = (
        std::env::var("SEALSTREAM_TEST_S3_ENDPOINT"),
        std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT"),
    ) else {
        assert!(std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"));
        eprintln!("skipping s3ec_get_cat_inspect_migrate: no local S3/KMS servers");
        return;
    };
    let bucket =
        std::env::var("SEALSTREAM_TEST_S3_BUCKET").unwrap_or_else(|_| "sealstream-test".into());
    let env = Env::new();
    let tag = env
        .work()
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('.', "-");
    let prefix = format!("cli-tests/s3ec-{tag}/");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sealstream-s3/tests/s3ec/write_objects.py");
    let out = StdCommand::new(python())
        .arg(script)
        .arg(&bucket)
        .arg(&prefix)
        .arg("--with-tampered")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kms = m["kms_key_id"].as_str().unwrap().to_owned();

    for o in m["objects"].as_array().unwrap() {
        let url = format!("s3://{bucket}/{}", o["key"].as_str().unwrap());
        let want = plaintext(
            o["size"].as_u64().unwrap() as usize,
            o["seed"].as_u64().unwrap(),
        );
        cmd(&env)
            .args(["get", &url, "out", "--force", "--kms-key", &kms])
            .args(ctx_args(o))
            .assert()
            .success();
        assert!(env.read("out") == want, "{url}: get not byte-identical");
        if want.len() <= 16 * 1024 + 3 {
            let got = cmd(&env)
                .args(["cat", &url, "--kms-key", &kms])
                .args(ctx_args(o))
                .assert()
                .success();
            assert!(
                got.get_output().stdout == want,
                "{url}: cat not byte-identical"
            );
        }
    }
    let first = &m["objects"][0];
    let url = format!(
        "s3://{bucket}/{}",
        m["objects"][20]["key"].as_str().unwrap()
    );
    let shown = cmd(&env)
        .args(["--json", "inspect", &url])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&shown.get_output().stdout).unwrap();
    assert_eq!(v["format"], "Amazon S3 Encryption Client V3", "{v}");
    assert_eq!(v["key_wrapping"], "kms+context");
    let _ = first;

    for t in m["tampered"].as_array().unwrap() {
        let url = format!("s3://{bucket}/{}", t["key"].as_str().unwrap());
        let dest = env.path("tampered-out");
        cmd(&env)
            .args(["get", &url, "tampered-out", "--kms-key", &kms])
            .args(ctx_args(t))
            .assert()
            .code(AUTH);
        assert!(!dest.exists(), "{url}: output written");
        let leftovers = std::fs::read_dir(env.work())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("tampered-out")
            })
            .count();
        assert_eq!(leftovers, 0, "{url}: temporary file left");
    }

    // migrate: the clean objects convert, the tampered ones fail (exit 4)
    // and produce nothing.
    let to = format!("s3://{bucket}/{prefix}migrated/");
    let clean = format!("s3://{bucket}/{prefix}");
    let res = cmd(&env)
        .args(["--json", "migrate", &clean, "--to", &to, "--kms-key", &kms])
        .assert()
        .code(AUTH);
    let v: Value = serde_json::from_slice(&res.get_output().stdout).unwrap();
    assert_eq!(v["migrated"], 24, "{v}");
    assert_eq!(v["failed"], m["tampered"].as_array().unwrap().len(), "{v}");
    for o in m["objects"].as_array().unwrap() {
        let rel = o["key"].as_str().unwrap().strip_prefix(&prefix).unwrap();
        let url = format!("{to}{rel}");
        let want = plaintext(
            o["size"].as_u64().unwrap() as usize,
            o["seed"].as_u64().unwrap(),
        );
        cmd(&env)
            .args(["get", &url, "mig", "--force", "--kms-key", &kms])
            .args(ctx_args(o))
            .assert()
            .success();
        assert!(env.read("mig") == want, "{url}: migrated object differs");
    }
    for t in m["tampered"].as_array().unwrap() {
        let rel = t["key"].as_str().unwrap().strip_prefix(&prefix).unwrap();
        cmd(&env)
            .args(["inspect", &format!("{to}{rel}")])
            .assert()
            .code(common::NOT_FOUND);
    }
}
