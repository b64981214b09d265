//! Folder trees (issue 11): `put -r`, `put FILE... PREFIX/`, `get -r`, the
//! incremental second run and the prefix lock, on a local store and on the
//! real local S3 server of scripts/services.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use common::{Env, USAGE, data, json_lines};

/// A file with `data`, `mode` and a fixed mtime.
fn file(path: &Path, bytes: &[u8], mode: u32, mtime_secs: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::new(mtime_secs, 123_456_789))
        .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The tree every test uses: nested folders, spaces and non-ASCII, an
/// empty file, an excluded file, a symlink and a name no store accepts.
/// Returns the relative paths that must be stored.
fn make_tree(root: &Path) -> Vec<&'static str> {
    file(&root.join("a.txt"), b"alpha\n", 0o640, 1_700_000_000);
    file(
        &root.join("nested/deep/b.bin"),
        &data(300_000, 1),
        0o755,
        1_600_000_000,
    );
    file(
        &root.join("with space/ü ñ.txt"),
        "ünïcødé\n".as_bytes(),
        0o600,
        1_650_000_000,
    );
    file(&root.join("empty"), b"", 0o644, 1_690_000_000);
    file(
        &root.join("logs/skip.log"),
        b"excluded",
        0o644,
        1_690_000_000,
    );
    std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap();
    // A backslash and a newline: refused by both store kinds' name rules.
    file(&root.join("bad\\\nname"), b"x", 0o644, 1_690_000_000);
    vec!["a.txt", "nested/deep/b.bin", "with space/ü ñ.txt", "empty"]
}

fn summary(stdout: &[u8]) -> serde_json::Value {
    json_lines(stdout)
        .into_iter()
        .find(|v| v["summary"] == true)
        .expect("a summary line")
}

fn assert_same_tree(src: &Path, out: &Path, rels: &[&str]) {
    use std::os::unix::fs::MetadataExt;
    for rel in rels {
        let (a, b) = (src.join(rel), out.join(rel));
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{rel}"
        );
        let (ma, mb) = (a.metadata().unwrap(), b.metadata().unwrap());
        assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "mode of {rel}");
        assert_eq!(
            (ma.mtime(), ma.mtime_nsec()),
            (mb.mtime(), mb.mtime_nsec()),
            "mtime of {rel}"
        );
    }
    for absent in ["logs/skip.log", "link", "bad\\\nname"] {
        assert!(out.join(absent).symlink_metadata().is_err(), "{absent}");
    }
}

