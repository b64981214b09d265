//! Backup jobs (issue 11) beyond trees: the unattended rules for keys and
//! stores, `ls -l` and `prune`, on a local store and on the real local S3
//! server of scripts/services.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use predicates::str::contains;

use common::{Env, KEY, NOT_FOUND, USAGE, data, json_lines};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sets a store file's mtime (its stored time on a local store) `days` ago.
fn age(path: &Path, days: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

#[test]
fn unattended_runs_never_create_a_key_or_a_store_silently() {
    let env = Env::new();
    env.write("db.dump", b"nightly dump");
    // stdin is not a terminal here (as under cron): no key, no --create-key -> exit 5,
    // and nothing was created.
    let out = env
        .bare_cmd()
        .args(["put", "db.dump"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(KEY), "{out:?}");
    assert!(stderr(&out).contains("--create-key"), "{}", stderr(&out));
    assert!(!env.default_key().exists());
    assert!(!env.default_store().exists());
    // `tar c dir | sealstream encrypt -`: the same rule, the same exit code.
    let out = env
        .bare_cmd()
        .args(["encrypt", "-", "-o", "dump.sealed"])
        .write_stdin("piped")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(KEY), "{out:?}");
    assert!(!env.path("dump.sealed").exists());
    assert!(!env.default_key().exists());

    // With --create-key the key is created, and its note is printed even with -q and --json.
    let out = env
        .bare_cmd()
        .args(["--create-key", "-q", "--json", "put", "db.dump"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("created a new local key"), "{err}");
    assert!(err.contains("Back it up"), "{err}");
    assert!(env.default_key().is_file());
    // Once it exists, unattended runs use it without the flag, and say nothing of keys.
    let out = env.bare_cmd().args(["cat", "db.dump"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"nightly dump");
    assert!(!stderr(&out).contains("created"), "{}", stderr(&out));

    // An explicit store that does not exist: exit 3 unless --create, also for reads.
    for verb in [&["put", "db.dump"][..], &["ls"][..], &["check"][..]] {
        let out = env
            .bare_cmd()
            .args(["--store", "./vault"])
            .args(verb)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(NOT_FOUND), "{verb:?}: {out:?}");
        assert!(!env.path("vault").exists(), "{verb:?} created the store");
    }
    std::fs::create_dir(env.path("tree")).unwrap();
    env.write("tree/f", b"in a tree");
    let out = env
        .bare_cmd()
        .args(["--store", "./vault", "put", "-r", "tree", "t/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(NOT_FOUND), "put -r: {out:?}");
    assert!(stderr(&out).contains("--create"), "{}", stderr(&out));
    assert!(!env.path("vault").exists(), "put -r created the store");
    env.bare_cmd()
        .args(["--store", "./vault", "--create", "put", "db.dump"])
        .assert()
        .success();
    assert!(env.path("vault/db.dump").is_file());
}

/// Three objects of different sizes and stored times, and a planted file
/// that is no sealstream object.
fn fill_local_store(env: &Env) {
    env.write("small", &data(10, 1));
    env.write("big", &data(100_000, 2));
    env.write("mid", &data(20_000, 3));
    for (f, name) in [("small", "a/small"), ("big", "a/big"), ("mid", "b/mid")] {
        env.cmd().args(["put", f, name]).assert().success();
    }
    let store = env.default_store();
    age(&store.join("a/small"), 3);
    age(&store.join("a/big"), 1);
    age(&store.join("b/mid"), 2);
}

/// The names of the object lines of `ls --json` output, in order.
fn json_names(stdout: &[u8]) -> Vec<String> {
    json_lines(stdout)
        .into_iter()
        .filter(|v| v["summary"] != true)
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ls_long_shows_sizes_times_suites_keys_and_totals_and_sorts() {
    let env = Env::new();
    fill_local_store(&env);
    let out = env.cmd().args(["ls", "-l"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("SIZE") && lines[0].contains("STORED (UTC)"),
        "{text}"
    );
    assert!(
        lines[0].contains("SUITE") && lines[0].contains("KEYS"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "{text}");
    // Name order by default; the plaintext size, suite and a short local key id.
    assert!(
        lines[1].ends_with("a/big") && lines[1].contains("97.7 KiB"),
        "{text}"
    );
    assert!(lines[1].contains("local:"), "{text}");
    assert!(lines[3].ends_with("b/mid"), "{text}");
    assert!(lines[4].starts_with("total: 3 objects"), "{text}");
    assert!(lines[4].contains("120010 bytes"), "{text}");

    // --sort size: largest first; time: newest first; --reverse flips.
    let order = |args: &[&str]| {
        let out = env
            .cmd()
            .args(["--json", "ls", "-l"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        json_names(&out.stdout)
    };
    assert_eq!(order(&["--sort", "size"]), ["a/big", "b/mid", "a/small"]);
    assert_eq!(order(&["--sort", "time"]), ["a/big", "b/mid", "a/small"]);
    assert_eq!(
        order(&["--sort", "time", "--reverse"]),
        ["a/small", "b/mid", "a/big"]
    );
    assert_eq!(order(&["a/"]), ["a/big", "a/small"]);

    // JSON: plaintext size, ISO and epoch times, key_id, schema, and a summary.
    let out = env
        .cmd()
        .args(["--json", "ls", "-l", "a/"])
        .output()
        .unwrap();
    let v = json_lines(&out.stdout);
    assert_eq!(v.len(), 3, "{v:?}");
    assert_eq!(v[0]["schema"], 1);
    assert_eq!(v[0]["plaintext_size"], 100_000);
    assert!(v[0]["size"].as_u64().unwrap() > 100_000);
    let iso = v[0]["modified_at"].as_str().unwrap();
    assert!(iso.ends_with('Z') && iso.contains('T'), "{iso}");
    assert!(v[0]["modified_at_epoch"].as_i64().unwrap() > 1_700_000_000);
    assert!(v[0]["keys"][0]["key_id"].is_string(), "{v:?}");
    assert_eq!(v[2]["summary"], true);
    assert_eq!(v[2]["objects"], 2);
    assert_eq!(v[2]["plaintext_bytes"], 100_010);
    assert_eq!(v[2]["invalid"], 0);

    // A file that is no sealstream object, and a truncated one: listed with what is
    // wrong, the others still listed, and the exit code non-zero.
    let store = env.default_store();
    std::fs::write(store.join("a/planted"), b"not sealed at all").unwrap();
    let bytes = std::fs::read(store.join("b/mid")).unwrap();
    // The header and 60 body bytes: shorter than the smallest (empty) object's body.
    std::fs::write(store.join("b/cut"), &bytes[..4096 + 60]).unwrap();
    let out = env.cmd().args(["ls", "-l"]).output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("a/big") && text.contains("b/mid"), "{text}");
    let planted = text.lines().find(|l| l.contains("a/planted")).unwrap();
    assert!(planted.trim_start().starts_with('?'), "{planted}");
    let cut = text.lines().find(|l| l.contains("b/cut")).unwrap();
    assert!(cut.trim_start().starts_with("invalid"), "{cut}");
    assert!(text.contains("2 unreadable or invalid"), "{text}");
    assert!(
        stderr(&out).contains("2 of 5 listed objects"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ls_long_lists_an_s3_store_with_the_same_prefix_meaning() {
    let Some(svc) = common::services::s3("ls_long_lists_an_s3_store") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "ls-long");
    env.write("x", &data(5_000, 4));
    env.write("y", &data(50, 5));
    for name in ["a/x", "a/y", "ab/z"] {
        let src = if name == "a/y" { "y" } else { "x" };
        svc.cmd(&env)
            .args(["--store", &store, "put", src, name])
            .assert()
            .success();
    }
    let out = svc
        .cmd(&env)
        .args(["--store", &store, "ls", "-l", "a/", "--sort", "size"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].ends_with("a/x") && lines[2].ends_with("a/y"),
        "{text}"
    );
    assert!(lines[3].starts_with("total: 2 objects"), "{text}");
    // `a` is a string prefix of the name, as on a local store: ab/z matches too.
    let out = svc
        .cmd(&env)
        .args(["--store", &store, "--json", "ls", "a"])
        .output()
        .unwrap();
    assert_eq!(json_names(&out.stdout), ["a/x", "a/y", "ab/z"]);
    let v = json_lines(&out.stdout);
    assert_eq!(v[0]["plaintext_size"], 5_000);
    assert!(v[0]["modified_at"].as_str().unwrap().ends_with('Z'));
}

/// `prune` with `args` in `env`, returning its JSON lines.
fn prune_json(cmd: &mut Command, args: &[&str]) -> Vec<serde_json::Value> {
    let out = cmd.arg("--json").arg("prune").args(args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    json_lines(&out.stdout)
}

fn actions(v: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut a: Vec<(String, String)> = v
        .iter()
        .filter(|v| v["summary"] != true)
        .map(|v| {
            (
                v["backup"].as_str().unwrap().to_owned(),
                v["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    a.sort();
    a
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn prune_removes_old_dated_backups_and_keeps_the_newest() {
    let env = Env::new();
    env.write("f", b"backup data");
    // Two tree backups, one single-object backup, and a lookalike prefix.
    for name in [
        "nightly/2026-10-01/db",
        "nightly/2026-10-01/etc/conf",
        "nightly/2026-10-15.tar",
        "nightly/2026-11-30/db",
        "nightly-old/keep",
    ] {
        env.cmd().args(["put", "f", name]).assert().success();
    }
    let store = env.default_store();
    age(&store.join("nightly/2026-10-01/db"), 60);
    age(&store.join("nightly/2026-10-01/etc/conf"), 59);
    age(&store.join("nightly/2026-10-15.tar"), 45);
    age(&store.join("nightly/2026-11-30/db"), 3);
    age(&store.join("nightly-old/keep"), 90);

    // --dry-run says what would go and removes nothing.
    let v = prune_json(&mut env.cmd(), &["nightly", "--older-than", "30d", "-n"]);
    assert_eq!(
        actions(&v),
        pairs(&[
            ("nightly/2026-10-01/", "would_remove"),
            ("nightly/2026-10-15.tar", "would_remove"),
            ("nightly/2026-11-30/", "kept"),
        ])
    );
    assert!(store.join("nightly/2026-10-01/db").is_file());
    let summary = v.iter().find(|v| v["summary"] == true).unwrap();
    assert_eq!(summary["removed"], 2);
    assert_eq!(summary["removed_objects"], 3);

    // A human run removes them, and leaves the lookalike prefix and the new one.
    let out = env
        .cmd()
        .args(["prune", "nightly/", "--older-than", "30d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("removed       nightly/2026-10-01/  (2 objects"),
        "{text}"
    );
    assert!(
        text.contains("prune: removed 2 of 3 backups (3 objects"),
        "{text}"
    );
    assert!(
        !store.join("nightly/2026-10-01").exists(),
        "empty folders stay"
    );
    assert!(!store.join("nightly/2026-10-15.tar").exists());
    assert!(store.join("nightly/2026-11-30/db").is_file());
    assert!(store.join("nightly-old/keep").is_file());

    // The job stopped running: every backup is old, but the newest one stays (--keep-last
    // defaults to 1), and --keep-last 0 says otherwise.
    age(&store.join("nightly/2026-11-30/db"), 40);
    let v = prune_json(&mut env.cmd(), &["nightly/", "--older-than", "30d"]);
    assert_eq!(actions(&v), pairs(&[("nightly/2026-11-30/", "kept")]));
    assert_eq!(v[0]["reason"], "among the --keep-last newest");
    assert!(store.join("nightly/2026-11-30/db").is_file());
    let v = prune_json(
        &mut env.cmd(),
        &["nightly/", "--older-than", "30d", "--keep-last", "0"],
    );
    assert_eq!(actions(&v), pairs(&[("nightly/2026-11-30/", "removed")]));
    assert!(!store.join("nightly/2026-11-30/db").exists());

    // Nothing left under the prefix, a bad duration, a missing prefix.
    env.cmd()
        .args(["prune", "nightly/", "--older-than", "30d"])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("no backups under this prefix"));
    env.cmd()
        .args(["prune", "nightly-old/", "--older-than", "30 days"])
        .assert()
        .code(USAGE)
        .stderr(contains("duration"));
    env.cmd()
        .args(["prune", "nightly-old/"])
        .assert()
        .code(USAGE)
        .stderr(contains("--older-than"));
    assert!(store.join("nightly-old/keep").is_file());
}

#[test]
fn prune_removes_old_backups_from_s3() {
    let Some(svc) = common::services::s3("prune_removes_old_backups_from_s3") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "prune");
    env.write("f", b"backup data");
    for name in ["n/old/a", "n/old/b", "n/mid.tar"] {
        svc.cmd(&env)
            .args(["--store", &store, "put", "f", name])
            .assert()
            .success();
    }
    // S3 stored times have one-second resolution; the newest backup must be newer.
    std::thread::sleep(Duration::from_millis(2_100));
    svc.cmd(&env)
        .args(["--store", &store, "put", "f", "n/new/a"])
        .assert()
        .success();
    let v = prune_json(
        svc.cmd(&env).args(["--store", &store]),
        &["n/", "--older-than", "0s"],
    );
    assert_eq!(
        actions(&v),
        pairs(&[
            ("n/mid.tar", "removed"),
            ("n/new/", "kept"),
            ("n/old/", "removed")
        ])
    );
    let out = svc
        .cmd(&env)
        .args(["--store", &store, "--json", "ls", "n/"])
        .output()
        .unwrap();
    assert_eq!(json_names(&out.stdout), ["n/new/a"]);
}
