//! Crash safety against the real local S3 server: `put` and `get` killed
//! with SIGKILL at a known point (the test-only hooks
//! SEALSTREAM_TEST_PAUSE_AFTER_PART and SEALSTREAM_TEST_PAUSE_AFTER_BYTES
//! stop the command there for good), then what is left behind, `cleanup`,
//! and `put --resume`.
//!
//! Needs the services (`source .test-services/env`); otherwise each test
//! prints a skip line, or fails with SEALSTREAM_REQUIRE_SERVICES=1.

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use assert_cmd::Command as AssertCommand;
use common::{Env, USAGE, data, files_in, json_one};

/// 40 MiB in 5 MiB parts: an upload of eight parts.
const BIG: usize = 40 << 20;
const PARTS: usize = 8;

struct Services {
    endpoint: String,
    bucket: String,
    aws_env: Vec<(String, String)>,
    s3: aws_sdk_s3::Client,
    rt: tokio::runtime::Runtime,
}

fn services(test: &str) -> Option<Services> {
    let Ok(endpoint) = std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") else {
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
    let aws_env = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s3 = rt.block_on(async {
        let sdk = common::services::sdk_config(&endpoint).await;
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    });
    Some(Services {
        endpoint,
        bucket,
        aws_env,
        s3,
        rt,
    })
}

/// One part as ListParts reports it.
#[derive(Debug, PartialEq)]
struct Part {
    number: i32,
    etag: String,
    modified: i64,
}

impl Services {
    /// A fresh store prefix for one test, and the key of `name` in it.
    fn store(&self, env: &Env, name: &str) -> (String, String) {
        let tag = env
            .work()
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap();
        let prefix = format!("cli-tests/crash-{name}-{tag}");
        (format!("s3://{}/{prefix}", self.bucket), prefix)
    }