/// The whole cycle on one store: `cmd` gives a command for it, `store` is
/// the `--store` value, `versions` lists what identifies each stored
/// object's version (to prove the second run rewrote nothing).
fn cycle(
    env: &Env,
    cmd: &dyn Fn() -> assert_cmd::Command,
    store: &str,
    versions: &dyn Fn() -> Vec<(String, String)>,
) {
    let src = env.path("src");
    let rels = make_tree(&src);
    // An unreadable file fails on its own (as root every file is readable:
    // then only the refused name fails).
    file(&src.join("locked.txt"), b"secret", 0o000, 1_690_000_000);
    let unreadable = std::fs::File::open(src.join("locked.txt")).is_err();
    if !unreadable {
        std::fs::remove_file(src.join("locked.txt")).unwrap();
    }
    let first = cmd()
        .args([
            "--store",
            store,
            "--json",
            "put",
            "-r",
            "src",
            "backup/",
            "--exclude",
            "*.log",
        ])
        .assert()
        .code(USAGE);
    let out = first.get_output();
    let s = summary(&out.stdout);
    assert_eq!(s["stored"], 4, "{s}");
    assert_eq!(s["failed"], 1 + u64::from(unreadable), "{s}");
    assert_eq!(s["excluded"], 1, "{s}");
    let lines = json_lines(&out.stdout);
    assert!(
        lines
            .iter()
            .any(|v| v["status"] == "failed" && v["file"].as_str().unwrap().contains("bad")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|v| v["status"] == "skipped" && v["file"].as_str().unwrap().ends_with("link")),
        "{lines:?}"
    );
    std::fs::remove_file(src.join("bad\\\nname")).unwrap();
    if unreadable {
        std::fs::remove_file(src.join("locked.txt")).unwrap();
    }

    cmd()
        .args(["--store", store, "get", "-r", "backup/", "out"])
        .assert()
        .success();
    assert_same_tree(&src, &env.path("out"), &rels);

    // Unchanged: nothing stored, nothing rewritten.
    let before = versions();
    assert_eq!(before.len(), 4, "{before:?}");
    let again = cmd()
        .args([
            "--store",
            store,
            "put",
            "-r",
            "src",
            "backup/",
            "--exclude",
            "*.log",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&again.get_output().stdout).into_owned();
    assert!(
        text.contains("stored 0, skipped 4 (unchanged), failed 0"),
        "{text}"
    );
    assert_eq!(versions(), before);

    // Without the manifest the headers decide, with the same result.
    let trees = env.home().join(".local/state/sealstream/trees");
    for e in std::fs::read_dir(&trees).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let again = cmd()
        .args([
            "--store",
            store,
            "--json",
            "put",
            "-r",
            "src",
            "backup/",
            "--exclude",
            "*.log",
        ])
        .assert()
        .success();
    let s = summary(&again.get_output().stdout);
    assert_eq!(
        (s["stored"].clone(), s["unchanged"].clone()),
        (0.into(), 4.into()),
        "{s}"
    );
    assert_eq!(versions(), before);

    // A changed file and a changed mode are stored again; nothing else.
    file(
        &src.join("a.txt"),
        b"alpha, changed\n",
        0o640,
        1_700_000_001,
    );
    std::fs::set_permissions(src.join("empty"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let third = cmd()
        .args([
            "--store",
            store,
            "--json",
            "put",
            "-r",
            "src",
            "backup/",
            "--exclude",
            "*.log",
        ])
        .assert()
        .success();
    let s = summary(&third.get_output().stdout);
    assert_eq!(
        (s["stored"].clone(), s["unchanged"].clone()),
        (2.into(), 2.into()),
        "{s}"
    );
    let after = versions();
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.clone())
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed.iter().any(|k| k.ends_with("a.txt")), "{changed:?}");
    assert!(changed.iter().any(|k| k.ends_with("empty")), "{changed:?}");
    cmd()
        .args(["--store", store, "get", "-r", "backup/", "out2"])
        .assert()
        .success();
    assert_same_tree(&src, &env.path("out2"), &rels);
}

/// `(name, mtime-ns)` of every file in a local store.
fn local_versions(root: &Path) -> Vec<(String, String)> {
    use std::os::unix::fs::MetadataExt;
    let mut v = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                v.push((rel, format!("{}.{} {}", m.mtime(), m.mtime_nsec(), m.ino())));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn a_tree_round_trips_through_a_local_store_and_a_second_put_stores_nothing() {
    let env = Env::new();
    let store = env.path("vault");
    // A store named with --store must exist (or be asked for with --create).
    std::fs::create_dir(&store).unwrap();
    let s = store.display().to_string();
    cycle(&env, &|| env.cmd(), &s, &|| local_versions(&store));
}

#[test]
fn a_tree_round_trips_through_s3_and_a_second_put_stores_nothing() {
    let Some(svc) = common::services::s3("a_tree_round_trips_through_s3") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "tree");
    let key_prefix = store
        .strip_prefix(&format!("s3://{}/", svc.bucket))
        .unwrap()
        .to_owned();
    let sdk = svc.sdk();
    cycle(&env, &|| svc.cmd(&env), &store, &|| {
        sdk.etags(&format!("{key_prefix}/backup/"))
    });
}

#[test]
fn a_50_mib_file_and_small_files_round_trip_through_s3() {
    let Some(svc) = common::services::s3("a_50_mib_file_round_trips_through_s3") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "big");
    let src = env.path("src");
    file(
        &src.join("big.bin"),
        &data(50 << 20, 9),
        0o644,
        1_700_000_000,
    );
    for i in 0..5 {
        file(
            &src.join(format!("small/{i}.txt")),
            &data(1000 * i, 3),
            0o644,
            1_700_000_000,
        );
    }
    svc.cmd(&env)
        .args(["--store", &store, "put", "-r", "src", "--jobs", "3"])
        .assert()
        .success();
    svc.cmd(&env)
        .args(["--store", &store, "get", "-r", "src/", "out", "--jobs", "3"])
        .assert()
        .success();
    let mut rels = vec!["big.bin".to_owned()];
    rels.extend((0..5).map(|i| format!("small/{i}.txt")));
    let rels: Vec<&str> = rels.iter().map(String::as_str).collect();
    assert_same_tree(&src, &env.path("out"), &rels);
}

