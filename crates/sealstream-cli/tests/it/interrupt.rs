//! Ctrl-C (SIGINT), SIGTERM and SIGHUP while a local output is being
//! written: the process exits with 128 + the signal's number (130, 143,
//! 129) and leaves no temporary file and no output behind (issue 10 item
//! 12: SIGTERM and SIGHUP used to kill it with the temporary file, holding
//! plaintext, left in place).

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use crate::common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, data, files_in};

/// Sends signal `name` (`INT`, `TERM`, `HUP`) to `child`.
fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT failed");
}

/// Waits at most `limit` for `child` to exit; returns its exit code.
fn wait_for(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn ctrl_c_during_decrypt_removes_the_temporary_file() {
    decrypt_interrupted_by("INT", 130);
}

#[test]
fn sigterm_during_decrypt_removes_the_temporary_file() {
    decrypt_interrupted_by("TERM", 143);
}

#[test]
fn sighup_during_decrypt_removes_the_temporary_file() {
    decrypt_interrupted_by("HUP", 129);
}

/// `decrypt - -o out.bin` busy on a stdin that stays open gets signal
/// `name`: it must exit with `code`, leaving neither out.bin nor a
/// temporary file.
fn decrypt_interrupted_by(name: &str, code: i32) {
    let env = Env::new();
    let key = env.keygen("k.key");
    env.write("big.bin", &data(3 << 20, 4));
    env.cmd()
        .args(["encrypt", "big.bin", "-o", "big.sealed", "--key-file"])
        .arg(&key)
        .assert()
        .success();
    let sealed = env.read("big.sealed");

    let mut child = Command::new(env!("CARGO_BIN_EXE_sealstream"))
        .env_clear()
        .env("HOME", env.home())
        .current_dir(env.work())
        .args(["decrypt", "-", "-o", "out.bin", "--key-file"])
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half the object, then a stdin that stays open: the command is busy.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sealed[..sealed.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    while !files_in(&env.work())
        .iter()
        .any(|f| f.ends_with(".sealstream-tmp"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the temporary output never appeared: {:?}",
            files_in(&env.work())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the pipeline start reading the body.
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, name);
    let exit = wait_for(&mut child, Duration::from_secs(30));
    drop(stdin);
    assert_eq!(exit, Some(code), "SIG{name}");
    let names = files_in(&env.work());
    assert!(
        !names
            .iter()
            .any(|f| f.contains("sealstream-tmp") || f == "out.bin"),
        "{names:?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// `get` of an S3 object into a file, paused by the test hook after 1 MiB
/// of plaintext reached its temporary file, then SIGTERM / SIGHUP.
#[test]
fn sigterm_and_sighup_during_get_remove_the_temporary_file() {
    common::require_test_hooks();
    let Some(svc) = common::services::s3("sigterm_and_sighup_during_get_remove_the_temporary_file")
    else {
        return;
    };
    let env = Env::new();
    let store = svc.store(&env, "signals");
    env.write("big.bin", &data(6 << 20, 5));
    svc.cmd(&env)
        .args(["--store", &store, "put", "big.bin"])
        .assert()
        .success();
    for (name, code) in [("TERM", 143), ("HUP", 129)] {
        let mut child = svc
            .std_cmd(&env)
            .env("SEALSTREAM_TEST_PAUSE_AFTER_BYTES", "1048576")
            .args(["--store", &store, "get", "big.bin", "out.bin"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            assert!(child.try_wait().unwrap().is_none(), "get exited early");
            let temp = files_in(&env.work())
                .into_iter()
                .find(|f| f.ends_with(".sealstream-tmp"));
            if temp
                .is_some_and(|t| std::fs::metadata(env.path(&t)).is_ok_and(|m| m.len() >= 1 << 20))
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "get never paused"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(&child, name);
        let exit = wait_for(&mut child, Duration::from_secs(30));
        assert_eq!(exit, Some(code), "SIG{name}");
        let names = files_in(&env.work());
        assert!(
            !names
                .iter()
                .any(|f| f.contains("sealstream-tmp") || f == "out.bin"),
            "SIG{name}: {names:?}"
        );
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains(&format!("SIG{name}")), "{stderr}");
    }
}
