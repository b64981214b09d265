//! Ctrl-C (SIGINT) while a local output is being written: the process
//! exits with 130 and leaves no temporary file and no output behind.

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, data, files_in};

/// Sends SIGINT to `child`.
fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
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
    interrupt(&child);
    let code = wait_for(&mut child, Duration::from_secs(30));
    drop(stdin);
    assert_eq!(code, Some(130));
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