#[test]
fn get_r_never_writes_outside_the_folder() {
    let Some(svc) = common::services::s3("get_r_never_writes_outside_the_folder") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "hostile");
    file(&env.path("src/good.txt"), b"good", 0o644, 1_700_000_000);
    file(&env.path("src/sub/x.txt"), b"x", 0o644, 1_700_000_000);
    file(&env.path("src/dir"), b"d", 0o644, 1_700_000_000);
    svc.cmd(&env)
        .args(["--store", &store, "put", "-r", "src"])
        .assert()
        .success();
    let key_prefix = store
        .strip_prefix(&format!("s3://{}/", svc.bucket))
        .unwrap()
        .to_owned();
    let sdk = svc.sdk();
    // `..` keys: refused by get -r when the server keeps them (weed
    // refuses them at upload; the unit tests of store::safe_relative cover
    // the rule itself).
    let good = sdk.get(&format!("{key_prefix}/src/good.txt")).unwrap();
    let planted = sdk.try_put(&format!("{key_prefix}/src/../../escape.txt"), &good);
    // In DIR: a symbolic link where a folder is needed, a folder where a
    // file goes.
    std::fs::create_dir_all(env.path("out/dir")).unwrap();
    std::fs::create_dir_all(env.path("outside")).unwrap();
    std::os::unix::fs::symlink("../outside", env.path("out/sub")).unwrap();
    let a = svc
        .cmd(&env)
        .args(["--store", &store, "--json", "get", "-r", "src/", "out"])
        .assert()
        .code(USAGE);
    let lines = json_lines(&a.get_output().stdout);
    let refused: Vec<_> = lines.iter().filter(|v| v["status"] == "failed").collect();
    assert_eq!(refused.len(), 2 + usize::from(planted), "{lines:?}");
    // A failed line names the store object under the same field as a
    // restored one (docs/JSON.md), never as a local `file`.
    for v in &refused {
        assert!(
            v["object"].as_str().unwrap().starts_with(&store) && v.get("file").is_none(),
            "{v}"
        );
    }
    assert_eq!(std::fs::read(env.path("out/good.txt")).unwrap(), b"good");
    assert!(env.path("out/dir").is_dir());
    assert_eq!(std::fs::read_dir(env.path("outside")).unwrap().count(), 0);
    assert!(env.path("escape.txt").symlink_metadata().is_err());
    let s = summary(&a.get_output().stdout);
    assert_eq!(
        (s["restored"].clone(), s["failed"].clone()),
        (1.into(), refused.len().into()),
        "{s}"
    );
}

#[test]
fn several_files_go_into_a_prefix_and_ambiguous_destinations_are_refused() {
    let env = Env::new();
    let store = env.path("vault").display().to_string();
    env.write("one.log", b"1");
    env.write("two.log", b"2");
    env.write("three.log", b"3");
    // `put one.log two.log`: two.log is a local file, not an object name.
    env.cmd()
        .args(["--store", &store, "put", "one.log", "two.log"])
        .assert()
        .code(USAGE);
    env.cmd()
        .args(["--store", &store, "put", "one.log", "two.log", "three.log"])
        .assert()
        .code(USAGE);
    assert!(!env.path("vault").exists(), "something was written");
    // A store named with --store must exist (or be asked for with --create).
    std::fs::create_dir(env.path("vault")).unwrap();
    env.cmd()
        .args([
            "--store",
            &store,
            "put",
            "one.log",
            "two.log",
            "three.log",
            "logs/",
        ])
        .assert()
        .success();
    // Again: existing objects are not replaced without --force.
    let again = env
        .cmd()
        .args(["--store", &store, "put", "one.log", "two.log", "logs/"])
        .assert()
        .code(USAGE);
    let e = String::from_utf8_lossy(&again.get_output().stderr).into_owned();
    assert!(e.contains("already exists"), "{e}");
    env.write("two.log", b"2, new");
    env.cmd()
        .args([
            "--store", &store, "put", "two.log", "one.log", "logs/", "--force",
        ])
        .assert()
        .success();
    for n in ["one", "two", "three"] {
        let got = env
            .cmd()
            .args(["--store", &store, "get", &format!("logs/{n}.log"), "-"])
            .assert()
            .success();
        assert_eq!(got.get_output().stdout, env.read(&format!("{n}.log")));
    }
}