    fn envs(&self, c: &mut Command, env: &Env) {
        c.env_clear()
            .env("HOME", env.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SEALSTREAM_ENDPOINT_URL", &self.endpoint)
            .env("SEALSTREAM_PART_SIZE", "5MiB")
            .env("SEALSTREAM_CONCURRENCY", "1")
            .current_dir(env.work());
        for (k, v) in &self.aws_env {
            c.env(k, v);
        }
    }

    /// `sealstream ARGS`, to be checked with assert_cmd.
    fn cmd(&self, env: &Env) -> AssertCommand {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sealstream"));
        self.envs(&mut c, env);
        // stdin is not a terminal: the default key is created only when asked.
        c.arg("--create-key");
        let mut a = AssertCommand::from_std(c);
        a.timeout(Duration::from_secs(120));
        a
    }

    /// Starts `sealstream ARGS` with a test hook `(VAR, VALUE)`.
    fn spawn(&self, env: &Env, hook: (&str, &str), args: &[&str]) -> Child {
        common::require_test_hooks();
        let mut c = Command::new(env!("CARGO_BIN_EXE_sealstream"));
        self.envs(&mut c, env);
        // stdin is not a terminal: the default key is created only when asked.
        c.arg("--create-key");
        c.env(hook.0, hook.1)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The multipart uploads in progress under `prefix`: (key, upload id).
    fn uploads(&self, prefix: &str) -> Vec<(String, String)> {
        self.rt.block_on(async {
            let out = self
                .s3
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .send()
                .await
                .unwrap();
            out.uploads()
                .iter()
                .map(|u| {
                    (
                        u.key().unwrap_or_default().to_owned(),
                        u.upload_id().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
    }

    fn parts(&self, key: &str, upload_id: &str) -> Vec<Part> {
        self.rt.block_on(async {
            let out = self
                .s3
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
                .await
                .unwrap();
            out.parts()
                .iter()
                .map(|p| Part {
                    number: p.part_number().unwrap(),
                    etag: p.e_tag().unwrap_or_default().to_owned(),
                    modified: p.last_modified().map_or(0, |t| t.secs()),
                })
                .collect()
        })
    }

    /// Waits until the only upload of `key` holds at least `n` parts;
    /// returns its id.
    fn wait_for_parts(&self, child: &mut Child, key: &str, n: usize) -> String {
        let start = Instant::now();
        loop {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the command exited before part {n} was stored"
            );
            let ups = self.uploads(key);
            if let [(_, id)] = &ups[..]
                && self.parts(key, id).len() >= n
            {
                return id.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no upload of {key} with {n} parts after 120s: {ups:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether `key` exists (HeadObject), failing on anything but 404.
    fn exists(&self, key: &str) -> bool {
        self.rt.block_on(async {
            match self
                .s3
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(_) => true,
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    assert_eq!(status, Some(404), "HEAD {key}: {e:?}");
                    false
                }
            }
        })
    }
}

/// SIGKILL (std's `Child::kill` on Unix), then reap.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn journal_dir(env: &Env) -> PathBuf {
    env.home().join(".local/state/sealstream/journal")
}

fn journals(env: &Env) -> Vec<String> {
    files_in(&journal_dir(env))
        .into_iter()
        .filter(|f| f.ends_with(".journal"))
        .collect()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Starts `put big.bin` (with `extra` arguments) paused after part
/// `after`, waits until the server holds that many parts, and kills it.
/// Returns the upload id.
fn killed_put(
    svc: &Services,
    env: &Env,
    store: &str,
    key: &str,
    after: usize,
    extra: &[&str],
) -> String {
    let mut args = vec!["--store", store, "put", "big.bin"];
    args.extend_from_slice(extra);
    let mut child = svc.spawn(
        env,
        ("SEALSTREAM_TEST_PAUSE_AFTER_PART", &after.to_string()),
        &args,
    );
    let id = svc.wait_for_parts(&mut child, key, after);
    kill(child);
    id
}

#[test]
fn killed_put_stores_nothing_and_cleanup_aborts_the_upload() {
    let Some(svc) = services("killed_put_stores_nothing_and_cleanup_aborts_the_upload") else {
        return;
    };
    let env = Env::new();
    let (store, prefix) = svc.store(&env, "cleanup");
    let key = format!("{prefix}/big.bin");
    env.write("big.bin", &data(BIG, 7));

    let id = killed_put(&svc, &env, &store, &key, 2, &[]);
    assert!(
        !svc.exists(&key),
        "a killed upload must not store the object"
    );
    assert_eq!(svc.uploads(&key), [(key.clone(), id)]);
    let names = journals(&env);
    assert_eq!(names.len(), 1, "the journal stays for --resume");
    let mode = std::fs::metadata(journal_dir(&env).join(&names[0]))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    let a = svc
        .cmd(&env)
        .args(["--store", &store, "cleanup", "--older-than", "0"])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("aborted multipart upload"), "{out}");
    assert!(svc.uploads(&prefix).is_empty());
    assert!(journals(&env).is_empty(), "cleanup removes the journal");
    assert!(!svc.exists(&key));
}

#[test]
fn killed_put_resumes_from_the_first_missing_part() {
    let Some(svc) = services("killed_put_resumes_from_the_first_missing_part") else {
        return;
    };
    let env = Env::new();
    let (store, prefix) = svc.store(&env, "resume");
    let key = format!("{prefix}/big.bin");
    let plain = data(BIG, 9);
    env.write("big.bin", &plain);

    let id = killed_put(&svc, &env, &store, &key, 2, &[]);
    let first = svc.parts(&key, &id);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(!svc.exists(&key));

    // Without --resume, the interrupted upload is reported, not replaced.
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "put", "big.bin"])
        .assert()
        .code(USAGE);
    let err = stderr(&a);
    assert!(
        err.contains("interrupted upload") && err.contains("--resume") && err.contains(&id),
        "{err}"
    );

    // Resumed, and killed again after one more part: the two parts already
    // stored were not sent again (same ETag, same LastModified although a
    // second has passed).
    std::thread::sleep(Duration::from_millis(1100));
    let mut child = svc.spawn(
        &env,
        ("SEALSTREAM_TEST_PAUSE_AFTER_PART", "3"),
        &["--store", &store, "put", "--resume", "big.bin"],
    );
    assert_eq!(svc.wait_for_parts(&mut child, &key, 3), id);
    kill(child);
    let second = svc.parts(&key, &id);
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(&second[..2], &first[..]);

    let a = svc
        .cmd(&env)
        .args(["--json", "--store", &store, "put", "--resume", "big.bin"])
        .assert()
        .success();
    let v = json_one(&a.get_output().stdout);
    assert_eq!(v["resumed"], true, "{v}");
    assert_eq!(v["parts"], PARTS);
    assert_eq!(v["parts_reused"], 3, "{v}");
    assert_eq!(v["parts_sent"], PARTS - 3, "{v}");
    assert_eq!(v["plaintext_size"], BIG);
    assert!(svc.uploads(&prefix).is_empty());
    assert!(
        journals(&env).is_empty(),
        "the journal is removed on success"
    );

    svc.cmd(&env)
        .args(["--store", &store, "get", "big.bin", "restored.bin"])
        .assert()
        .success();
    assert!(
        env.read("restored.bin") == plain,
        "the resumed object differs"
    );
}

#[test]
fn resume_after_the_source_changed_is_refused_and_aborts() {
    let Some(svc) = services("resume_after_the_source_changed_is_refused_and_aborts") else {
        return;
    };
    let env = Env::new();
    let (store, prefix) = svc.store(&env, "changed");
    let key = format!("{prefix}/big.bin");
    let path = env.write("big.bin", &data(BIG, 11));
    killed_put(&svc, &env, &store, &key, 2, &[]);

    // One byte of part 1 changes; size and mtime stay the same, so only the
    // plaintext hash recorded before part 1 was sent can tell.
    change_keeping_mtime(&path, 1000);
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "put", "--resume", "big.bin"])
        .assert()
        .code(USAGE);
    let err = stderr(&a);
    assert!(err.contains("changed") && err.contains("part 1"), "{err}");
    assert!(svc.uploads(&prefix).is_empty(), "the upload is aborted");
    assert!(journals(&env).is_empty());
    assert!(!svc.exists(&key));

    // A changed size is refused before anything is read.
    killed_put(&svc, &env, &store, &key, 1, &[]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .set_len(BIG as u64 + 1)
        .unwrap();
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "put", "--resume", "big.bin"])
        .assert()
        .code(USAGE);
    assert!(stderr(&a).contains("changed"), "{}", stderr(&a));
    assert!(svc.uploads(&prefix).is_empty());
    assert!(journals(&env).is_empty());
}

#[test]
fn resume_refuses_keys_that_cannot_unwrap_and_force_starts_over() {
    let Some(svc) = services("resume_refuses_keys_that_cannot_unwrap_and_force_starts_over") else {
        return;
    };
    let env = Env::new();
    let (store, prefix) = svc.store(&env, "recipient");
    let key = format!("{prefix}/big.bin");
    let plain = data(BIG, 17);
    env.write("big.bin", &plain);
    let v = json_one(
        &svc.cmd(&env)
            .args(["--json", "keygen", "--x25519", "-o", "me.id"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    let recipient = v["recipient"].as_str().unwrap().to_owned();

    // Sealed for a recipient only: the data key cannot be unwrapped again.
    let id = killed_put(&svc, &env, &store, &key, 1, &["--recipient", &recipient]);
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "put", "--resume", "big.bin"])
        .args(["--recipient", &recipient])
        .assert()
        .code(common::KEY);
    let err = stderr(&a);
    assert!(
        err.contains("cannot resume") && err.contains("without --resume"),
        "{err}"
    );
    assert_eq!(
        svc.uploads(&key),
        [(key.clone(), id.clone())],
        "left as it was"
    );
    assert_eq!(journals(&env).len(), 1);

    // With the identity it resumes.
    let v = json_one(
        &svc.cmd(&env)
            .args(["--json", "--store", &store, "put", "--resume", "big.bin"])
            .args(["--recipient", &recipient, "--identity", "me.id"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(v["parts_reused"], 1, "{v}");

    // --force starts over: the interrupted upload is aborted.
    let id = killed_put(
        &svc,
        &env,
        &store,
        &key,
        1,
        &["--recipient", &recipient, "--force"],
    );
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "put", "--force", "big.bin"])
        .args(["--recipient", &recipient])
        .assert()
        .success();
    assert!(stderr(&a).contains(&id), "{}", stderr(&a));
    assert!(svc.uploads(&prefix).is_empty());
    assert!(journals(&env).is_empty());
    svc.cmd(&env)
        .args([
            "--store",
            &store,
            "get",
            "big.bin",
            "out.bin",
            "--identity",
            "me.id",
        ])
        .assert()
        .success();
    assert!(env.read("out.bin") == plain);
}

/// Flips byte `at` of the file and gives it back its modification time.
fn change_keeping_mtime(path: &Path, at: usize) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x55;
    std::fs::write(path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn killed_get_leaves_no_file_under_the_final_name() {
    let Some(svc) = services("killed_get_leaves_no_file_under_the_final_name") else {
        return;
    };
    let env = Env::new();
    let (store, _) = svc.store(&env, "get");
    let plain = data(12 << 20, 13);
    env.write("big.bin", &plain);
    svc.cmd(&env)
        .args(["--store", &store, "put", "big.bin"])
        .assert()
        .success();

    let mut child = svc.spawn(
        &env,
        ("SEALSTREAM_TEST_PAUSE_AFTER_BYTES", "1048576"),
        &["--store", &store, "get", "big.bin", "out.bin"],
    );
    let is_temp = |f: &String| f.starts_with(".out.bin.") && f.ends_with(".sealstream-tmp");
    let start = Instant::now();
    let temp = loop {
        assert!(child.try_wait().unwrap().is_none(), "get exited early");
        let found = files_in(&env.work()).into_iter().find(is_temp);
        if let Some(t) = found
            && std::fs::metadata(env.path(&t)).is_ok_and(|m| m.len() >= 1 << 20)
        {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "get never paused"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    kill(child);
    let names = files_in(&env.work());
    assert!(!names.contains(&"out.bin".to_owned()), "{names:?}");
    assert!(names.contains(&temp), "{names:?}");

    // The next get of that name removes temporary files untouched for a day.
    let two_days = SystemTime::now() - Duration::from_secs(48 * 3600);
    std::fs::File::options()
        .write(true)
        .open(env.path(&temp))
        .unwrap()
        .set_modified(two_days)
        .unwrap();
    svc.cmd(&env)
        .args(["--store", &store, "get", "big.bin", "out.bin"])
        .assert()
        .success();
    assert!(env.read("out.bin") == plain);
    let names = files_in(&env.work());
    assert!(!names.iter().any(is_temp), "{names:?}");
}
