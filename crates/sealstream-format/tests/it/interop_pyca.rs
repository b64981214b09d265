#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! Interop with pyca/cryptography (version 50 or later), an implementation
//! nobody here wrote: its `Cobblestone256Encryptor`/`Cobblestone256Decryptor`
//! implement C2SP chunked encryption with AES-256-GCM, which is the body of a
//! suite-1 object with the header's bound section as context
//! (docs/FORMAT.md, "Body").
//!
//! The Python interpreter comes from `SEALSTREAM_TEST_PYTHON` (scripts/test
//! and `scripts/services env` set it to the project venv). Without it these
//! tests print a "skipped" line and pass, unless
//! `SEALSTREAM_REQUIRE_SERVICES=1`, when they fail.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use ring::digest::{SHA256, digest};
use sealstream_format::{
    BodyPrefix, CHUNK_SIZE, ChunkOpener, DataKey, EncryptionContext, Error, Header, KeyRecord,
    SEALED_CHUNK_SIZE, Salt, SealedReader, Suite, open_slice, seal_to_vec,
};

/// Body sizes in both directions: the chunk edges, three whole chunks, and
/// about 3 MiB (192 chunks and a short final one).
const SIZES: [usize; 7] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE,
    3 * 1024 * 1024 + 12345,
];