#[test]
fn checksum_finds_a_change_that_keeps_size_and_mtime() {
    let env = Env::new();
    let store = env.path("vault").display().to_string();
    std::fs::create_dir(env.path("vault")).unwrap();
    file(&env.path("src/f.txt"), b"aaaa", 0o644, 1_700_000_000);
    env.cmd()
        .args(["--store", &store, "put", "-r", "src"])
        .assert()
        .success();
    file(&env.path("src/f.txt"), b"bbbb", 0o644, 1_700_000_000);
    let plain = env
        .cmd()
        .args(["--store", &store, "put", "-r", "src"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&plain.get_output().stdout).contains("stored 0, skipped 1"));
    let sum = env
        .cmd()
        .args(["--store", &store, "put", "-r", "src", "--checksum"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&sum.get_output().stdout).contains("stored 1, skipped 0"));
    let got = env
        .cmd()
        .args(["--store", &store, "get", "src/f.txt", "-"])
        .assert()
        .success();
    assert_eq!(got.get_output().stdout, b"bbbb");
}

#[test]
fn a_second_put_r_into_the_same_prefix_fails_fast() {
    common::require_test_hooks();
    let env = Env::new();
    let store = env.path("vault").display().to_string();
    std::fs::create_dir(env.path("vault")).unwrap();
    file(&env.path("src/f.txt"), b"f", 0o644, 1_700_000_000);
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_sealstream"))
        .env_clear()
        .env("HOME", env.home())
        .env("SEALSTREAM_TEST_PAUSE_TREE_LOCKED", "1")
        .current_dir(env.work())
        .args(["--store", &store, "put", "-r", "src"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(first.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(n > 0, "the first put -r exited before pausing");
        if line.contains("test hook: paused holding the tree lock") {
            break;
        }
    }
    let second = env
        .cmd()
        .args(["--store", &store, "put", "-r", "src"])
        .assert()
        .code(USAGE);
    let e = String::from_utf8_lossy(&second.get_output().stderr).into_owned();
    assert!(
        e.contains("another sealstream process is storing a tree"),
        "{e}"
    );
    // Another prefix is not locked.
    env.cmd()
        .args(["--store", &store, "put", "-r", "src", "other/"])
        .assert()
        .success();
    first.kill().unwrap();
    first.wait().unwrap();
    env.cmd()
        .args(["--store", &store, "put", "-r", "src"])
        .assert()
        .success();
}

#[test]
fn a_tree_sealed_under_kms_round_trips() {
    let Some(svc) = common::services::s3("a_tree_sealed_under_kms_round_trips") else {
        return;
    };
    let Ok(kms_endpoint) = std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT") else {
        eprintln!("skipping a_tree_sealed_under_kms_round_trips: no KMS server");
        return;
    };
    // A worker thread serves the counting proxy while the CLI runs.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let arn = rt.block_on(async {
        let sdk = common::services::sdk_config(&kms_endpoint).await;
        let kms = aws_sdk_kms::Client::new(&sdk);
        let k = kms.create_key().send().await.unwrap();
        k.key_metadata().unwrap().arn().unwrap().to_owned()
    });
    let env = Env::new();
    let store = svc.store(&env, "kms-tree");
    let src = env.path("src");
    let rels: Vec<String> = (0..24).map(|i| format!("d{}/f{i}.txt", i % 3)).collect();
    for (i, r) in rels.iter().enumerate() {
        file(&src.join(r), &data(500 + i, 7), 0o644, 1_700_000_000);
    }
    // KMS through a passthrough proxy that logs each call (a named fake that
    // changes nothing): how many GenerateDataKey calls a run made.
    let proxy = rt
        .block_on(sealstream_faultproxy::FaultProxy::start(
            kms_endpoint.as_str(),
            sealstream_faultproxy::FaultPlan::passthrough(),
        ))
        .unwrap();
    let kms_calls = |op: &str| {
        let target = format!("TrentService.{op}");
        proxy
            .log()
            .iter()
            .filter(|r| r.target.as_deref() == Some(target.as_str()))
            .count()
    };
    let cmd = || {
        let mut c = svc.cmd(&env);
        c.env("SEALSTREAM_KMS_ENDPOINT_URL", proxy.endpoint());
        c
    };
    cmd()
        .args([
            "--store",
            &store,
            "put",
            "-r",
            "src",
            "--kms-key",
            &arn,
            "--jobs",
            "8",
        ])
        .assert()
        .success();
    // 24 objects, batches of 1000 (the default): one GenerateDataKey.
    assert_eq!(kms_calls("GenerateDataKey"), 1, "{}", proxy.report());
    let decrypts = kms_calls("Decrypt");
    cmd()
        .args([
            "--store",
            &store,
            "get",
            "-r",
            "src/",
            "out",
            "--kms-key",
            &arn,
        ])
        .assert()
        .success();
    let refs: Vec<&str> = rels.iter().map(String::as_str).collect();
    assert_same_tree(&src, &env.path("out"), &refs);
    // One batch: get -r unwraps its key once, for all 24 objects.
    assert_eq!(kms_calls("Decrypt") - decrypts, 1, "{}", proxy.report());
    for r in &rels[..4] {
        let v = common::json_one(
            &cmd()
                .args(["--json", "--store", &store, "inspect", &format!("src/{r}")])
                .assert()
                .success()
                .get_output()
                .stdout,
        );
        // A tree shares one GenerateDataKey per batch (--kms-batch, default 1000).
        assert_eq!(v["keys"][0]["provider"], "aws-kms-batch", "{v}");
        assert_eq!(v["keys"][0]["key_id"], arn.as_str(), "{v}");
    }
    // --kms-batch 10, 8 jobs at once: ceil(24 / 10) = 3 GenerateDataKey.
    let before = kms_calls("GenerateDataKey");
    cmd()
        .args([
            "--store",
            &store,
            "put",
            "-r",
            "src",
            "ten/",
            "--kms-key",
            &arn,
            "--kms-batch",
            "10",
            "--jobs",
            "8",
        ])
        .assert()
        .success();
    assert_eq!(
        kms_calls("GenerateDataKey") - before,
        rels.len().div_ceil(10),
        "{}",
        proxy.report()
    );
    // --kms-batch 0: one GenerateDataKey per object, plain aws-kms records;
    // both kinds restore.
    let before = kms_calls("GenerateDataKey");
    cmd()
        .args([
            "--store",
            &store,
            "put",
            "-r",
            "src",
            "single/",
            "--kms-key",
            &arn,
            "--kms-batch",
            "0",
        ])
        .assert()
        .success();
    assert_eq!(
        kms_calls("GenerateDataKey") - before,
        rels.len(),
        "{}",
        proxy.report()
    );
    cmd()
        .args([
            "--store",
            &store,
            "get",
            "-r",
            "single/",
            "out-single",
            "--kms-key",
            &arn,
        ])
        .assert()
        .success();
    assert_same_tree(&src, &env.path("out-single"), &refs);
    let v = common::json_one(
        &cmd()
            .args([
                "--json",
                "--store",
                &store,
                "inspect",
                &format!("single/{}", rels[0]),
            ])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(v["keys"][0]["provider"], "aws-kms", "{v}");
}

