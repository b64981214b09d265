//! Issue 15: the command as a user's hands meet it. Short key flags and
//! recipients files, each verb's help, JSON schema fields, exit codes,
//! progress and interruption, and SDK error lines.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use crate::common;

use common::{Env, USAGE, json_lines};

/// Every verb (and `config`'s), as the command line names them.
const VERBS: &[&[&str]] = &[
    &["keygen"],
    &["encrypt"],
    &["decrypt"],
    &["put"],
    &["get"],
    &["cat"],
    &["ls"],
    &["inspect"],
    &["rewrap"],
    &["mv"],
    &["presign"],
    &["share"],
    &["upload-link"],
    &["cors"],
    &["cleanup"],
    &["migrate"],
    &["bench"],
    &["check"],
    &["rm"],
    &["config"],
    &["config", "show"],
    &["config", "path"],
    &["completions"],
    &["man"],
];

fn help(env: &Env, verb: &[&str]) -> String {
    let out = env.cmd().args(verb).arg("--help").output().unwrap();
    assert!(out.status.success(), "{verb:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_verb_help_has_examples() {
    let env = Env::new();
    for verb in VERBS {
        let text = help(&env, verb);
        assert!(
            text.contains("\nExamples:\n"),
            "{verb:?} --help has no Examples:\n{text}"
        );
        // Every example line names the command (no stray text under the heading).
        let examples = text.split("\nExamples:\n").nth(1).unwrap();
        assert!(
            examples
                .lines()
                .next()
                .unwrap()
                .trim_start()
                .starts_with("sealstream "),
            "{verb:?}: {examples}"
        );
    }
}

/// Opening verbs show no sealing options and sealing verbs no opening ones.
#[test]
fn help_shows_only_the_key_options_a_verb_uses() {
    let env = Env::new();
    for verb in ["decrypt", "get", "cat", "check", "share"] {
        let text = help(&env, &[verb]);
        for opt in ["--recipient ", "--recipients-file"] {
            assert!(!text.contains(opt), "{verb} --help shows {opt}:\n{text}");
        }
        assert!(text.contains("-i, --identity <PATH>"), "{verb}: {text}");
    }
    for verb in ["encrypt", "put", "migrate"] {
        let text = help(&env, &[verb]);
        // put re-opens what it sealed for `--resume` and `-r --checksum`, so it
        // takes an identity; encrypt and migrate never do.
        assert_eq!(
            text.contains("-i, --identity <PATH>"),
            verb == "put",
            "{verb} --help and --identity:\n{text}"
        );
        assert!(
            text.contains("-R, --recipients-file <PATH>"),
            "{verb}: {text}"
        );
    }
    assert!(help(&env, &["encrypt"]).contains("-r, --recipient <PUBKEY>"));
    // On put, -r is kept for --recursive (issue 11): the recipient has no short flag.
    let put = help(&env, &["put"]);
    assert!(put.contains("      --recipient <PUBKEY>"), "{put}");
    assert!(!put.contains("-r, --recipient"), "{put}");
    let rewrap = help(&env, &["rewrap"]);
    assert!(rewrap.contains("-r, --new-recipient <PUBKEY>"), "{rewrap}");
    assert!(
        rewrap.contains("-R, --new-recipients-file <PATH>"),
        "{rewrap}"
    );
    assert!(rewrap.contains("-i, --identity <PATH>"), "{rewrap}");
    assert!(!rewrap.contains("  --recipient "), "{rewrap}");
}

/// The global options appear only in the help of verbs that use them, and
/// stay accepted (hidden) everywhere, before or after the verb.
#[test]
fn help_shows_only_the_global_options_a_verb_uses() {
    let env = Env::new();
    let shows = |verb: &[&str], opt: &str| {
        let text = help(&env, verb);
        // The option's own line (`  -q, --quiet ...` or `      --store <STORE>`),
        // not a mention of it in another option's description.
        text.lines().any(|l| {
            let l = l.trim_start();
            let l = l.split_once(", ").map_or(
                l,
                |(short, rest)| {
                    if short.len() == 2 { rest } else { l }
                },
            );
            l.strip_prefix(&format!("--{opt}"))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
    };
    for verb in VERBS {
        for opt in ["json", "quiet", "config"] {
            assert!(shows(verb, opt), "{verb:?} --help lacks --{opt}");
        }
    }
    let table: &[(&str, &[&str], &[&str])] = &[
        (
            "store",
            &["put", "get", "ls", "check", "rm", "prune"],
            &[
                "keygen",
                "encrypt",
                "decrypt",
                "cors",
                "migrate",
                "completions",
            ],
        ),
        (
            "endpoint-url",
            &["put", "ls", "cors", "migrate"],
            &["keygen", "encrypt", "decrypt", "completions", "man"],
        ),
        (
            "kms-endpoint-url",
            &["encrypt", "decrypt", "put", "get", "rewrap"],
            &["keygen", "ls", "rm", "prune", "presign", "cors"],
        ),
        ("region", &["encrypt", "ls"], &["keygen", "man"]),
        (
            "progress",
            &["encrypt", "decrypt", "put", "get", "cat"],
            &["keygen", "ls", "rm", "config show"],
        ),
        (
            "create-key",
            &["encrypt", "put"],
            &["decrypt", "get", "ls", "keygen"],
        ),
        ("create", &["put"], &["get", "ls", "keygen", "encrypt"]),
    ];
    for (opt, on, off) in table {
        for verb in *on {
            let v: Vec<&str> = verb.split(' ').collect();
            assert!(shows(&v, opt), "{verb} --help lacks --{opt}");
        }
        for verb in *off {
            let v: Vec<&str> = verb.split(' ').collect();
            assert!(
                !shows(&v, opt),
                "{verb} --help shows --{opt}, which it does not use"
            );
        }
    }
    // Hidden is still accepted, and its value still counts.
    let out = env
        .cmd()
        .args(["--json", "config", "show", "--progress"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["progress"]["source"], "flag", "{v}");
    env.cmd()
        .args(["keygen", "-o", "k", "--store", "anywhere"])
        .assert()
        .success();
}

/// Makes an X25519 identity `NAME` and returns its public key line.
fn x25519(env: &Env, name: &str) -> String {
    let out = env
        .cmd()
        .args(["keygen", "--x25519", "-o", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(env.path(&format!("{name}.pub"))).unwrap();
    text.lines()
        .find(|l| l.starts_with("sealstream-x25519-pub1"))
        .unwrap()
        .to_owned()
}

#[test]
fn short_flags_and_a_recipients_file_with_comments() {
    let env = Env::new();
    let alice = x25519(&env, "alice");
    let bob = x25519(&env, "bob");
    let carol = x25519(&env, "carol");
    env.write(
        "team.txt",
        format!("# the team\n\n{alice}\n  # bob, indented comment\n{bob}\n\n").as_bytes(),
    );
    let plain = common::data(5000, 1);
    env.write("in.bin", &plain);
    env.cmd()
        .args([
            "encrypt",
            "in.bin",
            "-o",
            "in.sealed",
            "-R",
            "team.txt",
            "-r",
        ])
        .arg(&carol)
        .assert()
        .success();
    // Every key of the file and the -r one open it, each alone, through -i.
    for who in ["alice", "bob", "carol"] {
        let out = env
            .cmd()
            .args(["decrypt", "in.sealed", "-i", who])
            .output()
            .unwrap();
        assert!(out.status.success(), "{who}: {out:?}");
        assert_eq!(out.stdout, plain, "{who}");
    }
    // put: --recipient and -R; get -i.
    env.cmd()
        .args(["put", "in.bin", "obj", "-R", "team.txt"])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["get", "obj", "-", "-i", "bob"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, plain);
    // rewrap: -i opens, -r/-R name the new recipients.
    env.write("carol.txt", format!("{carol}\n").as_bytes());
    env.cmd()
        .args(["rewrap", "in.sealed", "-i", "alice", "-R", "carol.txt"])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["decrypt", "in.sealed", "-i", "alice"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "alice still opens the rewrapped file"
    );
    let out = env
        .cmd()
        .args(["decrypt", "in.sealed", "-i", "carol"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, plain, "{out:?}");
}

#[test]
fn a_bad_recipients_file_line_is_named_not_echoed() {
    let env = Env::new();
    let alice = x25519(&env, "alice");
    env.write("in.bin", b"x");
    env.write(
        "bad.txt",
        format!("# ok\n{alice}\nhunter2-not-a-key\n").as_bytes(),
    );
    let out = env
        .cmd()
        .args(["encrypt", "in.bin", "-o", "o", "-R", "bad.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.txt line 3"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!env.path("o").exists());
    // A secret key in the file: refused, not echoed.
    let secret = std::fs::read_to_string(env.path("alice")).unwrap();
    let line = secret
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("sealstream-x25519-sec"))
        .or_else(|| {
            secret
                .lines()
                .find(|l| !l.starts_with('#') && !l.is_empty())
        })
        .unwrap()
        .to_owned();
    env.write("secret.txt", format!("{line}\n").as_bytes());
    let out = env
        .cmd()
        .args(["encrypt", "in.bin", "-o", "o", "-R", "secret.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(&line), "{err}");
    // Only comments: no key.
    env.write("empty.txt", b"# nobody\n\n");
    let out = env
        .cmd()
        .args(["encrypt", "in.bin", "-o", "o", "-R", "empty.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no public key"));
    let _ = json_lines;
}

/// A folder where a file is expected is a usage error (exit 2), whatever the verb.
#[test]
fn a_folder_where_a_file_is_expected_is_exit_2() {
    let env = Env::new();
    std::fs::create_dir(env.path("dir")).unwrap();
    env.write("a", b"hello");
    env.cmd()
        .args(["encrypt", "a", "-o", "a.sealed"])
        .assert()
        .success();
    let cases: &[&[&str]] = &[
        &["encrypt", "dir", "-o", "x"],
        &["decrypt", "dir"],
        &["put", "dir", "obj"],
        &["inspect", "dir"],
        &["inspect", "./dir"],
        &["rewrap", "dir", "--new-key-file", "a"],
        &["cat", "./dir"],
        &["mv", "./dir", "./elsewhere"],
        &["keygen", "-o", "dir"],
        &["encrypt", "a", "-o", "y", "--key-file", "dir"],
        &["decrypt", "a.sealed", "--key-file", "dir"],
        &["encrypt", "a", "-o", "y", "-R", "dir"],
        &["encrypt", "a", "-o", "y", "-r", "dir"],
        &["encrypt", "a", "-o", "y", "--config", "dir"],
        &["get", "--link-file", "dir"],
    ];
    for args in cases {
        let out = env.cmd().args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(USAGE), "{args:?}: {err}");
        assert!(err.contains("is a folder"), "{args:?}: {err}");
    }
    assert!(!env.path("x").exists() && !env.path("y").exists());
}

/// A port nothing listens on (bound, then closed).
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// An SDK failure is one error line and one hint line: no `Debug` dump, no
/// doubled prefix.
fn assert_clean_error(what: &str, stderr: &[u8]) {
    let err = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{what}: {err}");
    assert!(lines[0].starts_with("error: "), "{what}: {err}");
    assert!(lines[1].starts_with("  hint: "), "{what}: {err}");
    for dump in ["{", "DispatchFailure", "ConnectorError", "Some(", "kind:"] {
        assert!(!err.contains(dump), "{what}: Debug text {dump:?} in {err}");
    }
    // No phrase of the message repeated (`AWS KMS key K: AWS KMS key K:`).
    let first = lines[0].trim_start_matches("error: ");
    let head: String = first.split(": ").next().unwrap().to_owned();
    assert_eq!(
        first.matches(head.as_str()).count(),
        1,
        "{what}: doubled {head:?}: {err}"
    );
}

#[test]
fn kms_failures_are_one_clean_line_and_a_hint() {
    let Some(kms) = std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT").ok() else {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SEALSTREAM_REQUIRE_SERVICES=1 but SEALSTREAM_TEST_KMS_ENDPOINT is unset"
        );
        eprintln!("skipping: SEALSTREAM_TEST_KMS_ENDPOINT is unset (no local KMS server)");
        return;
    };
    let Some(s3) = common::services::s3("kms_failures_are_one_clean_line_and_a_hint") else {
        return;
    };
    let env = Env::new();
    env.write("a", b"hello");
    // A key that does not exist on the server: exit 5 (key), the server's words.
    let out = s3
        .cmd(&env)
        .args([
            "encrypt",
            "a",
            "-o",
            "a.sealed",
            "--kms-key",
            "alias/ux-no-such-key",
        ])
        .args(["--kms-endpoint-url", &kms])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(common::KEY), "{out:?}");
    assert_clean_error("missing KMS key", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    // KMS refusing connections: exit 6 (service), the cause named.
    let out = s3
        .cmd(&env)
        .args([
            "encrypt",
            "a",
            "-o",
            "a.sealed",
            "--kms-key",
            "alias/ux-no-such-key",
        ])
        .args(["--kms-endpoint-url", &refused_url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(common::SERVICE), "{out:?}");
    assert_clean_error("refused KMS", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Connection refused"));
    assert!(!env.path("a.sealed").exists());
}

#[test]
fn s3_failures_are_one_clean_line_and_a_hint() {
    let Some(s3) = common::services::s3("s3_failures_are_one_clean_line_and_a_hint") else {
        return;
    };
    let env = Env::new();
    env.write("a", b"hello");
    let bucket = &s3.bucket;
    let refused = refused_url();
    for args in [
        vec!["put", "a", &format!("s3://{bucket}/ux/a")],
        vec!["get", &format!("s3://{bucket}/ux/a"), "-"],
        vec!["ls", &format!("s3://{bucket}/ux/")],
    ] {
        let out = s3
            .cmd(&env)
            .args(&args)
            .args(["--endpoint-url", &refused])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(common::SERVICE),
            "{args:?}: {out:?}"
        );
        assert_clean_error(&format!("{args:?}"), &out.stderr);
        assert!(String::from_utf8_lossy(&out.stderr).contains("Connection refused"));
    }
    // A bucket that does not exist: not found (exit 3), one line and no hint dump.
    let out = s3
        .cmd(&env)
        .args(["ls", "s3://ux-no-such-bucket-15/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(common::NOT_FOUND), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NoSuchBucket") && !err.contains('{'), "{err}");
}

/// Every key of every object in `v`, recursively.
fn keys_of(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys_of(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| keys_of(x, out)),
        _ => {}
    }
}

/// The field names of `v` that docs/JSON.md must name: all of them,
/// recursively, except inside `context` (the object's own pairs) and `rule`
/// (the S3 CORS rule, in S3's own names).
fn documented_fields(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                if k != "context" && k != "rule" {
                    out.extend(documented_fields(x));
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| out.extend(documented_fields(x))),
        _ => {}
    }
    out
}

/// docs/JSON.md, which names every field a verb prints.
const JSON_DOC: &str = include_str!("../../../../docs/JSON.md");

/// Each stdout (or stderr) line of a `--json` run is a JSON object with
/// `"schema": 1` and a `verb` (errors: `error`), no key id is spelled
/// other than `key_id`, and every field is documented in docs/JSON.md.
fn check_json(what: &str, text: &[u8]) -> Vec<serde_json::Value> {
    let lines = json_lines(text);
    assert!(!lines.is_empty(), "{what}: no JSON");
    for v in &lines {
        assert_eq!(v["schema"], 1, "{what}: {v}");
        assert!(
            v["verb"].is_string() || v["error"].is_string(),
            "{what}: neither a verb nor an error: {v}"
        );
        let mut keys = Vec::new();
        keys_of(v, &mut keys);
        for k in documented_fields(v) {
            assert!(
                JSON_DOC.contains(&format!("`{k}`")) || JSON_DOC.contains(&format!("\"{k}\"")),
                "{what}: field {k:?} is not in docs/JSON.md: {v}"
            );
        }
        for k in keys {
            let l = k.to_ascii_lowercase().replace(['_', '-'], "");
            assert!(
                k == "key_id" || !(l == "kid" || l == "keyid" || l == "fingerprint"),
                "{what}: key id spelled {k:?} in {v}"
            );
        }
    }
    lines
}

fn json_run(env: &Env, args: &[&str]) -> std::process::Output {
    let out = env.cmd().arg("--json").args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    out
}

#[test]
fn every_local_verb_json_has_the_schema_and_key_id() {
    let env = Env::new();
    env.write("a", &common::data(3000, 2));
    std::fs::create_dir_all(env.path("tree/sub")).unwrap();
    env.write("tree/sub/one", b"1");
    env.write("tree/two", b"22");
    let runs: &[&[&str]] = &[
        &["keygen", "-o", "k"],
        &["keygen", "--x25519", "-o", "x"],
        &["encrypt", "a", "-o", "a.sealed", "--key-file", "k"],
        &["decrypt", "a.sealed", "-o", "a.plain", "--key-file", "k"],
        &["put", "a"],
        &["get", "a", "a.got"],
        &["ls"],
        &["inspect", "a"],
        &["inspect", "a.sealed"],
        &["rewrap", "a", "--new-key-file", "k"],
        &["mv", "a", "b", "--key-file", "k"],
        &["check", "--key-file", "k"],
        &["rm", "b"],
        &["put", "-r", "tree", "t/"],
        &["put", "-r", "tree", "t/"],
        &["get", "-r", "t/", "restored"],
        &["ls", "-l", "t/"],
        &["check", "t/"],
        &["prune", "t/", "--older-than", "1d", "--dry-run"],
        &["rm", "-r", "t/", "--dry-run"],
        &["config", "show"],
        &["config", "path"],
        &[
            "bench",
            "--size",
            "64KiB",
            "--repetitions",
            "1",
            "--suite",
            "aes-256-gcm",
        ],
    ];
    for args in runs {
        let out = json_run(&env, args);
        check_json(&format!("{args:?}"), &out.stdout);
    }
    // The x25519 keygen's key id is the one its objects' records name.
    let out = json_run(&env, &["keygen", "--x25519", "-o", "y"]);
    let v = check_json("keygen --x25519", &out.stdout).remove(0);
    let recipient = v["recipient"].as_str().unwrap().to_owned();
    let out = json_run(&env, &["encrypt", "a", "-o", "y.sealed", "-r", &recipient]);
    let sealed = check_json("encrypt -r", &out.stdout).remove(0);
    assert_eq!(sealed["keys"][0]["key_id"], v["key_id"], "{sealed} {v}");
    // ls: ISO 8601 next to epoch seconds.
    json_run(&env, &["put", "a", "c"]);
    let ls = check_json("ls", &json_run(&env, &["ls"]).stdout).remove(0);
    let iso = ls["modified_at"].as_str().unwrap();
    assert!(
        iso.len() == 20 && iso.ends_with('Z') && &iso[10..11] == "T",
        "{ls}"
    );
    assert!(
        ls["modified_at_epoch"].as_u64().unwrap() > 1_600_000_000,
        "{ls}"
    );
    // cat: the result on stderr, the range end inclusive as --range writes it.
    let out = json_run(&env, &["cat", "c", "--range", "10-19"]);
    assert_eq!(out.stdout.len(), 10);
    let cat = check_json("cat", &out.stderr).remove(0);
    assert_eq!(
        (cat["range_start"].clone(), cat["range_end"].clone()),
        (10.into(), 19.into())
    );
    assert_eq!(cat["bytes"], 10);
}

#[test]
fn every_json_error_has_the_schema() {
    let env = Env::new();
    for args in [
        &["get", "nosuch"][..],
        &["--nosuch-flag"],
        &["encrypt", "missing-file"],
        &["decrypt", "-i"],
    ] {
        let out = env.cmd().arg("--json").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let v = check_json(&format!("{args:?}"), &out.stderr).remove(0);
        assert_eq!(v["exit_code"], out.status.code().unwrap(), "{v}");
        assert!(v["error"].is_string(), "{v}");
    }
}

#[test]
fn every_s3_verb_json_has_the_schema() {
    let Some(s3) = common::services::s3("every_s3_verb_json_has_the_schema") else {
        return;
    };
    let env = Env::new();
    env.write("a", &common::data(3000, 3));
    let store = s3.store(&env, "ux-json");
    let alice = x25519(&env, "alice");
    let run = |args: &[&str]| {
        let out = s3
            .cmd(&env)
            .args(["--json", "--store", &store])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        out
    };
    let obj = format!("{store}/a");
    for args in [
        &["put", "a"][..],
        &["ls"],
        &["inspect", "a"],
        &["get", "a", "a.got"],
        &["check"],
        &["presign", &obj],
        &["share", &obj],
        &[
            "upload-link",
            &format!("{store}/in"),
            "--recipient",
            &alice,
            "--web-page",
            "https://example.org/s/",
        ],
        &[
            "cors",
            &format!("s3://{}", s3.bucket),
            "--origin",
            "https://example.org",
        ],
        &["cleanup", "--dry-run", "--older-than", "0"],
        &["migrate", &format!("{store}/"), "--dry-run"],
        &["rm", "a"],
    ] {
        let out = run(args);
        // Verbs that found nothing to report print no line (cleanup, migrate).
        if !out.stdout.is_empty() {
            check_json(&format!("{args:?}"), &out.stdout);
        }
    }
}

/// `sealstream ARGS` with stdin a pipe the test holds open after `first`
/// bytes; SIGINT once the command runs: it must exit with 130 well before
/// the 10 s cleanup grace (waited for at most 5 s), leaving no output.
#[cfg(unix)]
fn ctrl_c_with_stdin_held_open(env: &Env, args: &[&str], first: &[u8], output: &str) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sealstream"))
        .env_clear()
        .env("HOME", env.home())
        .current_dir(env.work())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(first).unwrap();
    stdin.flush().unwrap();
    // Running (its temporary output exists) and waiting for more stdin.
    let start = std::time::Instant::now();
    while !common::files_in(&env.work())
        .iter()
        .chain(common::files_in(&env.default_store()).iter())
        .any(|f| f.ends_with(".sealstream-tmp"))
    {
        assert!(start.elapsed().as_secs() < 30, "{args:?} never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut code = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            code = s.code();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    drop(stdin);
    assert_eq!(code, Some(130), "{args:?} still running 5 s after Ctrl-C");
    let left: Vec<String> = common::files_in(&env.work())
        .into_iter()
        .chain(common::files_in(&env.default_store()))
        .filter(|f| f.contains("sealstream-tmp") || f == output)
        .collect();
    assert!(left.is_empty(), "{args:?}: {left:?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_ends_a_seal_of_a_held_open_stdin_at_once() {
    let env = Env::new();
    env.keygen("k");
    let plain = common::data(100_000, 9);
    ctrl_c_with_stdin_held_open(
        &env,
        &["encrypt", "-", "-o", "out.sealed", "--key-file", "k"],
        &plain,
        "out.sealed",
    );
    ctrl_c_with_stdin_held_open(
        &env,
        &["put", "-", "held", "--key-file", "k"],
        &plain,
        "held",
    );
    // Opening: the first half of a sealed object.
    env.write("p", &common::data(3 << 20, 4));
    env.cmd()
        .args(["encrypt", "p", "-o", "p.sealed", "--key-file", "k"])
        .assert()
        .success();
    let sealed = env.read("p.sealed");
    ctrl_c_with_stdin_held_open(
        &env,
        &["decrypt", "-", "-o", "out.plain", "--key-file", "k"],
        &sealed[..sealed.len() / 2],
        "out.plain",
    );
}

/// Off a terminal, `--progress` writes plain lines (no spinner, no escape
/// codes) ending at 100%, and counts stdin once.
#[test]
fn plain_progress_counts_stdin_once_and_ends_at_100_percent() {
    let env = Env::new();
    env.keygen("k");
    let plain = common::data(3 << 20, 7);
    for args in [
        &["--progress", "encrypt", "-", "-o", "s", "--key-file", "k"][..],
        &["--progress", "put", "-", "obj", "--key-file", "k"],
    ] {
        let out = env
            .cmd()
            .args(args)
            .write_stdin(plain.clone())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with(args[1])).collect();
        let last = lines
            .last()
            .unwrap_or_else(|| panic!("{args:?}: no progress line: {err}"));
        assert!(
            last.ends_with("3.00 MiB/3.00 MiB (100%)"),
            "{args:?}: {err}"
        );
        assert!(
            !err.chars()
                .any(|c| ('\u{2800}'..='\u{28ff}').contains(&c) || c == '\r' || c == '\u{1b}'),
            "{args:?}: spinner or terminal codes off a terminal: {err:?}"
        );
    }
    // A file: the same, its total known from the start.
    env.write("f", &plain);
    let out = env
        .cmd()
        .args([
            "--progress",
            "decrypt",
            "s",
            "-o",
            "f.out",
            "--key-file",
            "k",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.lines().any(|l| l == "decrypt 3.00 MiB/3.00 MiB (100%)"),
        "{err}"
    );
}

/// Runs `sealstream ARGS` on a pseudo-terminal (util-linux `script`) with
/// `input` typed in; returns everything the terminal showed.
#[cfg(target_os = "linux")]
fn on_a_terminal(env: &Env, args: &str, input: &[u8]) -> Option<String> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "util-linux `script` is needed for the terminal tests"
        );
        eprintln!("skipping: no `script` (util-linux) for a pseudo-terminal");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_sealstream");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .env_clear()
        .env("HOME", env.home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .current_dir(env.work())
        .stdin({
            env.write("typed", input);
            std::fs::File::open(env.path("typed")).unwrap()
        })
        .output()
        .unwrap();
    assert!(out.status.success(), "{args}: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(target_os = "linux")]
#[test]
fn reading_stdin_from_a_terminal_says_so() {
    let env = Env::new();
    env.keygen("k");
    let Some(shown) = on_a_terminal(
        &env,
        "encrypt - -o typed.sealed --key-file k",
        b"secret words\n",
    ) else {
        return;
    };
    assert!(
        shown.contains("reading the plaintext from the terminal"),
        "{shown}"
    );
    let out = env
        .cmd()
        .args(["decrypt", "typed.sealed", "--key-file", "k"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"secret words\n");
    // Not from a pipe.
    let out = env
        .cmd()
        .args(["encrypt", "-", "-o", "piped.sealed", "--key-file", "k"])
        .write_stdin("x")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("terminal"),
        "{out:?}"
    );
}

/// On a terminal the bar is cleared before plaintext goes to it: the
/// plaintext starts at the start of a line, and no bar is drawn after it.
#[cfg(target_os = "linux")]
#[test]
fn the_bar_is_cleared_before_plaintext_goes_to_the_terminal() {
    let env = Env::new();
    env.keygen("k");
    env.write("p.txt", b"PLAINTEXT-MARKER\n");
    env.cmd()
        .args(["put", "p.txt", "p", "--key-file", "k"])
        .assert()
        .success();
    for verb in ["cat p", "get p -"] {
        let Some(shown) = on_a_terminal(&env, &format!("--progress {verb} --key-file k"), b"")
        else {
            return;
        };
        let at = shown
            .find("PLAINTEXT-MARKER")
            .unwrap_or_else(|| panic!("{verb}: {shown:?}"));
        let before = &shown[..at];
        let line_start = before.rsplit(['\r', '\n']).next().unwrap();
        assert!(
            line_start.is_empty() || line_start == "\u{1b}[2K",
            "{verb}: plaintext after bar text {line_start:?} in {shown:?}"
        );
        let after = &shown[at..];
        assert!(
            !after.contains("ETA") && !after.contains("B/s"),
            "{verb}: bar after plaintext: {shown:?}"
        );
    }
}

/// A public key file given where a secret key belongs is named by its
/// kind, before the permission check that its 0644 mode would otherwise
/// fail: for `-i`/`--identity` and `--key-file` alike, on every opening
/// verb that takes them.
#[test]
fn a_public_key_given_as_a_secret_key_is_named_by_its_kind() {
    let env = Env::new();
    x25519(&env, "me");
    env.keygen("k");
    env.write("m.txt", b"for me");
    // Sealed for a local key and an X25519 one: the opening verbs load
    // only the key files of the kinds an object names.
    env.cmd()
        .args([
            "encrypt",
            "m.txt",
            "-o",
            "m.sealed",
            "-R",
            "me.pub",
            "--key-file",
            "k",
        ])
        .assert()
        .success();
    env.cmd()
        .args(["put", "m.txt", "m", "-R", "me.pub", "--key-file", "k"])
        .assert()
        .success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("me.pub"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o077, 0, "the public key file is not world-readable");
    }
    let cases: &[&[&str]] = &[
        &["decrypt", "m.sealed", "-i", "me.pub"],
        &["decrypt", "m.sealed", "--key-file", "me.pub"],
        &["get", "m", "-", "-i", "me.pub"],
        &["cat", "m", "--identity", "me.pub"],
        &["rewrap", "m.sealed", "-i", "me.pub", "-R", "me.pub"],
    ];
    for args in cases {
        let out = env.cmd().args(*args).output().unwrap();
        assert!(!out.status.success(), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("this is a public key; pass the secret key file"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("accessible by group or others") && !err.contains("chmod"),
            "{args:?}: a permission message for a public key: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        env.cmd()
            .args(["decrypt", "m.sealed", "-i", "me"])
            .output()
            .unwrap()
            .stdout,
        b"for me"
    );
}

/// `"$(cat KEY.pub)"` (the file's text, comment lines and all) is a
/// recipient wherever one is taken: `put --recipient` and `rewrap
/// --new-recipient`, as the README's rewrap example passes it, besides
/// `encrypt` (tests/it/local.rs).
#[test]
fn a_pub_files_text_is_a_recipient_for_put_and_rewrap() {
    let env = Env::new();
    x25519(&env, "offline");
    x25519(&env, "other");
    let text = std::fs::read_to_string(env.path("offline.pub")).unwrap();
    assert!(text.starts_with('#') && text.lines().count() > 1, "{text}");
    let text = text.trim_end();
    env.write("m.txt", b"for offline");
    env.cmd()
        .args(["put", "m.txt", "m", "--recipient", text])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["get", "m", "-", "-i", "offline"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"for offline", "{out:?}");
    env.cmd()
        .args(["encrypt", "m.txt", "-o", "m.sealed", "-R", "other.pub"])
        .assert()
        .success();
    env.cmd()
        .args(["rewrap", "m.sealed", "-i", "other", "--new-recipient", text])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["decrypt", "m.sealed", "-i", "offline"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"for offline", "{out:?}");
    // The rewrap replaced the old recipient.
    assert!(
        !env.cmd()
            .args(["decrypt", "m.sealed", "-i", "other"])
            .output()
            .unwrap()
            .status
            .success()
    );
}

/// `sealstream cat BIG | head` on a store object: exit 141 like `cat`,
/// no error line (tests/it/local.rs covers `encrypt` and `decrypt`).
#[cfg(unix)]
#[test]
fn cat_of_a_store_object_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let env = Env::new();
    env.keygen("k");
    env.write("big.bin", &common::data(8 << 20, 5));
    env.cmd()
        .args(["put", "big.bin", "big", "--key-file", "k"])
        .assert()
        .success();
    for args in [&["cat", "big"][..], &["get", "big", "-"]] {
        let mut child = Std::new(env!("CARGO_BIN_EXE_sealstream"))
            .env_clear()
            .env("HOME", env.home())
            .current_dir(env.work())
            .args(args)
            .args(["--key-file", "k"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(141), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("error"), "{args:?}: {err}");
    }
}

/// Human output on S3: durations in the units the flags take (`1h`, `1d`,
/// never seconds), times as dates, and an object that does not exist named
/// with a pointer to `sealstream ls` (exit 3).
#[test]
fn s3_notes_use_human_durations_and_missing_objects_point_to_ls() {
    let Some(s3) =
        common::services::s3("s3_notes_use_human_durations_and_missing_objects_point_to_ls")
    else {
        return;
    };
    let env = Env::new();
    env.write("a", b"hello");
    let store = s3.store(&env, "ux-human");
    let run = |args: &[&str]| {
        let out = s3
            .cmd(&env)
            .args(["--store", &store])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    run(&["put", "a"]);
    let obj = format!("{store}/a");
    let note = run(&["share", &obj, "--expires", "1h"]);
    assert!(note.contains("until it expires in 1h ("), "{note}");
    assert!(!note.contains("3600"), "{note}");
    // The expiry time is a date: `(2026-12-04T20:00:00Z)`.
    let when = note.split("expires in 1h (").nth(1).unwrap();
    assert!(
        when.len() > 21 && when.as_bytes()[4] == b'-' && when.as_bytes()[10] == b'T',
        "{note}"
    );
    let note = run(&["cleanup", &format!("{store}/")]);
    assert!(note.contains("older than 1d"), "{note}");
    assert!(!note.contains("86400"), "{note}");

    // The local store's wording: "no object NAME in store s3://BUCKET/PREFIX/".
    let missing = format!("no object no-such-object in store {store}/");
    for args in [
        &["get", "no-such-object", "-"][..],
        &["cat", "no-such-object"],
        &["inspect", "no-such-object"],
    ] {
        let out = s3
            .cmd(&env)
            .args(["--store", &store])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(common::NOT_FOUND),
            "{args:?}: {out:?}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&missing), "{args:?}: {err}");
        assert!(err.contains("see `sealstream ls`"), "{args:?}: {err}");
    }
    // A full URL names the same object in the same words.
    let out = s3
        .cmd(&env)
        .args([
            "--store",
            &store,
            "get",
            &format!("{store}/no-such-object"),
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(common::NOT_FOUND), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing), "{err}");
}
