//! Runs the `sealstream bench` module (crates/sealstream-cli/src/bench.rs)
//! without the CLI, so the figures in docs/PERFORMANCE.md can be reproduced
//! from this crate alone:
//!
//! ```text
//! cargo run --release -p sealstream-benches --example bench_cli -- \
//!     [--size BYTES] [--threads N] [--suite aes|xchacha] [--reps N] [--file PATH] [--json]
//! ```

#[path = "../../crates/sealstream-cli/src/bench.rs"]
#[allow(dead_code)]
mod bench;

use sealstream_format::Suite;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = bench::BenchOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--size" => opts.size = value()?.parse()?,
            "--threads" => opts.threads = Some(value()?.parse()?),
            "--suite" => opts.suite = Some(Suite::from_name(&value()?)?),
            "--reps" => opts.repetitions = value()?.parse()?,
            "--file" => opts.file = Some(value()?.into()),
            "--json" => opts.json = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    for m in bench::run(&opts)? {
        println!("{}", m.render(opts.json));
    }
    Ok(())
}