#[test]
fn include_and_follow_symlinks_choose_what_is_stored() {
    let env = Env::new();
    let store = env.path("vault").display().to_string();
    std::fs::create_dir(env.path("vault")).unwrap();
    let src = env.path("src");
    file(&src.join("keep.txt"), b"keep", 0o644, 1_700_000_000);
    file(&src.join("drop.bin"), b"drop", 0o644, 1_700_000_000);
    file(
        &env.path("elsewhere/linked.txt"),
        b"linked",
        0o644,
        1_700_000_000,
    );
    std::os::unix::fs::symlink(env.path("elsewhere"), src.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("keep.txt", src.join("filelink.txt")).unwrap();
    std::os::unix::fs::symlink(".", src.join("loop")).unwrap();
    let a = env
        .cmd()
        .args([
            "--store",
            &store,
            "--json",
            "put",
            "-r",
            "src",
            "--include",
            "*.txt",
        ])
        .args(["--follow-symlinks"])
        .assert()
        .success();
    let lines = json_lines(&a.get_output().stdout);
    let mut stored: Vec<String> = lines
        .iter()
        .filter(|v| v["status"] == "stored")
        .map(|v| {
            v["object"]
                .as_str()
                .unwrap()
                .rsplit("src/")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        ["dirlink/linked.txt", "filelink.txt", "keep.txt"],
        "{lines:?}"
    );
    let s = summary(&a.get_output().stdout);
    assert_eq!(s["excluded"], 1, "{s}");
    assert_eq!(s["skipped_not_regular"], 1, "the link loop: {s}");
}
