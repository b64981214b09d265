//! Every verb against local files and the local store, in a temporary HOME.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use common::{AUTH, Env, KEY, NOT_FOUND, USAGE, data, files_in, json_lines, json_one};
use predicates::prelude::*;
use predicates::str::contains;

/// Chunk sizes from docs/FORMAT.md.
const CHUNK: usize = 16_384;
const SEALED_CHUNK: u64 = 16_400;
const BODY_PREFIX: u64 = 56;

#[test]
fn zero_config_first_run_creates_key_and_store_and_says_where() {
    let env = Env::new();
    let plain = data(100_000, 1);
    env.write("report.pdf", &plain);
    let key = env.default_key();
    let store = env.default_store();
    env.cmd()
        .args(["put", "report.pdf"])
        .assert()
        .success()
        .stderr(contains(format!(
            "created a new local key at {}",
            key.display()
        )))
        .stderr(contains(format!(
            "created the local store at {}",
            store.display()
        )));
    assert!(key.is_file());
    assert!(store.join("report.pdf").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }

    // Said once: the second put creates nothing and says nothing about it.
    env.write("second.txt", b"hello");
    env.cmd()
        .args(["put", "second.txt"])
        .assert()
        .success()
        .stderr(contains("created").not());

    std::fs::remove_file(env.path("report.pdf")).unwrap();
    env.cmd().args(["get", "report.pdf"]).assert().success();
    assert_eq!(env.read("report.pdf"), plain);
    env.cmd()
        .args(["cat", "second.txt"])
        .assert()
        .success()
        .stdout("hello");
}

#[test]
fn xdg_and_sealstream_home_override_the_default_paths() {
    let env = Env::new();
    env.write("a.txt", b"a");
    let xdg = env.path("xdg");
    env.cmd()
        .env("XDG_CONFIG_HOME", xdg.join("config"))
        .env("XDG_DATA_HOME", xdg.join("data"))
        .args(["put", "a.txt"])
        .assert()
        .success();
    assert!(xdg.join("config/sealstream/default.key").is_file());
    assert!(xdg.join("data/sealstream/store/a.txt").is_file());

    let sh = env.path("sh");
    env.cmd()
        .env("SEALSTREAM_HOME", &sh)
        .args(["put", "a.txt"])
        .assert()
        .success();
    assert!(sh.join("default.key").is_file());
    assert!(sh.join("store/a.txt").is_file());
    assert!(!env.default_key().exists());
}

#[test]
fn encrypt_decrypt_round_trips_through_files_and_pipes() {
    let env = Env::new();
    let key = env.keygen("k.key");
    for (i, len) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 200_001]
        .into_iter()
        .enumerate()
    {
        let plain = data(len, i as u8);
        // stdin -> stdout -> stdin -> stdout
        let sealed = env
            .cmd()
            .args(["encrypt", "-", "--key-file"])
            .arg(&key)
            .write_stdin(plain.clone())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_ne!(sealed, plain);
        let opened = env
            .cmd()
            .args(["decrypt", "--key-file"])
            .arg(&key)
            .write_stdin(sealed.clone())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(opened, plain, "len {len} through pipes");

        // file -> file, and a sealed file read through stdin
        env.write("in.bin", &plain);
        env.cmd()
            .args([
                "encrypt",
                "in.bin",
                "-o",
                "in.sealed",
                "--force",
                "--key-file",
            ])
            .arg(&key)
            .assert()
            .success();
        env.cmd()
            .args([
                "decrypt",
                "in.sealed",
                "-o",
                "out.bin",
                "--force",
                "--key-file",
            ])
            .arg(&key)
            .assert()
            .success();
        assert_eq!(env.read("out.bin"), plain, "len {len} through files");
        let via_stdin = env
            .cmd()
            .args(["decrypt", "-", "--key-file"])
            .arg(&key)
            .write_stdin(env.read("in.sealed"))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(via_stdin, plain);
    }
}

