//! Shared helpers of the CLI tests: an isolated HOME per test and a
//! `sealstream` command that sees only the environment a test gives it.

#![allow(dead_code)]

pub(crate) mod services;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// The exit codes (docs/CLI.md, "Exit codes").
pub(crate) const USAGE: i32 = 2;
pub(crate) const NOT_FOUND: i32 = 3;
pub(crate) const AUTH: i32 = 4;
pub(crate) const KEY: i32 = 5;
pub(crate) const SERVICE: i32 = 6;

/// Fails a test that needs the `SEALSTREAM_TEST_PAUSE_*` hooks when the
/// binary was built without them (loudly: such a test must never pass by
/// skipping). Integration tests are built with the package's features, so
/// this tells exactly how the tested binary was built.
pub(crate) fn require_test_hooks() {
    #[cfg(not(feature = "test-hooks"))]
    panic!(
        "this test needs the test hooks: run it with `--features sealstream-cli/test-hooks` \
         (scripts/test does)"
    );
}

/// A temporary HOME and working folder.
pub(crate) struct Env {
    dir: TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sealstream-cli-test.")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        Env { dir }
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The working folder of every command.
    pub(crate) fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// A path in the working folder.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.work().join(name)
    }

    pub(crate) fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    pub(crate) fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The default key and store of this HOME (XDG defaults).
    pub(crate) fn default_key(&self) -> PathBuf {
        self.home().join(".config/sealstream/default.key")
    }

    pub(crate) fn default_store(&self) -> PathBuf {
        self.home().join(".local/share/sealstream/store")
    }

    /// `sealstream --create-key` with an empty environment but HOME (and
    /// PATH). Tests run with stdin not a terminal, where a missing default
    /// key is created only with `--create-key` (docs/CLI.md, "Unattended
    /// runs"); [`Env::bare_cmd`] runs without it.
    pub(crate) fn cmd(&self) -> Command {
        let mut c = self.bare_cmd();
        c.arg("--create-key");
        c
    }

    /// `sealstream` with an empty environment but HOME (and PATH), no flag.
    pub(crate) fn bare_cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sealstream"));
        c.env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.work())
            .timeout(std::time::Duration::from_secs(120));
        c
    }

    /// Creates a local key file with `keygen` and returns its path.
    pub(crate) fn keygen(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        self.cmd().args(["keygen", "-o"]).arg(&p).assert().success();
        p
    }
}

/// Deterministic test data of `len` bytes.
pub(crate) fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Parses each stdout line as one JSON object.
pub(crate) fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// Parses the single JSON object on stdout.
pub(crate) fn json_one(stdout: &[u8]) -> serde_json::Value {
    let mut v = json_lines(stdout);
    assert_eq!(v.len(), 1, "expected one JSON object, got {v:?}");
    v.remove(0)
}

/// The files in a folder (names), sorted.
pub(crate) fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
