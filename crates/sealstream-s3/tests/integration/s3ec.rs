//! Amazon S3 Encryption Client objects written by the real Python client
//! (`amazon-s3-encryption-client-python` 4.0.0, tests/s3ec/write_objects.py)
//! to the local S3 server with keys from the local KMS server: opened byte
//! for byte, refused when tampered with, and migrated.
//!
//! The Python client pins cryptography<49 (the main venv needs >=50), so it
//! runs from its own venv, target/s3ec-python, created here on first use
//! (or `SEALSTREAM_TEST_S3EC_PYTHON`).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    missing_docs
)]

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use sealstream_kms::KmsProvider;
use sealstream_s3::s3ec::{Error, Format, S3ecKeys, S3ecObject, Storage};
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
    let py = venv.join("bin/python");
    let req = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3ec/requirements.txt");
    let stamp = venv.join(".sealstream-stamp");
    let want = std::fs::read_to_string(&req).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        let ok = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .unwrap();
        assert!(ok.success(), "python3 -m venv {} failed", venv.display());
        let ok = Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&req)
            .status()
            .unwrap();
        assert!(ok.success(), "pip install -r {} failed", req.display());
        std::fs::write(&stamp, want).unwrap();
    }
    py
}

struct Written {
    kms_key_id: String,
    objects: Vec<Value>,
}

/// Runs the real client once per test binary's call; returns its manifest.
fn write_objects(bucket: &str, prefix: &str) -> Written {
    write_objects_with(bucket, prefix, &[])
}

fn write_objects_with(bucket: &str, prefix: &str, extra: &[&str]) -> Written {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3ec/write_objects.py");
    let out = Command::new(python())
        .arg(script)
        .arg(bucket)
        .arg(prefix)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python S3 Encryption Client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Written {
        kms_key_id: v["kms_key_id"].as_str().unwrap().to_owned(),
        objects: v["objects"].as_array().unwrap().clone(),
    }
}

async fn kms_keys(key_id: Option<&str>) -> S3ecKeys {
    // Callers skip unless the KMS endpoint is set.
    let endpoint = std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT").expect("KMS endpoint");
    let sdk = common::sdk_config(&endpoint).await;
    S3ecKeys::kms(
        KmsProvider::client(&sdk),
        key_id.into_iter().map(str::to_owned).collect(),
    )
}