fn python() -> Option<OsString> {
    match std::env::var_os("SEALSTREAM_TEST_PYTHON") {
        Some(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "SEALSTREAM_TEST_PYTHON is not set but SEALSTREAM_REQUIRE_SERVICES=1: run \
                 scripts/test, or `scripts/services start && source \"$(scripts/services env)\"`"
            );
            eprintln!(
                "skipped: SEALSTREAM_TEST_PYTHON is not set (the pyca/cryptography interop \
                 oracle); run scripts/test to include these tests"
            );
            None
        }
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// A fresh scratch directory under cargo's per-target temp dir, removed on
/// drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("interop_pyca-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs a script under `python`; returns its stdout, failing on a non-zero exit.
fn run(python: &OsString, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg(interop_dir().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python:?}: {e}"));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest(&SHA256, bytes).as_ref())
}

/// The plaintext generator both sides use: byte `i` is `i % 251`.
fn mod251(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn header() -> Header {
    let context =
        EncryptionContext::from_pairs([("app", "interop"), ("path", "pyca/cobblestone.bin")])
            .unwrap();
    let record = KeyRecord::new("local", "interop", vec![0x5A; 61]).unwrap();
    Header::new(Suite::Aes256Gcm, context, "interop/pyca.bin", vec![record]).unwrap()
}

#[test]
fn rust_seals_pyca_opens() {
    let Some(python) = python() else { return };
    let scratch = Scratch::new("rust-seals");
    let header = header();
    let key = DataKey::generate().unwrap();
    let header_len = header.encoded_len();

    let mut files = Vec::new();
    let mut expected = Vec::new();
    for size in SIZES {
        let plaintext = mod251(size);
        let object = seal_to_vec(&header, &key, Salt::generate().unwrap(), &plaintext).unwrap();
        let path = scratch.0.join(format!("{size}.body"));
        fs::write(&path, &object[header_len..]).unwrap();
        files.push(path);
        expected.push(format!("ok {size} {}", sha256_hex(&plaintext)));
    }
    // Two bodies pyca must reject: a flipped ciphertext byte, and a body
    // whose (empty) final chunk was removed.
    let object = seal_to_vec(
        &header,
        &key,
        Salt::generate().unwrap(),
        &mod251(CHUNK_SIZE + 1),
    )
    .unwrap();
    let mut flipped = object[header_len..].to_vec();
    flipped[56 + 100] ^= 1;
    let object = seal_to_vec(
        &header,
        &key,
        Salt::generate().unwrap(),
        &mod251(CHUNK_SIZE),
    )
    .unwrap();
    let no_final = &object[header_len..object.len() - 16];
    for (name, body) in [("flipped", &flipped[..]), ("no_final", no_final)] {
        let path = scratch.0.join(format!("{name}.body"));
        fs::write(&path, body).unwrap();
        files.push(path);
        expected.push("error InvalidTag".to_owned());
    }

    let mut args = vec![
        "decrypt".to_owned(),
        hex(key.expose_secret()),
        hex(header.bound_section()),
    ];
    args.extend(files.iter().map(|p| p.to_str().unwrap().to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = run(&python, "cobblestone.py", &args);
    let mut lines = stdout.lines();
    let version = lines.next().unwrap();
    eprintln!("{version} opened {} sealstream bodies", SIZES.len());
    for ((path, want), line) in files.iter().zip(&expected).zip(lines) {
        let path = path.to_str().unwrap();
        let got = line.strip_prefix(path).unwrap().trim();
        assert_eq!(got, want, "pyca on {path}");
    }
    assert_eq!(stdout.lines().count(), files.len() + 1, "{stdout}");
}

#[test]
fn pyca_seals_rust_opens() {
    let Some(python) = python() else { return };
    let scratch = Scratch::new("pyca-seals");
    let header = header();
    let key = DataKey::generate().unwrap();
    let dir = scratch.0.to_str().unwrap().to_owned();
    let mut args = vec![
        "encrypt".to_owned(),
        hex(key.expose_secret()),
        hex(header.bound_section()),
        dir,
    ];
    args.extend(SIZES.iter().map(ToString::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = run(&python, "cobblestone.py", &args);
    eprintln!("{}", stdout.lines().next().unwrap());

    let mut salts = Vec::new();
    for size in SIZES {
        let body = fs::read(scratch.0.join(format!("{size}.body"))).unwrap();
        let plaintext = mod251(size);

        // The sans-IO core over the bare body.
        let prefix = BodyPrefix::from_bytes(&body[..56].try_into().unwrap());
        salts.push(prefix.salt);
        let cipher =
            ChunkOpener::new(Suite::Aes256Gcm, &key, &prefix, header.bound_section()).unwrap();
        let chunks: Vec<&[u8]> = body[56..].chunks(SEALED_CHUNK_SIZE).collect();
        let count = chunks.len();
        assert_eq!(count, size / CHUNK_SIZE + 1, "{size}: chunk count");
        let mut opened = Vec::with_capacity(size);
        for (i, sealed) in chunks.into_iter().enumerate() {
            let mut buf = sealed.to_vec();
            opened.extend_from_slice(
                cipher
                    .open_chunk(i as u64, &mut buf, i + 1 == count)
                    .unwrap(),
            );
        }
        assert!(opened == plaintext, "{size}: ChunkOpener");

        // A whole object: our header (same bound section) in front of pyca's body.
        let mut object = header.encode();
        object.extend_from_slice(&body);
        let (h, opened) = open_slice(&object, &key).unwrap();
        assert_eq!(h, header);
        assert!(opened == plaintext, "{size}: open_slice");
        let mut opened = Vec::new();
        SealedReader::new(&object[..])
            .unwrap()
            .open(&key)
            .unwrap()
            .read_to_end(&mut opened)
            .unwrap();
        assert!(opened == plaintext, "{size}: SealedReader");

        // The context is bound: a header with another context does not open it.
        let other = EncryptionContext::from_pairs([("app", "other")]).unwrap();
        let other = Header::new(Suite::Aes256Gcm, other, "", header.records().to_vec()).unwrap();
        let mut object = other.encode();
        object.extend_from_slice(&body);
        assert!(matches!(
            open_slice(&object, &key),
            Err(Error::CommitmentMismatch)
        ));
    }
    salts.sort_unstable();
    salts.dedup();
    assert_eq!(salts.len(), SIZES.len(), "pyca reused a salt");
}

#[test]
fn vector_files_match_pyca() {
    let Some(python) = python() else { return };
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let format_md = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/FORMAT.md");
    let files = [vectors.join("suite1.txt"), vectors.join("suite2.txt")];
    let mut args = vec!["--format", format_md.to_str().unwrap()];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let stdout = run(&python, "check_vectors.py", &args);
    assert!(
        stdout.contains("check_vectors: 20 cases match"),
        "unexpected output:\n{stdout}"
    );
    // FORMAT.md's worked example (header, real local and x25519 records, the
    // bodies, the three-chunk body) recomputed with pyca from its text.
    assert!(
        stdout.contains("known answers of the worked example"),
        "unexpected output:\n{stdout}"
    );
}
