//! Regression tests for issue 10 ("close the security holes found by an
//! outside review"), one section per item. S3 tests run against the real
//! local server of scripts/services.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use common::{AUTH, Env, USAGE, data, json_one};
use predicates::str::contains;

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

// ---------------------------------------------------------------------
// Item 5: objects of a store are bound to their names.
// ---------------------------------------------------------------------

/// Puts two objects into `store`, one nested; returns their plaintexts.
fn put_two(env: &Env, store: &[&str], cmd: &dyn Fn() -> assert_cmd::Command) -> (Vec<u8>, Vec<u8>) {
    let one = data(10_000, 51);
    let two = data(20_000, 52);
    env.write("one.txt", &one);
    env.write("two.txt", &two);
    // `--create`: a local store named with --store is created only when asked.
    cmd()
        .args(store)
        .args(["--create", "put", "one.txt", "a/one.txt"])
        .assert()
        .success();
    cmd()
        .args(store)
        .args(["put", "two.txt", "a/b/two.txt"])
        .assert()
        .success();
    (one, two)
}

#[test]
fn swapped_local_store_objects_fail_naming_both_names() {
    let env = Env::new();
    let store = ["--store", "./st"];
    let (one, _two) = put_two(&env, &store, &|| env.cmd());
    let root = env.path("st");
    let (p1, p2) = (root.join("a/one.txt"), root.join("a/b/two.txt"));
    // Each opens under its own name, by every reading verb.
    let got = env
        .cmd()
        .args(store)
        .args(["get", "a/one.txt", "-"])
        .assert()
        .success();
    assert!(got.get_output().stdout == one);
    env.cmd()
        .args(store)
        .args(["decrypt"])
        .arg(&p1)
        .args(["-o", "d1.out"])
        .assert()
        .success();
    assert!(env.read("d1.out") == one);

    // Swap the two files (someone with write access to the folder).
    let (b1, b2) = (std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    std::fs::write(&p1, &b2).unwrap();
    std::fs::write(&p2, &b1).unwrap();
    for args in [
        vec!["get", "a/one.txt", "x.out"],
        vec!["cat", "a/one.txt"],
        vec!["cat", "a/one.txt", "--range", "0-9"],
        vec!["get", "a/b/two.txt", "y.out"],
    ] {
        let a = env.cmd().args(store).args(&args).assert().code(AUTH);
        let err = stderr_of(&a);
        assert!(err.contains("name mismatch"), "{args:?}: {err}");
        let (exp, found) = if args[1] == "a/one.txt" {
            ("\"a/one.txt\"", "\"a/b/two.txt\"")
        } else {
            ("\"a/b/two.txt\"", "\"a/one.txt\"")
        };
        assert!(err.contains(exp) && err.contains(found), "{args:?}: {err}");
        assert!(a.get_output().stdout.is_empty(), "{args:?}");
    }
    // decrypt of a file inside the store checks its store name too.
    let a = env
        .cmd()
        .args(store)
        .arg("decrypt")
        .arg(&p1)
        .args(["-o", "d2.out"])
        .assert()
        .code(AUTH);
    assert!(stderr_of(&a).contains("\"a/b/two.txt\""));
    assert!(!env.path("x.out").exists() && !env.path("y.out").exists());
    assert!(!env.path("d2.out").exists());
    // Outside the store, a plain `decrypt` takes the file as it is.
    std::fs::copy(&p1, env.path("loose.sealed")).unwrap();
    env.cmd()
        .args(store)
        .args(["decrypt", "loose.sealed", "-o", "loose.out"])
        .assert()
        .success();
    assert!(env.read("loose.out").len() == 20_000);
    // Plain encrypt/decrypt keep working without names.
    env.cmd()
        .args(["encrypt", "one.txt", "-o", "plain.sealed"])
        .assert()
        .success();
    env.cmd()
        .args(["decrypt", "plain.sealed", "-o", "plain.out"])
        .assert()
        .success();
    assert!(env.read("plain.out") == one);
    // An unbound file dropped into the store is refused under a name.
    std::fs::copy(env.path("plain.sealed"), root.join("dropped")).unwrap();
    let a = env
        .cmd()
        .args(store)
        .args(["cat", "dropped"])
        .assert()
        .code(AUTH);
    assert!(
        stderr_of(&a).contains("bound to no name"),
        "{}",
        stderr_of(&a)
    );
}

#[test]
fn mv_in_a_local_store_rebinds_without_reencrypting() {
    let env = Env::new();
    let store = ["--store", "./st"];
    let (one, _) = put_two(&env, &store, &|| env.cmd());
    let root = env.path("st");
    let before = std::fs::read(root.join("a/one.txt")).unwrap();
    let v = json_one(
        &env.cmd()
            .args(store)
            .args(["--json", "mv", "a/one.txt", "c/moved.txt"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(v["verb"], "mv");
    assert_eq!(v["name"], "c/moved.txt");
    assert!(!root.join("a/one.txt").exists());
    let after = std::fs::read(root.join("c/moved.txt")).unwrap();
    // Same length, same body: only the header changed.
    assert_eq!(before.len(), after.len());
    assert!(before[4096..] == after[4096..]);
    assert!(before[..4096] != after[..4096]);
    let got = env
        .cmd()
        .args(store)
        .args(["get", "c/moved.txt", "-"])
        .assert()
        .success();
    assert!(got.get_output().stdout == one);
    // The old bytes put back under the old name still open there, but the
    // moved bytes do not open under the old name (swap back fails).
    std::fs::write(root.join("a/one.txt"), &after).unwrap();
    let a = env
        .cmd()
        .args(store)
        .args(["cat", "a/one.txt"])
        .assert()
        .code(AUTH);
    assert!(stderr_of(&a).contains("\"c/moved.txt\""));
    std::fs::write(root.join("a/one.txt"), &before).unwrap();
    env.cmd()
        .args(store)
        .args(["cat", "a/one.txt"])
        .assert()
        .success();
    // mv refuses to replace an existing object without --force, and a
    // swapped object cannot be laundered by moving it.
    env.cmd()
        .args(store)
        .args(["mv", "a/one.txt", "a/b/two.txt"])
        .assert()
        .code(USAGE)
        .stderr(contains("already exists"));
    std::fs::write(
        root.join("a/one.txt"),
        std::fs::read(root.join("a/b/two.txt")).unwrap(),
    )
    .unwrap();
    env.cmd()
        .args(store)
        .args(["mv", "a/one.txt", "z.txt"])
        .assert()
        .code(AUTH)
        .stderr(contains("name mismatch"));
    assert!(!root.join("z.txt").exists());
    // A file sealed outside the store is adopted into it by mv, bound to
    // its new name there.
    env.cmd()
        .args(["encrypt", "one.txt", "-o", "loose.sealed"])
        .assert()
        .success();
    env.cmd()
        .args(store)
        .args(["mv", "./loose.sealed", "adopted.txt"])
        .assert()
        .success();
    assert!(!env.path("loose.sealed").exists());
    let got = env
        .cmd()
        .args(store)
        .args(["cat", "adopted.txt"])
        .assert()
        .success();
    assert!(got.get_output().stdout == one);
}

#[test]
fn swapped_s3_objects_fail_and_mv_rebinds_them() {
    let Some(svc) = common::services::s3("swapped_s3_objects_fail_and_mv_rebinds_them") else {
        return;
    };
    let env = Env::new();
    let url = svc.store(&env, "names");
    let store = ["--store", url.as_str()];
    let (one, two) = put_two(&env, &store, &|| svc.cmd(&env));
    // A large object takes the multipart path (server-side copy of the body).
    let big = data(13 << 20, 53);
    env.write("big.bin", &big);
    svc.cmd(&env)
        .args(store)
        .args(["put", "big.bin"])
        .assert()
        .success();

    // Swap a/one.txt and a/b/two.txt with plain S3 writes.
    let sdk = svc.sdk();
    let prefix = format!(
        "{}/",
        url.strip_prefix(&format!("s3://{}/", svc.bucket)).unwrap()
    );
    let k = |name: &str| format!("{prefix}{name}");
    let fetch = |name: &str| sdk.get(&k(name)).unwrap();
    let upload = |name: &str, bytes: &[u8]| sdk.put(&k(name), bytes);
    let b1 = fetch("a/one.txt");
    let b2 = fetch("a/b/two.txt");
    upload("a/one.txt", &b2);
    upload("a/b/two.txt", &b1);
    let a = svc
        .cmd(&env)
        .args(store)
        .args(["get", "a/one.txt", "x.out"])
        .assert()
        .code(AUTH);
    let err = stderr_of(&a);
    assert!(err.contains("name mismatch"), "{err}");
    assert!(
        err.contains("a/one.txt") && err.contains("a/b/two.txt"),
        "{err}"
    );
    assert!(!env.path("x.out").exists());
    // Put back, then move: the moved object opens under its new name only,
    // and nothing is left under the old one.
    upload("a/one.txt", &b1);
    upload("a/b/two.txt", &b2);
    for (from, to, plain) in [
        ("a/one.txt", "c/one.txt", &one),
        ("big.bin", "c/big.bin", &big),
    ] {
        let v = json_one(
            &svc.cmd(&env)
                .args(store)
                .args(["--json", "mv", from, to])
                .assert()
                .success()
                .get_output()
                .stdout,
        );
        assert!(v["name"].as_str().unwrap().ends_with(to), "{v}");
        let got = svc
            .cmd(&env)
            .args(store)
            .args(["get", to, "-"])
            .assert()
            .success();
        assert!(&got.get_output().stdout == plain, "{to}");
        assert!(sdk.get(&k(from)).is_none(), "{from} still exists");
    }
    // Copying the moved bytes back to the old name does not open there.
    upload("a/one.txt", &fetch("c/one.txt"));
    svc.cmd(&env)
        .args(store)
        .args(["cat", "a/one.txt"])
        .assert()
        .code(AUTH)
        .stderr(contains("c/one.txt"));
    let got = svc
        .cmd(&env)
        .args(store)
        .args(["cat", "a/b/two.txt"])
        .assert()
        .success();
    assert!(got.get_output().stdout == two);
}

// ---------------------------------------------------------------------
// Item 14: a share link from a file or stdin, not argv.
// ---------------------------------------------------------------------

#[cfg(unix)]
fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn link_files_get_the_checks_of_secret_key_files() {
    const LINK: &str = "http://127.0.0.1:9/b/x.bin?X-Amz-Signature=abc#k=SECRETSECRETSECRETSECRETSECRETSECRETSECRET0";
    let env = Env::new();
    // Group/other-readable: refused, with the fix, without the link.
    let f = env.write("link.txt", LINK.as_bytes());
    chmod(&f, 0o644);
    for verb in ["get", "cat"] {
        let a = env
            .cmd()
            .args([verb, "--link-file", "link.txt"])
            .assert()
            .code(common::KEY);
        let err = stderr_of(&a);
        assert!(err.contains("chmod 600"), "{err}");
        assert!(
            !err.contains("SECRETSECRET") && !err.contains("abc"),
            "{err}"
        );
    }
    // Too large.
    let big = env.write("big.txt", &vec![b'a'; 5000]);
    chmod(&big, 0o600);
    env.cmd()
        .args(["get", "--link-file", "big.txt"])
        .assert()
        .code(common::KEY)
        .stderr(contains("too large"));
    // A FIFO is refused at once (no writer: a blocking open would hang
    // until the command's timeout).
    let fifo = env.path("link.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    env.cmd()
        .timeout(std::time::Duration::from_secs(20))
        .args(["get", "--link-file", "link.fifo"])
        .assert()
        .code(common::KEY)
        .stderr(contains("FIFO"));
    // Not a link: refused without echoing the content.
    let junk = env.write("junk.txt", b"SECRETSECRET not a link\n");
    chmod(&junk, 0o600);
    let a = env
        .cmd()
        .args(["get", "--link-file", "junk.txt"])
        .assert()
        .code(USAGE);
    assert!(!stderr_of(&a).contains("SECRETSECRET"), "{}", stderr_of(&a));
    // A well-formed link in a 0600 file is read (and fails only on the
    // closed port it names), and so is one on stdin.
    chmod(&f, 0o600);
    for a in [
        env.cmd()
            .args(["get", "--link-file", "link.txt", "out.bin"])
            .assert(),
        env.cmd()
            .args(["get", "-", "out.bin"])
            .write_stdin(format!("{LINK}\n"))
            .assert(),
    ] {
        let err = stderr_of(&a);
        assert!(a.get_output().status.code() != Some(USAGE), "{err}");
        assert!(
            !err.contains("SECRETSECRET") && !err.contains("abc"),
            "{err}"
        );
    }
    assert!(!env.path("out.bin").exists());
    // --link-file takes the place of OBJECT: OBJECT and DEST both is an error.
    env.cmd()
        .args(["get", "--link-file", "link.txt", "x", "y"])
        .assert()
        .code(USAGE)
        .stderr(contains("--link-file replaces OBJECT"));
}

#[test]
fn share_links_open_from_a_link_file_and_from_stdin() {
    let Some(svc) = common::services::s3("share_links_open_from_a_link_file_and_from_stdin") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "linkfile");
    let plain = data(50_000, 54);
    env.write("s.bin", &plain);
    svc.cmd(&env)
        .args(["--store", &store, "put", "s.bin"])
        .assert()
        .success();
    let v = json_one(
        &svc.cmd(&env)
            .args(["--json", "--store", &store, "share", "s.bin"])
            .assert()
            .success()
            .get_output()
            .stdout,
    );
    let link = v["link"].as_str().unwrap().to_owned();
    // Another user with only the link, kept in a 0600 file.
    let other = Env::new();
    let f = other.write("link.txt", format!("{link}\n").as_bytes());
    #[cfg(unix)]
    chmod(&f, 0o600);
    other
        .cmd()
        .args(["get", "--link-file", "link.txt", "out.bin"])
        .assert()
        .success();
    assert!(other.read("out.bin") == plain);
    other
        .cmd()
        .args(["get", "--link-file", "link.txt"])
        .assert()
        .success();
    assert!(other.read("s.bin") == plain);
    let a = other
        .cmd()
        .args(["cat", "--link-file", "link.txt"])
        .assert()
        .success();
    assert!(a.get_output().stdout == plain);
    let a = other
        .cmd()
        .args(["get", "-", "-"])
        .write_stdin(link.clone())
        .assert()
        .success();
    assert!(a.get_output().stdout == plain);
    let a = other
        .cmd()
        .args(["cat", "-"])
        .write_stdin(link)
        .assert()
        .success();
    assert!(a.get_output().stdout == plain);
}

// ---------------------------------------------------------------------
// Item 8: one redaction for the whole workspace; whole fragments hidden.
// ---------------------------------------------------------------------

#[test]
fn errors_and_json_never_show_a_fragment_or_secret_parameter() {
    let env = Env::new();
    let secret = "KEYKEYKEYKEYKEYKEYKEYKEYKEYKEYKEYKEYKEYKEYK";
    for link in [
        format!(
            "http://127.0.0.1:9/b/x.bin?X-Amz-Signature=sig123&AWSAccessKeyId=AKIDV2X#x=1&k={secret}"
        ),
        format!(
            "http://127.0.0.1:9/b/x.bin?x-amz-%53ignature=sig123&awsaccesskeyid=AKIDV2X#k={secret}"
        ),
        format!("http://127.0.0.1:9/b/x.bin?Signature=sig123#{secret}"),
        // A link whose default name is refused: the message names the link.
        format!("http://127.0.0.1:9/b/..%2Fx?X-Amz-Credential=AKIDV2X#x=1&k={secret}"),
    ] {
        for json in [false, true] {
            let mut c = env.cmd();
            if json {
                c.arg("--json");
            }
            let a = c.args(["get", &link, "out.bin"]).assert().failure();
            let o = a.get_output();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            for leak in [secret, "sig123", "AKIDV2X", "x=1&k="] {
                assert!(!all.contains(leak), "{leak} leaked for {link}: {all}");
            }
            if json {
                let v: serde_json::Value =
                    serde_json::from_str(String::from_utf8_lossy(&o.stderr).trim()).unwrap();
                assert!(v["error"].is_string(), "{v}");
            }
        }
    }
    assert!(!env.path("out.bin").exists());
}

// ---------------------------------------------------------------------
// Item 16 (second half): S3 names with `..`, `.` or empty segments.
// ---------------------------------------------------------------------

#[test]
fn s3_names_with_dot_dot_or_empty_segments_are_refused_before_any_request() {
    let env = Env::new();
    env.write("x.txt", b"hello");
    // No endpoint or credentials: a refusal must come from the name check
    // (exit 2), not from a failed request.
    for args in [
        vec!["--store", "s3://bkt/p", "put", "x.txt", "a/.."],
        vec!["--store", "s3://bkt/p", "put", "x.txt", "a/../../x.txt"],
        vec!["--store", "s3://bkt/p", "put", "x.txt", "a//x.txt"],
        vec!["--store", "s3://bkt/p", "put", "x.txt", "a/./"],
        vec!["--store", "s3://bkt/p", "get", "a/./x.txt", "-"],
        vec!["--store", "s3://bkt/p", "cat", "q/../../other/x.txt"],
        vec!["get", "s3://bkt/p/../q/x.txt", "-"],
        vec!["cat", "s3://bkt//x.txt"],
        vec!["--store", "s3://bkt/p", "mv", "x.txt", "y/../../x.txt"],
        vec!["--store", "s3://bkt/a/../p", "get", "x.txt", "-"],
    ] {
        let a = env.cmd().args(&args).assert().code(USAGE);
        let err = stderr_of(&a);
        assert!(err.contains("S3 object name"), "{args:?}: {err}");
    }
}

// ---------------------------------------------------------------------
// Item 13: the SSE-C key file is checked like a secret key file.
// ---------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn sse_c_key_files_are_checked_like_secret_key_files() {
    let env = Env::new();
    let run = |file: &str| {
        env.cmd()
            .timeout(std::time::Duration::from_secs(20))
            .args(["get", "s3://bkt/x.bin", "-", "--sse-c-key-file", file])
            .assert()
    };
    let k = env.write("open.key", &[7u8; 32]);
    chmod(&k, 0o644);
    let err = stderr_of(&run("open.key").code(common::KEY));
    assert!(
        err.contains("chmod 600") && err.contains("open.key"),
        "{err}"
    );
    let big = env.write("big.key", &vec![b'A'; 5000]);
    chmod(&big, 0o600);
    let err = stderr_of(&run("big.key").code(common::KEY));
    assert!(err.contains("too large"), "{err}");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(env.path("key.fifo"))
            .status()
            .unwrap()
            .success()
    );
    let err = stderr_of(&run("key.fifo").code(common::KEY));
    assert!(err.contains("FIFO"), "{err}");
    std::fs::create_dir(env.path("key.dir")).unwrap();
    // A folder where a file is expected is a usage error (issue 15).
    let err = stderr_of(&run("key.dir").code(USAGE));
    assert!(err.contains("is a folder"), "{err}");
}

// ---------------------------------------------------------------------
// Item 10: state and key folders others can write to are refused.
// ---------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_key_folder_writable_by_others_is_refused() {
    let env = Env::new();
    env.write("x.txt", b"hello");
    env.cmd().args(["put", "x.txt"]).assert().success();
    let dir = env.default_key().parent().unwrap().to_path_buf();
    chmod(&dir, 0o777);
    for args in [vec!["put", "x.txt", "y.txt"], vec!["cat", "x.txt"]] {
        let a = env.cmd().args(&args).assert().code(USAGE);
        let err = stderr_of(&a);
        assert!(err.contains("writable by group or others"), "{err}");
        assert!(
            err.contains(&format!("chmod 700 {}", dir.display())),
            "{err}"
        );
    }
    chmod(&dir, 0o700);
    env.cmd().args(["cat", "x.txt"]).assert().success();
}

#[cfg(unix)]
#[test]
fn a_journal_folder_writable_by_others_is_refused() {
    let Some(svc) = common::services::s3("a_journal_folder_writable_by_others_is_refused") else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "journaldir");
    env.write("x.txt", b"hello");
    let state = env.home().join("state");
    let journals = state.join("sealstream/journal");
    std::fs::create_dir_all(&journals).unwrap();
    chmod(&journals, 0o777);
    let a = svc
        .cmd(&env)
        .env("XDG_STATE_HOME", &state)
        .args(["--store", &store, "put", "x.txt", "--resume"])
        .assert()
        .code(USAGE);
    let err = stderr_of(&a);
    assert!(
        err.contains("upload-journal folder") && err.contains("chmod 700"),
        "{err}"
    );
    chmod(&journals, 0o700);
    svc.cmd(&env)
        .env("XDG_STATE_HOME", &state)
        .args(["--store", &store, "put", "x.txt", "--resume"])
        .assert()
        .success();
}