fn context_of(o: &Value) -> BTreeMap<String, String> {
    o["context"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn kms_configured(test: &str) -> bool {
    if std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT").is_err() {
        eprintln!("SKIP {test}: SEALSTREAM_TEST_KMS_ENDPOINT is unset");
        return false;
    }
    true
}

/// Every object the real client wrote (V2 and V3, KMS keyring, sizes 0, 1,
/// 16 KiB, 5 MiB + 1, 40 MiB, with and without a context, metadata and
/// instruction-file storage) opens byte-identical, into a file and
/// through a writer; `head` reports what it is without a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_objects_open_byte_identical() {
    let env = env_or_skip!("s3ec_interop", sealstream_s3::Config::default());
    if !kms_configured("s3ec_interop") {
        return;
    }
    let w = write_objects(&env.bucket, &env.prefix);
    let keys = kms_keys(Some(&w.kms_key_id)).await;
    let dir = tempdir("interop");
    assert_eq!(w.objects.len(), 24);
    for o in &w.objects {
        let key = o["key"].as_str().unwrap();
        let size = o["size"].as_u64().unwrap() as usize;
        let want = plaintext(size, o["seed"].as_u64().unwrap());
        let ctx = context_of(o);
        let obj = S3ecObject::head(env.client.s3(), &env.bucket, key)
            .await
            .unwrap()
            .unwrap();
        let env_ = obj.envelope();
        let fmt = if o["format"] == "V2" {
            Format::V2
        } else {
            Format::V3
        };
        assert_eq!(env_.format(), fmt, "{key}");
        let storage = if o["storage"] == "metadata" {
            Storage::ObjectMetadata
        } else {
            Storage::InstructionFile
        };
        assert_eq!(env_.storage(), storage, "{key}");
        assert_eq!(env_.user_context(), ctx, "{key}");
        assert_eq!(obj.plaintext_len(), size as u64);

        let path = dir.join(key.replace('/', "_"));
        let n = obj
            .download_to_file(env.client.s3(), &keys, &ctx, &path)
            .await
            .unwrap();
        assert_eq!(n, size as u64);
        assert!(
            std::fs::read(&path).unwrap() == want,
            "{key}: not byte-identical"
        );
        std::fs::remove_file(&path).unwrap();

        if size <= 16 * 1024 + 3 {
            let mut out = Vec::new();
            obj.download_to_writer(env.client.s3(), &keys, &ctx, &mut out, &dir)
                .await
                .unwrap();
            assert!(out == want, "{key}: writer not byte-identical");
        }
    }
    // The spool files are gone.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    // Discovery (no KeyId) opens too; a wrong caller context is refused.
    let o = &w.objects[3];
    let key = o["key"].as_str().unwrap();
    let obj = S3ecObject::head(env.client.s3(), &env.bucket, key)
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    obj.download_to_writer(
        env.client.s3(),
        &kms_keys(None).await,
        &context_of(o),
        &mut out,
        &dir,
    )
    .await
    .unwrap();
    let err = obj
        .download_to_writer(
            env.client.s3(),
            &keys,
            &BTreeMap::new(),
            &mut Vec::new(),
            &dir,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ContextMismatch { .. }), "{err}");
    assert!(err.is_integrity_failure());
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sealstream-s3ec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn head_meta(env: &common::TestEnv, key: &str) -> HashMap<String, String> {
    env.client
        .s3()
        .head_object()
        .bucket(&env.bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .metadata()
        .cloned()
        .unwrap_or_default()
}

async fn put_with_meta(
    env: &common::TestEnv,
    key: &str,
    body: Vec<u8>,
    meta: HashMap<String, String>,
) {
    env.client
        .s3()
        .put_object()
        .bucket(&env.bucket)
        .key(key)
        .body(body.into())
        .set_metadata(Some(meta))
        .send()
        .await
        .unwrap();
}

/// Copies `src` (object and instruction file) to `dst`, letting `edit`
/// change the body, the object metadata and the instruction file.
async fn tampered_copy(
    env: &common::TestEnv,
    src: &str,
    dst: &str,
    edit: impl FnOnce(&mut Vec<u8>, &mut HashMap<String, String>, &mut Option<Vec<u8>>),
) {
    let mut body = env.get_raw(src).await;
    let mut meta = head_meta(env, src).await;
    let inst_key = format!("{src}.instruction");
    let mut inst = if env.exists(&inst_key).await {
        Some(env.get_raw(&inst_key).await)
    } else {
        None
    };
    edit(&mut body, &mut meta, &mut inst);
    put_with_meta(env, dst, body, meta).await;
    if let Some(i) = inst {
        env.put_raw(&format!("{dst}.instruction"), i).await;
    }
}

fn flip_b64(v: &str) -> String {
    use base64ct::{Base64, Encoding};
    let mut b = Base64::decode_vec(v).unwrap();
    b[0] ^= 1;
    Base64::encode_string(&b)
}

/// Tampered objects (flipped ciphertext byte, flipped tag, changed
/// x-amz-d, changed KMS context, swapped instruction file) fail as
/// integrity failures, and nothing is written under the destination name;
/// a migration of one completes nothing and leaves no upload behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_objects_fail_and_write_nothing() {
    let env = env_or_skip!("s3ec_tamper", common::small_parts());
    if !kms_configured("s3ec_tamper") {
        return;
    }
    let w = write_objects(&env.bucket, &env.prefix);
    let keys = kms_keys(Some(&w.kms_key_id)).await;
    let dir = tempdir("tamper");
    let find = |name: &str| {
        w.objects
            .iter()
            .find(|o| o["key"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    let mut cases: Vec<(String, Value)> = Vec::new();
    for (fmt, o) in [
        ("v2", find("v2-16384-ctx")),
        ("v3", find("v3-16384-ctx")),
        ("v3big", find("v3-5242881-ctx")),
    ] {
        let src = o["key"].as_str().unwrap().to_owned();
        let t = |n: &str| env.key(&format!("tampered/{fmt}-{n}"));
        tampered_copy(&env, &src, &t("ct"), |b, _, _| b[100] ^= 1).await;
        cases.push((t("ct"), o.clone()));
        tampered_copy(&env, &src, &t("tag"), |b, _, _| {
            *b.last_mut().unwrap() ^= 0x80
        })
        .await;
        cases.push((t("tag"), o.clone()));
        tampered_copy(&env, &src, &t("truncated"), |b, _, _| {
            b.pop();
        })
        .await;
        cases.push((t("truncated"), o.clone()));
        let ctx_field = if fmt == "v2" {
            "x-amz-matdesc"
        } else {
            "x-amz-t"
        };
        tampered_copy(&env, &src, &t("kmsctx"), |_, m, _| {
            let v = m[ctx_field].replace("finance", "finanze");
            m.insert(ctx_field.into(), v);
        })
        .await;
        // The caller gives the context the tampered metadata claims.
        let mut claimed = o.clone();
        claimed["context"]["department"] = "finanze".into();
        cases.push((t("kmsctx"), claimed));
        if fmt != "v2" {
            tampered_copy(&env, &src, &t("commitment"), |_, m, _| {
                let v = flip_b64(&m["x-amz-d"]);
                m.insert("x-amz-d".into(), v);
            })
            .await;
            cases.push((t("commitment"), o.clone()));
        }
    }
    // Swapped instruction files: another object's, same key and context.
    for (a, b) in [
        ("v2-inst-ctx", "v2-inst-ctx"),
        ("v3-inst-ctx", "v3-inst-ctx"),
    ] {
        let o = find(a);
        let src = o["key"].as_str().unwrap().to_owned();
        // A second object of the same kind: written by the client again.
        let other = write_one_more(&env, &w, b).await;
        let dst = env.key(&format!("tampered/{a}-swapped"));
        let other_inst = env.get_raw(&format!("{other}.instruction")).await;
        tampered_copy(&env, &src, &dst, |_, _, i| *i = Some(other_inst)).await;
        cases.push((dst, o.clone()));
    }
    for (key, o) in &cases {
        let ctx = context_of(o);
        let path = dir.join("out");
        let res = match S3ecObject::head(env.client.s3(), &env.bucket, key).await {
            Ok(Some(obj)) => {
                obj.download_to_file(env.client.s3(), &keys, &ctx, &path)
                    .await
            }
            Ok(None) => panic!("{key}: not detected"),
            Err(e) => Err(e),
        };
        let err = res.expect_err(key);
        assert!(err.is_integrity_failure(), "{key}: {err}");
        assert!(!path.exists(), "{key}: output written");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "{key}: temporary file left"
        );

        // Migrating it completes nothing and leaves no upload.
        if let Ok(Some(obj)) = S3ecObject::head(env.client.s3(), &env.bucket, key).await {
            let dst = format!("{key}.migrated");
            let err = env
                .client
                .migrate_s3ec(&obj, &keys, &env.bucket, &dst)
                .await
                .expect_err(key);
            assert!(err.is_integrity_failure(), "{key}: {err}");
            assert!(!env.exists(&dst).await, "{key}: migrated object exists");
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        env.uploads().await.is_empty(),
        "uploads left: {:?}",
        env.uploads().await
    );
}

/// Writes more instruction-file objects with the real client under the
/// same KMS key (for swapping instruction files); returns the key of the
/// `kind` one.
async fn write_one_more(env: &common::TestEnv, w: &Written, kind: &str) -> String {
    let prefix = env.key(&format!("other-{kind}/"));
    let more = write_objects_with(&env.bucket, &prefix, &[&w.kms_key_id, "--instruction-only"]);
    more.objects
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_owned())
        .find(|k| k.ends_with(kind))
        .unwrap()
}

/// Migration: the sealstream object opens to the same bytes and keeps the
/// S3EC context; the source is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_makes_identical_sealstream_objects() {
    let env = env_or_skip!("s3ec_migrate", common::small_parts());
    if !kms_configured("s3ec_migrate") {
        return;
    }
    let w = write_objects(&env.bucket, &env.prefix);
    let keys = kms_keys(None).await;
    for o in &w.objects {
        let key = o["key"].as_str().unwrap();
        let size = o["size"].as_u64().unwrap() as usize;
        if size == 40 * 1024 * 1024 && !key.contains("v3-") {
            continue;
        }
        let before = env.get_raw(key).await;
        let obj = S3ecObject::head(env.client.s3(), &env.bucket, key)
            .await
            .unwrap()
            .unwrap();
        let dst = env.key(&format!("migrated/{}", key.rsplit('/').next().unwrap()));
        let out = env
            .client
            .migrate_s3ec(&obj, &keys, &env.bucket, &dst)
            .await
            .unwrap();
        assert_eq!(out.upload.plaintext_len, size as u64);
        let got: BTreeMap<String, String> = out
            .context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(got, context_of(o));
        let back = env.client.get_range(&env.bucket, &dst, 0..u64::MAX).await;
        let want = plaintext(size, o["seed"].as_u64().unwrap());
        match back {
            Ok(b) => assert!(b.to_vec() == want, "{key}: migrated object differs"),
            Err(e) => assert!(size == 0, "{key}: {e}"),
        }
        assert!(env.get_raw(key).await == before, "{key}: source changed");
    }
}

/// Objects whose data key is wrapped with a raw AES key (AES-256 and
/// AES-128) or an RSA key, V2 and V3 (tests/s3ec/write_raw_objects.py: the
/// real client's content and metadata, re-wrapped as the Java client's
/// AesKeyring and RsaKeyring do, read back by the real client's decrypt
/// pipeline): each opens byte-identical; a wrong key, a missing key, a
/// modified wrapped key and a caller context are refused; a modified V3
/// commitment is caught after the raw unwrap.
#[cfg(feature = "s3ec-rsa")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_aes_and_rsa_wrapped_objects_open_byte_identical() {
    use sealstream_s3::s3ec::Wrapping;
    let env = env_or_skip!("s3ec_raw_keys", sealstream_s3::Config::default());
    if !kms_configured("s3ec_raw_keys") {
        return;
    }
    let dir = tempdir("raw-keys");
    let key_dir = dir.join("keys");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3ec/write_raw_objects.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&env.bucket)
        .arg(&env.prefix)
        .arg(&key_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "write_raw_objects.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = manifest["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 24);
    let read = |name: &str| std::fs::read(key_dir.join(name)).unwrap();
    let aes128 = {
        use base64ct::{Base64, Encoding};
        let text = String::from_utf8(read("aes128.b64")).unwrap();
        Base64::decode_vec(text.trim()).unwrap()
    };
    let keys = S3ecKeys::default()
        .with_aes_key(&read("aes256.key"))
        .unwrap()
        .with_aes_key(&aes128)
        .unwrap()
        .with_rsa_private_key(&read("rsa.pem"))
        .unwrap();
    let none = BTreeMap::new();
    for o in objects {
        let key = o["key"].as_str().unwrap();
        let size = o["size"].as_u64().unwrap() as usize;
        let want = plaintext(size, o["seed"].as_u64().unwrap());
        let obj = S3ecObject::head(env.client.s3(), &env.bucket, key)
            .await
            .unwrap()
            .unwrap();
        let wrapping = if o["wrapping"] == "AES/GCM" {
            Wrapping::AesGcm
        } else {
            Wrapping::RsaOaepSha1
        };
        assert_eq!(obj.envelope().wrapping(), wrapping, "{key}");
        let path = dir.join(key.replace('/', "_"));
        let n = obj
            .download_to_file(env.client.s3(), &keys, &none, &path)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(n, size as u64);
        assert!(
            std::fs::read(&path).unwrap() == want,
            "{key}: not byte-identical"
        );
        std::fs::remove_file(&path).unwrap();
    }

    let find = |fmt: &str, wrap: &str| {
        objects
            .iter()
            .find(|o| o["format"] == fmt && o["wrap_key"] == wrap && o["size"] == 16384)
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let refused = |keys: S3ecKeys, key: String, ctx: BTreeMap<String, String>| {
        let env = &env;
        let dir = &dir;
        async move {
            let obj = S3ecObject::head(env.client.s3(), &env.bucket, &key)
                .await
                .unwrap()
                .unwrap();
            let path = dir.join("refused");
            let e = obj
                .download_to_file(env.client.s3(), &keys, &ctx, &path)
                .await
                .unwrap_err();
            assert!(!path.exists(), "{key}: output written");
            e
        }
    };
    // Wrong keys of the right kind, and no key of that kind.
    let wrong = S3ecKeys::default()
        .with_aes_key(&read("other-aes256.key"))
        .unwrap()
        .with_rsa_private_key(&read("other-rsa.pem"))
        .unwrap();
    for (fmt, wrap) in [
        ("V2", "aes256"),
        ("V3", "aes256"),
        ("V2", "rsa"),
        ("V3", "rsa"),
    ] {
        let e = refused(wrong.clone(), find(fmt, wrap), none.clone()).await;
        assert!(matches!(e, Error::NoKey { .. }), "{fmt} {wrap}: {e}");
        let e = refused(S3ecKeys::default(), find(fmt, wrap), none.clone()).await;
        assert!(
            matches!(e, Error::NoKey { .. }) && e.to_string().contains("--s3ec-"),
            "{fmt} {wrap}: {e}"
        );
    }
    // A caller context cannot be checked against a raw wrapping.
    let ctx: BTreeMap<String, String> = [("tenant".to_owned(), "alice".to_owned())].into();
    let e = refused(keys.clone(), find("V3", "rsa"), ctx).await;
    assert!(matches!(e, Error::ContextMismatch { .. }), "{e}");

    // A modified wrapped key, and (V3) a modified commitment.
    for (fmt, wrap, field) in [
        ("V2", "aes256", "x-amz-key-v2"),
        ("V3", "rsa", "x-amz-3"),
        ("V3", "aes128", "x-amz-d"),
    ] {
        let src = find(fmt, wrap);
        let dst = format!("{src}-tampered-{field}");
        tampered_copy(&env, &src, &dst, |_, m, _| {
            let v = m.get_mut(field).unwrap();
            *v = flip_b64(v);
        })
        .await;
        let e = refused(keys.clone(), dst, none.clone()).await;
        let ok = match field {
            "x-amz-d" => matches!(e, Error::CommitmentMismatch { .. }),
            _ => matches!(e, Error::NoKey { .. }),
        };
        assert!(ok, "{fmt} {wrap} {field}: {e}");
    }
}
