//! Seals or opens one file with the parallel pipeline, for timing against
//! other tools (benches/compare-age-rage.sh). The data key is read raw from
//! a 32-byte key file: this is a benchmark harness, not a key manager.
//!
//! ```text
//! cargo run --release -p sealstream-benches --example seal_file -- \
//!     seal|open KEYFILE IN OUT [--threads N] [--suite aes|xchacha]
//! ```

use std::fs::File;

use sealstream_benches::{header, salt};
use sealstream_format::pipeline::{self, PipelineOptions};
use sealstream_format::{DataKey, Suite, read_header_at};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, key_path, input, output, rest @ ..] = args.as_slice() else {
        return Err("usage: seal_file seal|open KEYFILE IN OUT [--threads N] [--suite S]".into());
    };
    let mut opts = PipelineOptions::default();
    let mut suite = Suite::Aes256Gcm;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--threads" => opts = PipelineOptions::with_threads(v.parse()?),
            "--suite" => suite = Suite::from_name(v)?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let key = DataKey::from_slice(&std::fs::read(key_path)?)?;
    let src = File::open(input)?;
    let dst = File::create(output)?;
    match mode.as_str() {
        "seal" => pipeline::seal_file(&src, dst, &header(suite), &key, salt(), &opts)?,
        "open" => {
            let (h, _) = read_header_at(&src)?;
            pipeline::open_file(&src, dst, &h, &key, &opts)?
        }
        other => return Err(format!("unknown mode {other}").into()),
    };
    Ok(())
}