// ---------------------------------------------------------------------
// Item 11: one upload per destination at a time.
// ---------------------------------------------------------------------

#[test]
fn a_second_concurrent_resume_of_the_same_destination_fails_fast() {
    common::require_test_hooks();
    let Some(svc) =
        common::services::s3("a_second_concurrent_resume_of_the_same_destination_fails_fast")
    else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "lock");
    let plain = data(12 << 20, 55);
    env.write("big.bin", &plain);
    let journal_dir = env.home().join(".local/state/sealstream/journal");
    // The first upload stops for good once part 1 is stored and journaled.
    let mut first = svc
        .std_cmd(&env)
        .env("SEALSTREAM_PART_SIZE", "5MiB")
        .env("SEALSTREAM_TEST_PAUSE_AFTER_PART", "1")
        .args(["--store", &store, "put", "big.bin", "--resume"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the hook's line: the upload is paused, holding its lock.
    let mut err = std::io::BufReader::new(first.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(n > 0, "the first put exited before pausing");
        if line.contains("test hook: paused after part 1") {
            break;
        }
    }
    for extra in [&["--resume"][..], &[][..]] {
        let a = svc
            .cmd(&env)
            .env("SEALSTREAM_PART_SIZE", "5MiB")
            .args(["--store", &store, "put", "big.bin"])
            .args(extra)
            .assert()
            .code(USAGE);
        let e = stderr_of(&a);
        assert!(e.contains("another sealstream process is uploading"), "{e}");
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock died with the process: the resume continues the upload.
    svc.cmd(&env)
        .env("SEALSTREAM_PART_SIZE", "5MiB")
        .args(["--store", &store, "put", "big.bin", "--resume"])
        .assert()
        .success();
    let got = svc
        .cmd(&env)
        .args(["--store", &store, "get", "big.bin", "-"])
        .assert()
        .success();
    assert!(got.get_output().stdout == plain);
    assert!(journal_dir.is_dir());
}

#[cfg(unix)]
#[test]
fn mv_of_sse_c_objects_keeps_them_readable_with_the_same_key() {
    let Some(svc) =
        common::services::s3("mv_of_sse_c_objects_keeps_them_readable_with_the_same_key")
    else {
        return;
    };
    let env = Env::new();
    let url = svc.store(&env, "mvssec");
    let store = ["--store", url.as_str()];
    let key = env.write("sse-c.key", &[3u8; 32]);
    chmod(&key, 0o600);
    let sse = ["--sse-c-key-file", "sse-c.key"];
    for (name, len) in [("small.bin", 100_000usize), ("big.bin", 13 << 20)] {
        let plain = data(len, 56);
        env.write(name, &plain);
        svc.cmd(&env)
            .args(store)
            .args(["put", name])
            .args(sse)
            .assert()
            .success();
        let to = format!("moved/{name}");
        svc.cmd(&env)
            .args(store)
            .args(["mv", name, &to])
            .args(sse)
            .assert()
            .success();
        let got = svc
            .cmd(&env)
            .args(store)
            .args(["get", &to, "-"])
            .args(sse)
            .assert()
            .success();
        assert!(got.get_output().stdout == plain, "{name}");
        // Still SSE-C: without the key the server refuses it.
        svc.cmd(&env)
            .args(store)
            .args(["get", &to, "-"])
            .assert()
            .failure();
    }
}
