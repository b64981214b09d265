//! Writes the seed corpora, fuzz/corpus/<target>/<name>, from
//! `sealstream_format::fuzzing::seed_corpus` (valid headers and objects under the fuzz key).
//!
//!     cd fuzz && RUSTFLAGS="--cfg fuzzing" cargo run --example seed_corpus

#[cfg(fuzzing)]
fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, bytes) in sealstream_format::fuzzing::seed_corpus() {
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