#[test]
fn put_from_stdin_needs_a_name_and_get_to_stdout() {
    let env = Env::new();
    let plain = data(50_000, 7);
    env.cmd()
        .args(["put", "-"])
        .write_stdin(plain.clone())
        .assert()
        .code(USAGE)
        .stderr(contains("needs the object's name"));
    env.cmd()
        .args(["put", "-", "dir/piped.bin"])
        .write_stdin(plain.clone())
        .assert()
        .success();
    assert!(env.default_store().join("dir/piped.bin").is_file());
    let out = env
        .cmd()
        .args(["get", "dir/piped.bin", "-"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(out, plain);
    env.cmd().args(["get", "dir/piped.bin"]).assert().success();
    assert_eq!(env.read("piped.bin"), plain);
    // No overwrite without --force.
    env.cmd()
        .args(["get", "dir/piped.bin"])
        .assert()
        .code(USAGE)
        .stderr(contains("already exists"));
    env.cmd()
        .args(["get", "dir/piped.bin", "--force"])
        .assert()
        .success();
}

/// Seals `plain` into `name` in the working folder with `key`; returns the
/// header length.
fn seal_file(env: &Env, key: &std::path::Path, name: &str, plain: &[u8]) -> u64 {
    env.write("plain.tmp", plain);
    env.cmd()
        .args(["encrypt", "plain.tmp", "--force", "-o", name, "--key-file"])
        .arg(key)
        .assert()
        .success();
    let v = json_one(
        &env.cmd()
            .args(["--json", "inspect", name])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    v["header_size"].as_u64().unwrap()
}

#[test]
fn a_tampered_file_fails_with_the_auth_exit_code_and_names_the_chunk() {
    let env = Env::new();
    let key = env.keygen("k.key");
    let plain = data(5 * CHUNK + 100, 3);
    let header_len = seal_file(&env, &key, "obj.sealed", &plain);
    let mut bytes = env.read("obj.sealed");
    let at = (header_len + BODY_PREFIX + 2 * SEALED_CHUNK + 77) as usize;
    bytes[at] ^= 0x01;
    env.write("tampered.sealed", &bytes);

    env.cmd()
        .args(["decrypt", "tampered.sealed", "-o", "out.bin", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("chunk 2"))
        .stderr(contains("failed authentication"))
        .stderr(contains("tampered.sealed"));
    // Nothing under the final name, and no temporary file left behind.
    assert!(!env.path("out.bin").exists());
    assert!(
        !files_in(&env.work())
            .iter()
            .any(|f| f.contains("sealstream-tmp")),
        "{:?}",
        files_in(&env.work())
    );

    // Through the store: get refuses too, and cat names the chunk. The
    // object is sealed in the store (bound to its name there, item 5), then
    // tampered with at the same place.
    let store = env.default_store();
    std::fs::create_dir_all(&store).unwrap();
    env.cmd()
        .args(["encrypt", "plain.tmp", "-o"])
        .arg(store.join("bad.bin"))
        .arg("--key-file")
        .arg(&key)
        .assert()
        .success();
    let mut in_store = std::fs::read(store.join("bad.bin")).unwrap();
    in_store[at] ^= 0x01;
    std::fs::write(store.join("bad.bin"), &in_store).unwrap();
    env.cmd()
        .args(["get", "bad.bin", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("chunk 2"));
    assert!(!env.path("bad.bin").exists());
    env.cmd()
        .args(["cat", "bad.bin", "--range", "0-99", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    env.cmd()
        .args(["cat", "bad.bin", "--range", "40000-40010", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("chunk 2"));

    // Truncation at a chunk boundary.
    let cut = (header_len + BODY_PREFIX + 3 * SEALED_CHUNK) as usize;
    env.write("short.sealed", &bytes[..cut]);
    env.cmd()
        .args(["decrypt", "short.sealed", "-o", "short.out", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("truncated"));

    // Not a sealstream object at all.
    env.write("plain.txt", b"just some text, not sealed");
    env.cmd()
        .args(["decrypt", "plain.txt", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("not a sealstream object"));
}

#[test]
fn a_wrong_key_fails_clearly_with_the_key_exit_code() {
    let env = Env::new();
    let right = env.keygen("right.key");
    let wrong = env.keygen("wrong.key");
    seal_file(&env, &right, "obj.sealed", b"secret");
    let right_id = json_one(
        &env.cmd()
            .args(["--json", "inspect", "obj.sealed"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )["keys"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.cmd()
        .args(["decrypt", "obj.sealed", "--key-file"])
        .arg(&wrong)
        .assert()
        .code(KEY)
        .stderr(contains("no configured key can unwrap"))
        .stderr(contains(right_id))
        .stderr(contains("hint:"));
    // The message also lists the keys that were tried (issue 15).
    let out = env
        .cmd()
        .args(["--json", "decrypt", "obj.sealed", "--key-file"])
        .arg(&wrong)
        .assert()
        .code(KEY);
    let v = json_one(&out.get_output().stderr);
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("wrong.key"), "{msg}");
    assert!(msg.contains("the keys given match none"), "{msg}");
    // A missing key file.
    env.cmd()
        .args(["decrypt", "obj.sealed", "--key-file", "nope.key"])
        .assert()
        .code(KEY)
        .stderr(contains("nope.key"));
}

#[test]
fn encryption_context_is_required_on_opening() {
    let env = Env::new();
    let key = env.keygen("k.key");
    env.write("p.txt", b"payload");
    env.cmd()
        .args([
            "encrypt",
            "p.txt",
            "-o",
            "p.sealed",
            "--encryption-context",
            "tenant=acme",
            "--encryption-context",
            "purpose=backup",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success();
    env.cmd()
        .args(["decrypt", "p.sealed", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH)
        .stderr(contains("encryption context mismatch"))
        .stderr(contains("tenant=acme"));
    env.cmd()
        .args([
            "decrypt",
            "p.sealed",
            "--encryption-context",
            "tenant=other",
            "--encryption-context",
            "purpose=backup",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .code(AUTH);
    env.cmd()
        .args([
            "decrypt",
            "p.sealed",
            "--context",
            "purpose=backup",
            "--context",
            "tenant=acme",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success()
        .stdout("payload");
    env.cmd()
        .args([
            "encrypt",
            "p.txt",
            "--encryption-context",
            "novalue",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .code(USAGE);
}

#[test]
fn rewrap_then_open_with_the_new_key_only() {
    let env = Env::new();
    let old = env.keygen("old.key");
    let new = env.keygen("new.key");
    let plain = data(70_000, 9);
    env.write("doc.bin", &plain);
    env.cmd()
        .args(["put", "doc.bin", "--key-file"])
        .arg(&old)
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["--json", "rewrap", "doc.bin", "--key-file"])
        .arg(&old)
        .arg("--new-key-file")
        .arg(&new)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_one(&out);
    assert_eq!(v["verb"], "rewrap");
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_ne!(v["keys"][0]["key_id"], v["old_keys"][0]["key_id"]);

    env.cmd()
        .args(["get", "doc.bin", "-", "--key-file"])
        .arg(&old)
        .assert()
        .code(KEY);
    let got = env
        .cmd()
        .args(["get", "doc.bin", "-", "--key-file"])
        .arg(&new)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(got, plain);

    // A local file, rewrapped in place.
    seal_file(&env, &new, "f.sealed", b"local file");
    env.cmd()
        .args(["rewrap", "./f.sealed", "--key-file"])
        .arg(&new)
        .arg("--new-key-file")
        .arg(&old)
        .assert()
        .success();
    env.cmd()
        .args(["decrypt", "f.sealed", "--key-file"])
        .arg(&old)
        .assert()
        .success()
        .stdout("local file");
    // Rewrap without new keys is a usage error.
    env.cmd()
        .args(["rewrap", "./f.sealed", "--key-file"])
        .arg(&old)
        .assert()
        .code(USAGE);
}

#[test]
fn x25519_recipients_and_multi_wrap() {
    let env = Env::new();
    let local = env.keygen("local.key");
    let out = env
        .cmd()
        .args(["--json", "keygen", "--x25519", "-o", "me.id"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_one(&out);
    let recipient = v["recipient"].as_str().unwrap().to_owned();
    assert!(recipient.starts_with("sealstream-x25519-pub1:"));
    assert!(env.path("me.id.pub").is_file());

    env.write("m.txt", b"for two readers");
    env.cmd()
        .args([
            "encrypt",
            "m.txt",
            "-o",
            "m.sealed",
            "--recipient",
            &recipient,
            "--key-file",
        ])
        .arg(&local)
        .assert()
        .success();
    let v = json_one(
        &env.cmd()
            .args(["--json", "inspect", "m.sealed"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    let providers: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["local", "x25519"]);
    for args in [["--identity", "me.id"], ["--key-file", "local.key"]] {
        env.cmd()
            .args(["decrypt", "m.sealed"])
            .args(args)
            .assert()
            .success()
            .stdout("for two readers");
    }
    // The public key file works as a recipient too.
    env.cmd()
        .args([
            "encrypt",
            "m.txt",
            "-o",
            "m2.sealed",
            "--recipient",
            "me.id.pub",
        ])
        .assert()
        .success();
    env.cmd()
        .args(["decrypt", "m2.sealed", "--identity", "me.id"])
        .assert()
        .success()
        .stdout("for two readers");
    // So is the public key file's text, comment lines and all, as
    // `--recipient "$(cat me.id.pub)"` passes it (issue 15).
    let text = String::from_utf8(env.read("me.id.pub")).unwrap();
    assert!(text.starts_with('#'), "{text}");
    env.cmd()
        .args([
            "encrypt",
            "m.txt",
            "-o",
            "m3.sealed",
            "--recipient",
            text.trim_end(),
        ])
        .assert()
        .success();
    env.cmd()
        .args(["decrypt", "m3.sealed", "--identity", "me.id"])
        .assert()
        .success()
        .stdout("for two readers");
    // A recipient cannot open.
    env.cmd()
        .args(["decrypt", "m2.sealed", "--key-file"])
        .arg(&local)
        .assert()
        .code(KEY);
}

#[test]
fn json_output_of_ls_inspect_put_get_and_cat() {
    let env = Env::new();
    let plain = data(40_000, 5);
    env.write("one.bin", &plain);
    env.write("two.bin", b"2");
    let v = json_one(
        &env.cmd()
            .args([
                "--json",
                "put",
                "one.bin",
                "--context",
                "k=v",
                "--suite",
                "xchacha20-poly1305",
            ])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(v["verb"], "put");
    assert_eq!(v["plaintext_size"], 40_000);
    assert_eq!(v["suite"], "xchacha20-poly1305");
    assert_eq!(v["context"]["k"], "v");
    assert_eq!(v["keys"][0]["provider"], "local");
    env.cmd()
        .args(["--json", "put", "two.bin"])
        .assert()
        .success();

    let lines = json_lines(
        &env.cmd()
            .args(["--json", "ls"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "one.bin");
    assert_eq!(lines[0]["plaintext_size"], 40_000);
    assert_eq!(lines[0]["suite"], "xchacha20-poly1305");
    assert_eq!(lines[1]["name"], "two.bin");
    assert_eq!(lines[1]["plaintext_size"], 1);
    assert_eq!(lines[1]["suite"], "aes-256-gcm");
    assert!(lines[1]["keys"][0]["key_id"].is_string());

    let human = env
        .cmd()
        .args(["ls", "one"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let human = String::from_utf8(human).unwrap();
    assert!(
        human.contains("one.bin") && !human.contains("two.bin"),
        "{human}"
    );

    let v = json_one(
        &env.cmd()
            .args(["--json", "inspect", "one.bin"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(v["version"], 2);
    assert_eq!(v["suite_id"], 2);
    assert_eq!(v["plaintext_size"], 40_000);
    assert_eq!(v["chunks"], 3);
    assert_eq!(v["context"]["k"], "v");
    // inspect needs no key: it works with the key file gone.
    std::fs::rename(env.default_key(), env.path("moved.key")).unwrap();
    env.cmd()
        .args(["inspect", "one.bin"])
        .assert()
        .success()
        .stdout(contains("xchacha20-poly1305"));
    std::fs::rename(env.path("moved.key"), env.default_key()).unwrap();

    let out = env
        .cmd()
        .args(["--json", "get", "one.bin", "got.bin", "--context", "k=v"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_one(&out)["plaintext_size"], 40_000);
    assert_eq!(env.read("got.bin"), plain);

    // cat: data on stdout, the JSON result on stderr.
    let a = env
        .cmd()
        .args([
            "--json",
            "cat",
            "one.bin",
            "--range",
            "16380-16390",
            "--context",
            "k=v",
        ])
        .assert()
        .success();
    let o = a.get_output();
    assert_eq!(o.stdout, plain[16_380..=16_390]);
    let v = json_one(&o.stderr);
    assert_eq!(v["bytes"], 11);
}

/// A range starting exactly at the end prints nothing (like `tail -c +N`
/// one past the end); one starting past it is a usage error naming the
/// range, the object, its length and what to give instead. The S3 path
/// behaves the same (tests/it/s3.rs, cat_range_at_and_past_the_end_of_an_s3_object).
#[test]
fn cat_range_at_and_past_the_end() {
    let env = Env::new();
    let plain = data(1000, 12);
    env.write("e.bin", &plain);
    env.cmd().args(["put", "e.bin"]).assert().success();
    for (range, want) in [
        ("1000-", &plain[1000..]),
        ("1000-5000", &plain[1000..]),
        ("990-", &plain[990..]),
        ("-5000", &plain[..]),
    ] {
        env.cmd()
            .args(["cat", "e.bin", "--range", range])
            .assert()
            .success()
            .stdout(predicate::eq(want));
    }
    let a = env
        .cmd()
        .args(["cat", "e.bin", "--range", "1001-"])
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

#[test]
fn cat_ranges() {
    let env = Env::new();
    let plain = data(3 * CHUNK + 10, 11);
    env.write("r.bin", &plain);
    env.cmd().args(["put", "r.bin"]).assert().success();
    for (range, want) in [
        ("0-0", &plain[0..1]),
        ("16383-16384", &plain[16_383..16_385]),
        ("49000-", &plain[49_000..]),
        ("-5", &plain[plain.len() - 5..]),
        ("10-999999999", &plain[10..]),
    ] {
        env.cmd()
            .args(["cat", "r.bin", "--range", range])
            .assert()
            .success()
            .stdout(predicate::eq(want));
    }
    env.cmd()
        .args(["cat", "r.bin", "--range", "999999-"])
        .assert()
        .code(USAGE)
        .stderr(contains("past the end"));
    env.cmd()
        .args(["cat", "r.bin", "--range", "9-1"])
        .assert()
        .code(USAGE);
    let all = env
        .cmd()
        .args(["cat", "r.bin"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(all, plain);
}

#[test]
fn exit_codes_usage_and_not_found() {
    let env = Env::new();
    env.cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit codes:"))
        .stdout(contains("authentication failed"));
    env.cmd().arg("--no-such-flag").assert().code(USAGE);
    env.cmd()
        .args(["put", "missing.txt"])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("missing.txt"));
    env.cmd()
        .args(["get", "missing.bin"])
        .assert()
        .code(NOT_FOUND);
    env.cmd()
        .args(["inspect", "missing.bin"])
        .assert()
        .code(NOT_FOUND);
    // Errors as JSON with --json.
    let a = env
        .cmd()
        .args(["--json", "get", "missing.bin"])
        .assert()
        .code(NOT_FOUND);
    let v = json_one(&a.get_output().stderr);
    assert_eq!(v["class"], "not-found");
    assert_eq!(v["exit_code"], NOT_FOUND);
    // A bad object name.
    env.write("x", b"x");
    env.cmd()
        .args(["put", "x", "../escape"])
        .assert()
        .code(USAGE);
    env.cmd()
        .args(["put", "x", "a/../../escape"])
        .assert()
        .code(USAGE);
}

#[test]
fn config_file_env_and_flags_in_order() {
    let env = Env::new();
    let cfg_dir = env.home().join(".config/sealstream");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.toml"),
        "store = \"vault\"\nsuite = \"xchacha20-poly1305\"\n\n[keys]\nkey_files = [\"team.key\"]\n\n[aws]\nregion = \"eu-west-1\"\n",
    )
    .unwrap();
    let show = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut c = env.cmd();
        for (k, v) in envs {
            c.env(k, v);
        }
        json_one(
            &c.args(["--json", "config", "show"])
                .args(extra)
                .assert()
                .success()
                .get_output()
                .stdout,
        )
    };
    let v = show(&[], &[]);
    assert_eq!(v["config_file"]["found"], true);
    assert_eq!(
        v["store"]["value"],
        cfg_dir.join("vault").display().to_string()
    );
    assert_eq!(v["store"]["source"], "config file");
    assert_eq!(v["suite"]["value"], "xchacha20-poly1305");
    assert_eq!(
        v["keys"]["key_files"][0],
        cfg_dir.join("team.key").display().to_string()
    );
    assert_eq!(v["aws"]["region"]["value"], "eu-west-1");

    let v = show(
        &[],
        &[
            ("SEALSTREAM_STORE", "s3://bucket/pre"),
            ("SEALSTREAM_REGION", "us-west-2"),
        ],
    );
    assert_eq!(v["store"]["value"], "s3://bucket/pre");
    assert_eq!(v["store"]["source"], "env SEALSTREAM_STORE");
    assert_eq!(v["aws"]["region"]["value"], "us-west-2");

    let v = show(
        &["--store", "./here", "--region", "ap-south-1"],
        &[("SEALSTREAM_STORE", "s3://bucket/pre")],
    );
    assert_eq!(v["store"]["value"], "./here");
    assert_eq!(v["store"]["source"], "flag");
    assert_eq!(v["aws"]["region"]["source"], "flag");

    // Human form, and no secrets: the key file's contents never appear.
    let key = env.keygen("team-real.key");
    let secret = std::fs::read_to_string(&key).unwrap();
    let secret_hex = secret
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .unwrap()
        .to_owned();
    let out = env
        .cmd()
        .env("SEALSTREAM_KEY_FILE", &key)
        .args(["config", "show"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("store = "), "{out}");
    assert!(out.contains("team-real.key"), "{out}");
    assert!(!out.contains(&secret_hex));

    // A broken config file is a usage error that names it.
    std::fs::write(cfg_dir.join("config.toml"), "stor = 1\n").unwrap();
    env.cmd()
        .args(["config", "show"])
        .assert()
        .code(USAGE)
        .stderr(contains("config.toml"));
    // --config naming a missing file is an error; the default one missing is not.
    std::fs::remove_file(cfg_dir.join("config.toml")).unwrap();
    env.cmd().args(["config", "show"]).assert().success();
    env.cmd()
        .args(["--config", "nope.toml", "config", "show"])
        .assert()
        .code(NOT_FOUND);
}

#[test]
fn keys_from_env_and_config_seal_and_open() {
    let env = Env::new();
    let key = env.keygen("env.key");
    env.write("e.txt", b"env keyed");
    env.cmd()
        .env("SEALSTREAM_KEY_FILE", &key)
        .args(["put", "e.txt"])
        .assert()
        .success();
    // The default key was not created: the env named one.
    assert!(!env.default_key().exists());
    env.cmd()
        .env("SEALSTREAM_KEY_FILE", &key)
        .args(["cat", "e.txt"])
        .assert()
        .success()
        .stdout("env keyed");
    // Without it: no default key either, so a clear key error.
    env.cmd()
        .args(["cat", "e.txt"])
        .assert()
        .code(KEY)
        .stderr(contains("default key"));
}

#[test]
fn stores_given_as_folders_and_file_urls() {
    let env = Env::new();
    env.write("s.txt", b"in a folder store");
    // A store named explicitly is created only with --create (issue 11).
    env.cmd()
        .args(["--store", "./backups", "put", "s.txt", "nested/s.txt"])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("--create"));
    assert!(!env.path("backups").exists());
    env.cmd()
        .args([
            "--store",
            "./backups",
            "--create",
            "put",
            "s.txt",
            "nested/s.txt",
        ])
        .assert()
        .success();
    assert!(env.path("backups/nested/s.txt").is_file());
    let url = format!("file://{}", env.path("backups").display());
    env.cmd()
        .args(["--store", &url, "cat", "nested/s.txt"])
        .assert()
        .success()
        .stdout("in a folder store");
    let lines = json_lines(
        &env.cmd()
            .args(["--json", "ls", &url])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "nested/s.txt");
    // No temporary files are left in the store.
    assert_eq!(files_in(&env.path("backups/nested")), ["s.txt"]);
}

#[test]
fn encrypt_refuses_a_terminal_and_existing_outputs() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.write("a.sealed", b"existing");
    env.cmd()
        .args(["encrypt", "a.txt", "-o", "a.sealed"])
        .assert()
        .code(USAGE)
        .stderr(contains("already exists"));
    assert_eq!(env.read("a.sealed"), b"existing");
    env.cmd()
        .args(["encrypt", "a.txt", "-o", "a.sealed", "--force"])
        .assert()
        .success();
}

#[test]
fn ls_of_a_missing_default_store_is_empty_and_of_a_missing_named_store_not_found() {
    let env = Env::new();
    let a = env.cmd().args(["--json", "ls"]).assert().success();
    assert!(a.get_output().stdout.is_empty());
    env.cmd()
        .args(["--store", "./nope", "ls"])
        .assert()
        .code(NOT_FOUND);
}

#[test]
fn no_output_or_error_ever_contains_key_bytes() {
    let env = Env::new();
    let key = env.keygen("k.key");
    let other = env.keygen("o.key");
    let id = env
        .cmd()
        .args(["--json", "keygen", "--x25519", "-o", "id.x"])
        .assert()
        .success();
    let recipient = json_one(&id.get_output().stdout)["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    let secrets: Vec<String> = [&key, &other]
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("key "))
                .unwrap()
                .to_owned()
        })
        .chain(std::iter::once({
            let text = std::fs::read_to_string(env.path("id.x")).unwrap();
            let line = text
                .lines()
                .find(|l| l.starts_with("sealstream-x25519-secret1:"))
                .unwrap();
            line.trim_start_matches("sealstream-x25519-secret1:")
                .to_owned()
        }))
        .collect();
    env.write("p.txt", b"plaintext marker 12345");
    env.cmd()
        .args([
            "encrypt",
            "p.txt",
            "-o",
            "p.sealed",
            "--recipient",
            &recipient,
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .success();
    let mut bytes = env.read("p.sealed");
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    env.write("bad.sealed", &bytes);
    let runs: Vec<Vec<String>> = vec![
        vec![
            "decrypt".into(),
            "p.sealed".into(),
            "--key-file".into(),
            other.display().to_string(),
        ],
        vec![
            "decrypt".into(),
            "bad.sealed".into(),
            "--key-file".into(),
            key.display().to_string(),
        ],
        vec![
            "decrypt".into(),
            "bad.sealed".into(),
            "--identity".into(),
            "id.x".into(),
        ],
        vec![
            "--json".into(),
            "decrypt".into(),
            "p.sealed".into(),
            "--identity".into(),
            "k.key".into(),
        ],
        vec!["--json".into(), "inspect".into(), "p.sealed".into()],
        vec!["config".into(), "show".into(), "--json".into()],
        vec![
            "rewrap".into(),
            "./p.sealed".into(),
            "--key-file".into(),
            other.display().to_string(),
            "--new-key-file".into(),
            key.display().to_string(),
        ],
    ];
    for args in runs {
        let o = env
            .cmd()
            .env("SEALSTREAM_KEY_FILE", &key)
            .env("SEALSTREAM_IDENTITY", env.path("id.x"))
            .args(&args)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        for s in &secrets {
            assert!(!all.contains(s.as_str()), "{args:?} printed a key: {all}");
        }
        assert!(
            !all.contains("plaintext marker"),
            "{args:?} printed plaintext: {all}"
        );
    }
}

#[test]
fn bench_prints_one_json_object_per_measurement() {
    let env = Env::new();
    let lines = json_lines(
        &env.cmd()
            .args([
                "--json",
                "bench",
                "--size",
                "1MiB",
                "--repetitions",
                "1",
                "--threads",
                "1",
                "--suite",
                "aes-256-gcm",
            ])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert!(lines.len() >= 4, "{lines:?}");
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"seal") && names.contains(&"open"),
        "{names:?}"
    );
    assert!(lines.iter().all(|l| l["bytes"] == 1 << 20));
    env.cmd().args(["bench", "--s3"]).assert().code(USAGE);
}

/// Polls a future that never waits (X25519 wrapping does no I/O).
fn ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(fut).poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("X25519 wrapping waited"),
    }
}

/// Puts a record for another data key in front of the sealed file's records:
/// anyone holding the recipient's public key can wrap a key bound to this very
/// object (its bound section, salt and name are cleartext).
fn plant_x25519_record(path: &std::path::Path, recipient: &str) {
    use sealstream_kms::{DataKey, KeyProvider, WrapContext, X25519Recipient};
    let bytes = std::fs::read(path).unwrap();
    let hl = sealstream_format::HEADER_LEN;
    let header = sealstream_format::Header::parse(&bytes[..hl]).unwrap();
    let prefix = sealstream_format::BodyPrefix::from_bytes(
        bytes[hl..hl + sealstream_format::BODY_PREFIX_LEN]
            .try_into()
            .unwrap(),
    );
    let planted = ready(X25519Recipient::parse(recipient).unwrap().wrap(
        &DataKey::generate().unwrap(),
        WrapContext {
            suite: header.suite(),
            context: header.context(),
            bound: header.bound_section(),
            salt: &prefix.salt,
            name: header.name(),
        },
    ))
    .unwrap();
    let mut records = vec![planted];
    records.extend(header.records().iter().cloned());
    let mut out = header.with_records(records).unwrap().encode();
    out.extend_from_slice(&bytes[hl..]);
    std::fs::write(path, out).unwrap();
}

/// Issue 10, item 7: a record planted before the genuine one (it unwraps, to
/// a key that does not open the body) is skipped by decrypt, get, cat and
/// rewrap, which check every unwrapped key against the commitment; it used to
/// make the genuine object fail as tampered.
#[test]
fn a_planted_x25519_record_does_not_break_a_genuine_object() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["--json", "keygen", "--x25519", "-o", "me.id"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let recipient = json_one(&out)["recipient"].as_str().unwrap().to_owned();
    let plain = data(40_000, 17);
    env.write("m.txt", &plain);
    env.cmd()
        .args([
            "encrypt",
            "m.txt",
            "-o",
            "m.sealed",
            "--recipient",
            &recipient,
        ])
        .assert()
        .success();
    plant_x25519_record(&env.path("m.sealed"), &recipient);
    let v = json_one(
        &env.cmd()
            .args(["--json", "inspect", "m.sealed"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(v["keys"].as_array().unwrap().len(), 2, "{v}");

    let decrypted = env
        .cmd()
        .args(["decrypt", "m.sealed", "--identity", "me.id"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(decrypted == plain);
    let piped = env
        .cmd()
        .args(["decrypt", "-", "--identity", "me.id"])
        .pipe_stdin(env.path("m.sealed"))
        .unwrap()
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(piped == plain);

    // The same kind of object in the local store (sealed there, so bound to
    // its name, item 5): get and cat (whole and ranged).
    std::fs::create_dir_all(env.default_store()).unwrap();
    let in_store = env.default_store().join("p.bin");
    env.cmd()
        .args(["encrypt", "m.txt", "--recipient", &recipient, "-o"])
        .arg(&in_store)
        .assert()
        .success();
    plant_x25519_record(&in_store, &recipient);
    let got = env
        .cmd()
        .args(["get", "p.bin", "-", "--identity", "me.id"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(got == plain);
    let all = env
        .cmd()
        .args(["cat", "p.bin", "--identity", "me.id"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(all == plain);
    let part = env
        .cmd()
        .args([
            "cat",
            "p.bin",
            "--range",
            "30000-30009",
            "--identity",
            "me.id",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(part, &plain[30_000..30_010]);

    // Rewrap re-wraps the genuine key, not the planted one.
    let local = env.keygen("local.key");
    env.cmd()
        .args([
            "rewrap",
            "./m.sealed",
            "--identity",
            "me.id",
            "--new-key-file",
        ])
        .arg(&local)
        .assert()
        .success();
    let reopened = env
        .cmd()
        .args(["decrypt", "m.sealed", "--key-file"])
        .arg(&local)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(reopened == plain);
}

/// A real HTTP server on 127.0.0.1 that answers every request with 200 and
/// `body`, counting the connections it accepted.
fn http_server(body: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (addr, hits)
}

/// Issue 10 item 1: a share link's last path segment, percent-decoded, must
/// be one plain file name before it becomes the default output name. The
/// link points at a real local HTTP server that would serve bytes: the name
/// is refused before any request reaches it, and nothing is written
/// anywhere (inside or outside the folder). A control link with a plain
/// name does reach the server, so the server is really used.
#[test]
fn get_link_refuses_a_default_name_that_is_not_one_file_name() {
    use std::sync::atomic::Ordering;
    let env = Env::new();
    let sub = env.work().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (addr, hits) = http_server(data(20_000, 61));
    let outside = std::path::Path::new("/tmp/sealstream-item1-x");
    for hostile in [
        "..%2F..%2Fx",
        "..%2Fx",
        "%2Ftmp%2Fsealstream-item1-x",
        "a%5Cb",
        "%2E%2E",
        "x%0Ay",
        "x%1B%5B31m",
    ] {
        let link = format!(
            "http://{addr}/b/{hostile}?X-Amz-Signature=abc#k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        // The default name, and DEST naming an existing folder.
        for args in [vec!["get", &link], vec!["get", &link, "."]] {
            let a = env
                .cmd()
                .current_dir(&sub)
                .args(&args)
                .assert()
                .code(USAGE)
                .stderr(contains("cannot use the name of"))
                .stderr(contains("name the output"));
            let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
            assert!(!stderr.contains('\u{1b}'), "{stderr}");
            assert!(!stderr.contains("abc"), "{stderr}");
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused name must be refused before any download"
    );
    assert!(!env.work().join("x").exists());
    assert!(!env.path("x").exists() && !env.home().join("x").exists());
    assert!(!outside.exists());
    assert_eq!(files_in(&sub).len(), 0);
    assert_eq!(files_in(&env.work()), ["sub"]);

    // Control: a plain name reaches the server (whose bytes are no sealed
    // object, so the get fails) and leaves no file either.
    let link = format!(
        "http://{addr}/b/plain.bin?X-Amz-Signature=abc#k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    );
    env.cmd()
        .current_dir(&sub)
        .args(["get", &link])
        .assert()
        .failure();
    assert!(
        hits.load(Ordering::SeqCst) > 0,
        "the control link never reached the server"
    );
    assert_eq!(files_in(&sub).len(), 0);
}

/// Issue 10 item 9: header strings are escaped in human output, and the
/// context-mismatch hint never builds a shell command from an unquoted
/// value.
#[test]
fn hostile_header_strings_are_escaped_and_suggested_commands_quoted() {
    let env = Env::new();
    let key = env.keygen("k.key");
    env.write("m.txt", b"hostile header");

    // A context value with control characters: shown escaped, and no
    // command suggested (a quoted newline still moves the cursor).
    let spoof = "a\n  suite           none\r\u{1b}[31mred";
    env.cmd()
        .args(["encrypt", "m.txt", "-o", "c.sealed", "--key-file"])
        .arg(&key)
        .arg("--encryption-context")
        .arg(format!("x={spoof}"))
        .assert()
        .success();
    let a = env.cmd().args(["inspect", "c.sealed"]).assert().success();
    let text = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert!(text.contains("x=a\\n  suite"), "{text:?}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("  suite           none")),
        "{text:?}"
    );
    let a = env
        .cmd()
        .args(["decrypt", "c.sealed", "-o", "c.out", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    assert_eq!(err.lines().count(), 2, "{err:?}");
    assert!(!err.contains("open it with"), "{err:?}");

    // A value made to break out of the old '...' quoting: the suggested
    // command, run by a shell, opens the object and runs nothing else.
    let breakout = "a'$(touch pwned)'`touch pwned2`\"b";
    env.cmd()
        .args(["encrypt", "m.txt", "-o", "q.sealed", "--key-file"])
        .arg(&key)
        .arg("--encryption-context")
        .arg(format!("x={breakout}"))
        .assert()
        .success();
    let a = env
        .cmd()
        .args(["decrypt", "q.sealed", "-o", "q.out", "--key-file"])
        .arg(&key)
        .assert()
        .code(AUTH);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let flags = err.split("open it with ").nth(1).unwrap().trim_end();
    let script = format!("\"$SEALSTREAM\" decrypt q.sealed -o q.out --key-file \"$KEY\" {flags}");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("SEALSTREAM", env!("CARGO_BIN_EXE_sealstream"))
        .env("KEY", &key)
        .env("HOME", env.home())
        .current_dir(env.work())
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
    assert_eq!(env.read("q.out"), b"hostile header");
    assert!(!env.path("pwned").exists() && !env.path("pwned2").exists());

    // A key id with a newline, ANSI escapes and $(...) (written into the
    // header: no provider makes such ids), through inspect and ls.
    env.write("obj", b"listed");
    env.cmd()
        .args(["put", "obj", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    let v = json_one(
        &env.cmd()
            .args(["--json", "inspect", "obj"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    let id = v["keys"][0]["key_id"].as_str().unwrap().to_owned();
    let evil: String = "\n\u{1b}[2J$(id)`id`'"
        .chars()
        .chain(std::iter::repeat('x'))
        .take(id.len())
        .collect();
    let stored = env.default_store().join("obj");
    let mut bytes = std::fs::read(&stored).unwrap();
    let at = bytes
        .windows(id.len())
        .position(|w| w == id.as_bytes())
        .unwrap();
    bytes[at..at + id.len()].copy_from_slice(evil.as_bytes());
    std::fs::write(&stored, &bytes).unwrap();
    for args in [vec!["inspect", "obj"], vec!["ls"]] {
        let a = env.cmd().args(&args).assert().success();
        let text = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        assert!(!text.contains('\u{1b}'), "{args:?}: {text:?}");
        assert!(text.contains("\\n\\u{1b}[2J$(id)"), "{args:?}: {text:?}");
    }
}

/// Issue 10 item 8: a secret X25519 key given to --recipient is recognised
/// and never echoed; nor is any other value that is not a public key.
#[test]
fn a_secret_key_given_as_recipient_is_refused_without_echo() {
    let env = Env::new();
    env.cmd()
        .args(["keygen", "--x25519", "-o", "me.id"])
        .assert()
        .success();
    let secret = String::from_utf8(env.read("me.id")).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("sealstream-x25519-secret1:"))
        .unwrap()
        .to_owned();
    let body = secret.trim_start_matches("sealstream-x25519-secret1:");
    env.write("m.txt", b"x");
    for value in [secret.clone(), body.to_owned()] {
        let a = env
            .cmd()
            .args(["encrypt", "m.txt", "-o", "m.sealed", "--recipient", &value])
            .assert()
            .code(USAGE);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(!err.contains(body), "{err}");
        if value == secret {
            assert!(err.contains("this is a secret key"), "{err}");
            assert!(err.contains("pass its public key"), "{err}");
        }
    }
}

/// `completions` for every shell clap_complete knows, `man` to stdout and
/// into a folder (one page per verb, no page for clap's `help`), and the
/// long `--version` (commit, format version, AES backend) (issue 15).
#[test]
fn completions_man_pages_and_version() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = env
            .cmd()
            .args(["completions", shell])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        for word in ["sealstream", "migrate", "rewrap", "encryption-context"] {
            assert!(text.contains(word), "{shell} completions lack {word}");
        }
    }
    env.cmd().args(["completions", "tcsh"]).assert().code(USAGE);

    let page = env
        .cmd()
        .arg("man")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(".TH sealstream 1"), "{page}");
    std::fs::create_dir(env.path("man1")).unwrap();
    env.cmd().args(["man", "--out", "man1"]).assert().success();
    let mut pages: Vec<String> = std::fs::read_dir(env.path("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for verb in ["get", "put", "migrate", "share", "completions", "man"] {
        assert!(pages.contains(&format!("sealstream-{verb}.1")), "{pages:?}");
    }
    assert!(pages.contains(&"sealstream.1".to_owned()));
    assert!(!pages.iter().any(|p| p == "sealstream-help.1"), "{pages:?}");
    assert!(
        !pages.iter().any(|p| p.starts_with('.')),
        "temporary file left: {pages:?}"
    );
    let get = String::from_utf8(env.read("man1/sealstream-get.1")).unwrap();
    assert!(get.contains(".TH sealstream-get 1"), "{get}");
    assert!(
        get.contains("s3ec\\-aes\\-key"),
        "get's page lacks its options"
    );
    env.cmd()
        .args(["man", "--out", "no-such-folder"])
        .assert()
        .code(USAGE);

    let v = env
        .cmd()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = String::from_utf8(v).unwrap();
    assert!(v.starts_with("sealstream "), "{v}");
    assert!(v.contains("\ncommit: "), "{v}");
    assert!(v.contains("format: version 2"), "{v}");
    assert!(
        v.contains("AES-256-GCM: ring") || v.contains("AES-256-GCM: aws-lc-rs"),
        "{v}"
    );
}

/// `sealstream cat BIG | head`: when the reader of stdout goes away the
/// command exits 141 (128 + SIGPIPE, as a shell shows for `cat`) without
/// an error line; `decrypt` and `encrypt` to a closed pipe likewise
/// (issue 15).
#[test]
fn a_closed_output_pipe_ends_quietly_like_cat() {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let env = Env::new();
    let key = env.keygen("k.key");
    env.write("big", &data(8 << 20, 7));
    env.cmd()
        .args(["encrypt", "big", "-o", "big.sealed", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    let runs: [&[&str]; 2] = [
        &["decrypt", "big.sealed", "--key-file"],
        &["encrypt", "big", "--key-file"],
    ];
    for args in runs {
        let mut child = Std::new(env!("CARGO_BIN_EXE_sealstream"))
            .env_clear()
            .env("HOME", env.home())
            .current_dir(env.work())
            .args(args)
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The read end is closed here, before the command wrote everything.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(141), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
}

/// With `--json`, command-line errors from the parser are one JSON error
/// object on stderr (class `usage`, exit 2) like every other error; help
/// stays text on stdout (issue 15).
#[test]
fn json_covers_command_line_errors() {
    let env = Env::new();
    for args in [
        &["--json", "get"][..],
        &["--json", "put", "--bogus", "x"][..],
        &["get", "--json"][..],
        &["--json", "nosuchverb"][..],
    ] {
        let out = env.cmd().args(args).assert().code(USAGE);
        let out = out.get_output();
        assert!(out.stdout.is_empty(), "{args:?}");
        let v = json_one(&out.stderr);
        assert_eq!(v["class"], "usage", "{args:?}: {v}");
        assert_eq!(v["exit_code"], 2, "{args:?}: {v}");
        assert!(!v["error"].as_str().unwrap().is_empty(), "{args:?}: {v}");
    }
    let out = env.cmd().args(["--json", "get"]).assert().code(USAGE);
    let v = json_one(&out.get_output().stderr);
    assert!(v["error"].as_str().unwrap().contains("<OBJECT>"), "{v}");
    // Without --json: clap's text.
    let out = env.cmd().arg("get").assert().code(USAGE);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).starts_with("error: "));
    env.cmd()
        .args(["--json", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Usage:"));
}

/// The documented exit codes: an existing output or key is exit 2 for
/// `keygen` as for every verb (it was 5), and a folder where a file is
/// expected is exit 2 for keygen, encrypt, decrypt and put (issue 15).
#[test]
fn existing_outputs_and_folders_are_usage_errors_for_every_verb() {
    let env = Env::new();
    let key = env.keygen("k.key");
    let before = env.read("k.key");
    env.cmd()
        .args(["keygen", "-o", "k.key"])
        .assert()
        .code(USAGE)
        .stderr(contains("already exists"));
    assert_eq!(env.read("k.key"), before, "the key was replaced");
    env.cmd()
        .args(["keygen", "--x25519", "-o", "k.key"])
        .assert()
        .code(USAGE);
    std::fs::create_dir(env.path("dir")).unwrap();
    let k = key.display().to_string();
    for args in [
        &["keygen", "-o", "dir"][..],
        &["keygen", "-o", "dir", "--force"][..],
        &["encrypt", "dir", "-o", "x.sealed", "--key-file", &k][..],
        &["decrypt", "dir", "-o", "x.out", "--key-file", &k][..],
        &["put", "dir", "--key-file", &k][..],
    ] {
        env.cmd()
            .args(args)
            .assert()
            .code(USAGE)
            .stderr(contains("is a folder"));
    }
    assert!(env.path("dir").is_dir());
}

/// `--profile nosuch`: exit 2 naming the profile, before any AWS call; a
/// profile defined in ~/.aws/config (`[profile NAME]`) or ~/.aws/credentials
/// (`[NAME]`) is accepted (issue 15).
#[test]
fn an_unknown_aws_profile_is_a_usage_error() {
    let env = Env::new();
    env.cmd()
        .args(["--profile", "nosuch", "config", "show"])
        .assert()
        .code(USAGE)
        .stderr(contains("profile nosuch not found"));
    let aws = env.home().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("config"),
        "[default]\nregion = eu-west-1\n[profile backup]\n",
    )
    .unwrap();
    std::fs::write(aws.join("credentials"), "[ci]\naws_access_key_id = x\n").unwrap();
    for p in ["backup", "ci", "default"] {
        env.cmd()
            .args(["--profile", p, "config", "show"])
            .assert()
            .success();
    }
    // `[backup]` in the config file is not `[profile backup]`.
    std::fs::write(aws.join("config"), "[backup]\n").unwrap();
    env.cmd()
        .args(["--profile", "backup", "config", "show"])
        .assert()
        .code(USAGE);
}

/// Puts `p.bin` (three full chunks and a bit) under each name into `store`.
fn put_all(env: &Env, store: &std::path::Path, names: &[&str]) {
    env.write("p.bin", &data(3 * CHUNK + 100, 7));
    for name in names {
        env.cmd()
            .arg("--store")
            .arg(store)
            .args(["--create", "put", "p.bin", name])
            .assert()
            .success();
    }
}

#[test]
fn check_authenticates_every_object_and_names_the_bad_chunk() {
    let env = Env::new();
    let store = env.path("store");
    put_all(
        &env,
        &store,
        &["a/good1", "a/good2", "a/bad", "a/cut", "b/other"],
    );
    env.cmd()
        .arg("--store")
        .arg(&store)
        .arg("check")
        .assert()
        .success()
        .stdout(contains("checked 5 of 5 objects: 5 ok, 0 failed"));

    // A byte of chunk 1 flipped; the final chunk cut short.
    let bad = store.join("a/bad");
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[(4096 + BODY_PREFIX + SEALED_CHUNK + 10) as usize] ^= 1;
    std::fs::write(&bad, &bytes).unwrap();
    let cut = store.join("a/cut");
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let before = files_in(&store.join("a"));

    env.cmd()
        .arg("--store")
        .arg(&store)
        .args(["check", "a/", "--jobs", "3"])
        .assert()
        .code(AUTH)
        .stdout(contains("FAILED a/bad: "))
        .stdout(contains("chunk 1 failed authentication"))
        .stdout(contains("FAILED a/cut: "))
        .stdout(contains("FAILED a/good").not())
        .stdout(contains("checked 4 of 4 objects: 2 ok, 2 failed"))
        .stderr(contains("2 of 4 checked objects failed"));

    let a = env
        .cmd()
        .arg("--store")
        .arg(&store)
        .args(["--json", "check", "a/"])
        .assert()
        .code(AUTH);
    let lines = json_lines(&a.get_output().stdout);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let by_name = |n: &str| {
        lines
            .iter()
            .find(|v| v["object"] == n)
            .unwrap_or_else(|| panic!("no result for {n}: {lines:?}"))
    };
    assert_eq!(by_name("a/bad")["ok"], false);
    assert_eq!(by_name("a/bad")["chunk"], 1);
    assert_eq!(by_name("a/bad")["class"], "authentication-failed");
    assert_eq!(by_name("a/bad")["exit_code"], AUTH);
    assert_eq!(by_name("a/cut")["ok"], false);
    assert_eq!(by_name("a/cut")["exit_code"], AUTH);
    assert_eq!(by_name("a/good1")["ok"], true);
    assert_eq!(by_name("a/good1")["plaintext_size"], 3 * CHUNK + 100);
    let summary = &lines[4];
    assert_eq!(summary["summary"], true);
    assert_eq!(
        (
            &summary["listed"],
            &summary["checked"],
            &summary["ok"],
            &summary["failed"]
        ),
        (&4.into(), &4.into(), &2.into(), &2.into())
    );

    // --sample 0 checks nothing; 100 checks everything; 50 of one object
    // rounds up to one.
    env.cmd()
        .arg("--store")
        .arg(&store)
        .args(["check", "a/", "--sample", "0"])
        .assert()
        .success()
        .stdout(contains("checked 0 of 4 objects: 0 ok, 0 failed"));
    env.cmd()
        .arg("--store")
        .arg(&store)
        .args(["check", "a/", "--sample", "100"])
        .assert()
        .code(AUTH)
        .stdout(contains("checked 4 of 4 objects: 2 ok, 2 failed"));
    env.cmd()
        .arg("--store")
        .arg(&store)
        .args(["check", "b/", "--sample", "50"])
        .assert()
        .success()
        .stdout(contains("checked 1 of 1 objects: 1 ok, 0 failed"));
    env.cmd()
        .arg("--store")
        .arg(&store)
        .args(["check", "--sample", "101"])
        .assert()
        .code(USAGE);
    // Nothing was written into the store.
    assert_eq!(files_in(&store.join("a")), before);
}

#[test]
fn rm_removes_objects_and_trees_and_refuses_what_is_not_one() {
    let env = Env::new();
    let store = env.path("store");
    put_all(&env, &store, &["a/x", "a/y", "a/sub/z", "ab/w", "top"]);
    let rm = |args: &[&str]| {
        let mut c = env.cmd();
        c.arg("--store").arg(&store).arg("rm").args(args);
        c
    };
    rm(&["a/"])
        .assert()
        .code(USAGE)
        .stderr(contains("names a prefix"))
        .stderr(contains("rm -r"));
    rm(&["a/x", "nosuch"])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("nosuch"));
    assert!(store.join("a/x").is_file(), "a failed rm removed something");
    rm(&["a"])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("folder"));
    env.write("outside.txt", b"not an object");
    rm(&["./outside.txt"]).assert().code(USAGE);
    assert!(env.path("outside.txt").is_file());

    rm(&["-r", "a", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("would remove").count(3))
        .stdout(contains("a/sub/z"));
    assert!(store.join("a/sub/z").is_file());

    rm(&["a/x"])
        .assert()
        .success()
        .stdout(contains(format!("removed {}", store.join("a/x").display())));
    assert!(!store.join("a/x").exists());
    rm(&["-r", "a"])
        .assert()
        .success()
        .stdout(contains("removed").count(2));
    assert!(!store.join("a").exists(), "emptied folders are removed");
    assert!(store.join("ab/w").is_file(), "-r a must not touch ab/");
    rm(&["-r", "a"]).assert().code(NOT_FOUND);

    let a = env
        .cmd()
        .arg("--store")
        .arg(&store)
        .args(["--json", "rm", "top"])
        .assert()
        .success();
    let v = json_one(&a.get_output().stdout);
    assert_eq!(v["verb"], "rm");
    assert_eq!(v["removed"], true);
    assert_eq!(v["dry_run"], false);
    assert!(!store.join("top").exists());
}

/// `rm` reports an object the local store cannot remove, removes the others
/// and exits 7. The object is made unremovable with `chattr +i` (root) or a
/// read-only folder (other users); as root where `chattr +i` is refused,
/// nothing can be made unremovable and the test says so and skips.
#[test]
fn rm_reports_each_local_object_it_cannot_remove() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let store = env.path("store");
    put_all(&env, &store, &["a/x", "locked/y", "a/z"]);
    let locked = store.join("locked");
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(locked.join("y"))
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let set_readonly = |ro: bool| {
        let mode = if ro { 0o555 } else { 0o755 };
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let immutable = if is_root {
        if !chattr("+i") {
            eprintln!(
                "SKIP rm_reports_each_local_object_it_cannot_remove: root, and chattr +i \
                 is refused here, so no file can be made unremovable"
            );
            return;
        }
        true
    } else {
        set_readonly(true);
        false
    };
    let a = env
        .cmd()
        .arg("--store")
        .arg(&store)
        .args(["rm", "a/x", "locked/y", "a/z"])
        .assert();
    let o = a.get_output().clone();
    if immutable {
        assert!(chattr("-i"));
    } else {
        set_readonly(false);
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(7), "{stdout}\n{stderr}");
    let y = store.join("locked/y");
    assert!(
        stdout.contains(&format!("removed {}", store.join("a/x").display()))
            && stdout.contains(&format!("removed {}", store.join("a/z").display()))
            && !stdout.contains("locked"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("not removed: {}", y.display()))
            && stderr.contains("1 object(s) were not removed"),
        "{stderr}"
    );
    assert!(y.is_file() && !store.join("a").exists());
    // Named twice (the same prefix given twice): removed once, no failure.
    env.cmd()
        .arg("--store")
        .arg(&store)
        .args(["rm", "-r", "locked/", "locked"])
        .assert()
        .success()
        .stdout(contains("removed").count(1));
    assert!(!store.join("locked").exists());
}

#[test]
fn get_writes_through_devices_and_fifos_and_never_replaces_a_symlink() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::new();
    let plain = data(2 * CHUNK + 5, 9);
    env.write("p.bin", &plain);
    env.cmd().args(["put", "p.bin", "obj"]).assert().success();
    env.cmd()
        .args(["encrypt", "p.bin", "-o", "p.sealed"])
        .assert()
        .success();

    for args in [
        &["get", "obj", "/dev/null"][..],
        &["get", "obj", "/dev/null", "--force"],
        &["decrypt", "p.sealed", "-o", "/dev/null", "--force"],
    ] {
        env.cmd().args(args).assert().success();
        let ft = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(ft.is_char_device(), "{args:?} replaced /dev/null");
    }

    let victim = env.write("victim.txt", b"keep me");
    let link = env.path("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for force in [false, true] {
        let mut c = env.cmd();
        c.args(["get", "obj"]).arg(&link);
        if force {
            c.arg("--force");
        }
        c.assert()
            .code(USAGE)
            .stderr(contains("symbolic link"))
            .stderr(contains("target"));
    }
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(env.read("victim.txt"), b"keep me");
    // Naming the target replaces it.
    env.cmd()
        .args(["get", "obj"])
        .arg(&victim)
        .arg("--force")
        .assert()
        .success();
    assert!(env.read("victim.txt") == plain);

    let fifo = env.path("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    env.cmd()
        .args(["get", "obj"])
        .arg(&fifo)
        .arg("--force")
        .assert()
        .success();
    let got = reader.join().unwrap();
    assert!(got == plain, "the FIFO got {} bytes", got.len());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// A store object that does not exist is named as one: "no object NAME in
/// store ROOT" with a pointer to `sealstream ls`, exit 3, for get, cat,
/// inspect, rewrap and mv; a missing plain file keeps the file message
/// (issue 15).
#[test]
fn a_missing_store_object_is_named_with_its_store() {
    let env = Env::new();
    let key = env.keygen("k.key");
    let k = key.display().to_string();
    for args in [
        &["get", "no/such.txt", "out", "--key-file", &k][..],
        &["cat", "no/such.txt", "--key-file", &k][..],
        &["inspect", "no/such.txt"][..],
        &[
            "rewrap",
            "no/such.txt",
            "--key-file",
            &k,
            "--new-key-file",
            &k,
        ][..],
        &["mv", "no/such.txt", "other.txt", "--key-file", &k][..],
    ] {
        env.cmd()
            .args(args)
            .assert()
            .code(NOT_FOUND)
            .stderr(contains("no object no/such.txt in store"))
            .stderr(contains("sealstream ls"));
    }
    env.cmd()
        .args(["decrypt", "./nosuch.sealed", "--key-file", &k])
        .assert()
        .code(NOT_FOUND)
        .stderr(contains("no such file"));
}
