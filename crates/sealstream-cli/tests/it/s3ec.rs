//! `get`, `cat`, `inspect` and `migrate` of Amazon S3 Encryption Client
//! objects written by the real Python client (crates/sealstream-s3/tests/
//! s3ec/write_objects.py, `amazon-s3-encryption-client-python` 4.0.0 in its
//! own venv, target/s3ec-python), with keys from the local KMS server.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

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

/// The bucket, a test environment and a fresh key prefix `cli-tests/NAME-TAG/`,
/// or `None` (after a skip line) without the local S3 and KMS servers.
fn setup(test: &str, name: &str) -> Option<(String, Env, String)> {
    let (Ok(_), Ok(_)) = (
        std::env::var("SEALSTREAM_TEST_S3_ENDPOINT"),
        std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT"),
    ) else {
        assert!(std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"));
        eprintln!("skipping {test}: no local S3/KMS servers");
        return None;
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
    let prefix = format!("cli-tests/{name}-{tag}/");
    Some((bucket, env, prefix))
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
    let Some((bucket, env, prefix)) = setup("s3ec_get_cat_inspect_migrate", "s3ec") else {
        return;
    };
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

/// Raw-key S3EC objects (AES/GCM with AES-256 and AES-128 keys,
/// RSA-OAEP-SHA1; V2 and V3; crates/sealstream-s3/tests/s3ec/
/// write_raw_objects.py): `get` opens each byte-identical with
/// `--s3ec-aes-key` / `--s3ec-rsa-key`, a missing key is exit 5 naming the
/// option, a key file readable by others is refused, and `migrate` converts
/// them all into sealstream objects under a KMS key.
#[test]
fn s3ec_raw_key_objects_get_and_migrate() {
    let Some((bucket, env, prefix)) = setup("s3ec_raw_key_objects_get_and_migrate", "s3ec-raw")
    else {
        return;
    };
    let keys = env.path("keys");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sealstream-s3/tests/s3ec/write_raw_objects.py");
    let out = StdCommand::new(python())
        .arg(script)
        .arg(&bucket)
        .arg(&prefix)
        .arg(&keys)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kms = m["kms_key_id"].as_str().unwrap().to_owned();
    let key = |n: &str| keys.join(n).display().to_string();
    let raw_args = [
        "--s3ec-aes-key".to_owned(),
        key("aes256.key"),
        "--s3ec-aes-key".to_owned(),
        key("aes128.b64"),
        "--s3ec-rsa-key".to_owned(),
        key("rsa.pem"),
    ];
    let objects = m["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 24);
    for o in objects {
        let url = format!("s3://{bucket}/{}", o["key"].as_str().unwrap());
        let want = plaintext(
            o["size"].as_u64().unwrap() as usize,
            o["seed"].as_u64().unwrap(),
        );
        cmd(&env)
            .args(["get", &url, "out", "--force"])
            .args(&raw_args)
            .assert()
            .success();
        assert!(env.read("out") == want, "{url}: get not byte-identical");
    }

    let rsa_obj = objects.iter().find(|o| o["wrap_key"] == "rsa").unwrap();
    let url = format!("s3://{bucket}/{}", rsa_obj["key"].as_str().unwrap());
    let res = cmd(&env)
        .args([
            "get",
            &url,
            "none-out",
            "--s3ec-aes-key",
            &key("aes256.key"),
        ])
        .assert()
        .code(common::KEY);
    let err = String::from_utf8_lossy(&res.get_output().stderr).into_owned();
    assert!(err.contains("--s3ec-rsa-key"), "{err}");
    assert!(!env.path("none-out").exists());

    let loose = env.path("loose.key");
    std::fs::copy(keys.join("aes256.key"), &loose).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let aes_obj = objects.iter().find(|o| o["wrap_key"] == "aes256").unwrap();
    let url = format!("s3://{bucket}/{}", aes_obj["key"].as_str().unwrap());
    let res = cmd(&env)
        .args(["get", &url, "loose-out", "--s3ec-aes-key"])
        .arg(&loose)
        .assert()
        .code(common::KEY);
    let err = String::from_utf8_lossy(&res.get_output().stderr).into_owned();
    assert!(err.contains("chmod 600"), "{err}");

    let to = format!("s3://{bucket}/{prefix}migrated/");
    let res = cmd(&env)
        .args([
            "--json",
            "migrate",
            &format!("s3://{bucket}/{prefix}"),
            "--to",
            &to,
            "--kms-key",
            &kms,
        ])
        .args(&raw_args)
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&res.get_output().stdout).unwrap();
    assert_eq!(v["migrated"], 24, "{v}");
    for o in objects {
        let rel = o["key"].as_str().unwrap().strip_prefix(&prefix).unwrap();
        let want = plaintext(
            o["size"].as_u64().unwrap() as usize,
            o["seed"].as_u64().unwrap(),
        );
        cmd(&env)
            .args([
                "get",
                &format!("{to}{rel}"),
                "mig",
                "--force",
                "--kms-key",
                &kms,
            ])
            .assert()
            .success();
        assert!(env.read("mig") == want, "{rel}: migrated object differs");
    }
}
