//! Writes the seed corpora, fuzz/corpus/<target>/<name>, from the `fuzzing::seed_corpus` of
//! sealstream-format (valid headers and objects under the fuzz key), sealstream-kms (authentic
//! key records and key files of the fuzz keys) and sealstream-s3 (share links).
//!
//!     cd fuzz && RUSTFLAGS="--cfg fuzzing" cargo run --example seed_corpus

#[cfg(fuzzing)]
fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let seeds = sealstream_format::fuzzing::seed_corpus()
        .into_iter()
        .chain(sealstream_kms::fuzzing::seed_corpus())
        .chain(sealstream_s3::fuzzing::seed_corpus());
    for (target, name, bytes) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

#[cfg(not(fuzzing))]
fn main() {
    eprintln!("build with RUSTFLAGS=\"--cfg fuzzing\" (see the top of this file)");
    std::process::exit(2);
}
