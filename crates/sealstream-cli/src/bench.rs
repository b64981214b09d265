//! `sealstream bench`: throughput of sealing and opening on this machine,
//! each figure next to the limit it is measured against, from one run.
//!
//! In memory, for each suite: the raw AEAD (the format's per-chunk call,
//! sealing 16 KiB chunks in place, which is the AEAD plus a nonce XOR), the
//! streaming `EncryptingWriter`/`DecryptingReader` on one thread, and the
//! parallel pipeline on one worker and on all of them. With a file
//! (`--file PATH`): a plain copy of the file (a read/write loop with a
//! 1 MiB buffer, and `std::fs::copy`, which is `copy_file_range` on Linux)
//! next to file-to-file sealing and opening, with the peak RSS of each.
//!
//! Repetitions are interleaved (one of each measurement per round) so that
//! load from other processes spreads over all of them, and each figure is
//! the median. File outputs are new files in the page cache, written back
//! (`sync`, untimed) before each repetition and not `fsync`ed inside it,
//! like `cp`. Depends only on sealstream-format and std.

#![allow(
    unreachable_pub,
    reason = "a library-style module; the CLI may declare it from main.rs"
)]

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sealstream_format::codec;
use sealstream_format::pipeline::{self, PipelineOptions};
use sealstream_format::{
    BODY_PREFIX_LEN, ChunkOpener, ChunkSealer, DataKey, EncryptingWriter, EncryptionContext, Error,
    Header, KeyRecord, Salt, SealedReader, Suite,
};

/// What `sealstream bench` measures.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Plaintext bytes per in-memory measurement (default 64 MiB).
    pub size: u64,
    /// Threads for the "all threads" figures; `None` means every core.
    pub threads: Option<usize>,
    /// One suite, or `None` for both.
    pub suite: Option<Suite>,
    /// Repetitions of each measurement; the median is reported (default 5).
    pub repetitions: usize,
    /// Also measure file-to-file sealing and opening of this file. Scratch
    /// files are written next to it and removed afterwards.
    pub file: Option<PathBuf>,
    /// Print one JSON object per measurement instead of a line of text.
    pub json: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            size: 64 << 20,
            threads: None,
            suite: None,
            repetitions: 5,
            file: None,
            json: false,
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// What was measured: `raw-seal`, `raw-open`, `seal-writer`,
    /// `open-reader`, `seal`, `open` (in memory), `copy`, `copy-kernel`,
    /// `seal-file`, `open-file`.
    pub name: &'static str,
    /// The suite, for crypto measurements.
    pub suite: Option<Suite>,
    /// Threads doing the work (for the pipeline: workers).
    pub threads: usize,
    /// Plaintext bytes per repetition.
    pub bytes: u64,
    /// Seconds per repetition, sorted.
    pub samples: Vec<f64>,
    /// The measurement this one is compared to, by label.
    pub baseline: Option<String>,
    /// This throughput divided by the baseline's.
    pub ratio: Option<f64>,
    /// Peak resident set size (VmHWM) during the measurement, in bytes.
    pub peak_rss: Option<u64>,
}

impl Measurement {
    /// The median seconds per repetition.
    pub fn median_seconds(&self) -> f64 {
        median(&self.samples)
    }

    /// Median throughput in bytes per second.
    pub fn bytes_per_second(&self) -> f64 {
        let s = self.median_seconds();
        if s > 0.0 { self.bytes as f64 / s } else { 0.0 }
    }

    /// Throughput of the fastest repetition, in bytes per second: the
    /// figure least disturbed by other load on the machine.
    pub fn best_bytes_per_second(&self) -> f64 {
        match self.samples.first() {
            Some(&s) if s > 0.0 => self.bytes as f64 / s,
            _ => 0.0,
        }
    }

    /// A short label: name, suite and threads, e.g. `seal aes-256-gcm 2t`.
    pub fn label(&self) -> String {
        match self.suite {
            Some(s) => format!("{} {} {}t", self.name, s, self.threads),
            None => format!("{} {}t", self.name, self.threads),
        }
    }

    /// One line for people.
    pub fn human(&self) -> String {
        let gib = f64::from(1u32 << 30);
        let mut line = format!(
            "{:<36} {:>9.1} MiB {:>8.2} GiB/s  (median of {}, best {:.2})",
            self.label(),
            self.bytes as f64 / f64::from(1u32 << 20),
            self.bytes_per_second() / gib,
            self.samples.len(),
            self.best_bytes_per_second() / gib,
        );
        if let (Some(base), Some(r)) = (&self.baseline, self.ratio) {
            line.push_str(&format!("  {r:.2}x {base}"));
        }
        if let Some(rss) = self.peak_rss {
            line.push_str(&format!("  peak RSS {:.1} MiB", rss as f64 / 1048576.0));
        }
        line
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        let opt_str = |s: Option<&str>| s.map_or_else(|| "null".to_owned(), json_string);
        let opt_num = |v: Option<f64>| v.map_or_else(|| "null".to_owned(), |v| format!("{v:.4}"));
        format!(
            concat!(
                "{{\"verb\":\"bench\",\"name\":{},\"suite\":{},\"threads\":{},\"bytes\":{},",
                "\"median_seconds\":{:.6},\"bytes_per_second\":{:.0},\"best_bytes_per_second\":{:.0},",
                "\"repetitions\":{},",
                "\"samples_seconds\":[{}],\"baseline\":{},\"ratio\":{},\"peak_rss_bytes\":{}}}"
            ),
            json_string(self.name),
            opt_str(self.suite.map(Suite::name)),
            self.threads,
            self.bytes,
            self.median_seconds(),
            self.bytes_per_second(),
            self.best_bytes_per_second(),
            self.samples.len(),
            self.samples
                .iter()
                .map(|s| format!("{s:.6}"))
                .collect::<Vec<_>>()
                .join(","),
            opt_str(self.baseline.as_deref()),
            opt_num(self.ratio),
            self.peak_rss
                .map_or_else(|| "null".to_owned(), |v| v.to_string()),
        )
    }

    /// [`Measurement::to_json`] or [`Measurement::human`].
    pub fn render(&self, json: bool) -> String {
        if json { self.to_json() } else { self.human() }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted.get(n / 2).copied().unwrap_or(0.0),
        n => {
            let a = sorted.get(n / 2 - 1).copied().unwrap_or(0.0);
            let b = sorted.get(n / 2).copied().unwrap_or(0.0);
            (a + b) / 2.0
        }
    }
}

/// Runs every measurement `opts` asks for and returns them in a fixed
/// order, ratios filled in.
pub fn run(opts: &BenchOptions) -> Result<Vec<Measurement>, Error> {
    let all = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get));
    let suites: Vec<Suite> = opts.suite.map_or_else(|| Suite::ALL.to_vec(), |s| vec![s]);
    let reps = opts.repetitions.max(1);
    let size = usize::try_from(opts.size).map_err(|_| Error::TooLarge)?;
    let mut out = Vec::new();
    for &suite in &suites {
        out.extend(in_memory(suite, size, all, reps)?);
    }
    if let Some(path) = &opts.file {
        out.extend(file_to_file(path, &suites, all, reps)?);
    }
    Ok(out)
}

/// A measurement in the making: its closure runs one repetition.
struct Case<'a> {
    m: Measurement,
    run: Box<dyn FnMut() -> Result<f64, Error> + 'a>,
    rss: bool,
}

impl<'a> Case<'a> {
    fn new(
        name: &'static str,
        suite: Option<Suite>,
        threads: usize,
        bytes: u64,
        run: impl FnMut() -> Result<f64, Error> + 'a,
    ) -> Self {
        Case {
            m: Measurement {
                name,
                suite,
                threads,
                bytes,
                samples: Vec::new(),
                baseline: None,
                ratio: None,
                peak_rss: None,
            },
            run: Box::new(run),
            rss: false,
        }
    }
}

/// Times `f` in seconds.
fn time(f: impl FnOnce() -> Result<(), Error>) -> Result<f64, Error> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Runs the cases round-robin `reps` times after one untimed warm-up
/// round, then sets `ratios` as (case, baseline case) index pairs.
fn measure(
    mut cases: Vec<Case<'_>>,
    reps: usize,
    warm_up: bool,
    ratios: &[(usize, usize)],
) -> Result<Vec<Measurement>, Error> {
    if warm_up {
        for c in &mut cases {
            (c.run)()?;
        }
    }
    for _ in 0..reps {
        for c in &mut cases {
            if c.rss {
                reset_peak_rss();
            }
            let secs = (c.run)()?;
            c.m.samples.push(secs);
            if c.rss {
                let peak = peak_rss();
                c.m.peak_rss = c.m.peak_rss.max(peak);
            }
        }
    }
    let mut ms: Vec<Measurement> = cases.into_iter().map(|c| c.m).collect();
    for m in &mut ms {
        m.samples.sort_by(f64::total_cmp);
    }
    for &(i, base) in ratios {
        let (Some(b), Some(_)) = (ms.get(base), ms.get(i)) else {
            continue;
        };
        let (label, rate) = (b.label(), b.bytes_per_second());
        if let Some(m) = ms.get_mut(i) {
            m.baseline = Some(label);
            m.ratio = (rate > 0.0).then(|| m.bytes_per_second() / rate);
        }
    }
    Ok(ms)
}

fn bench_header(suite: Suite) -> Result<Header, Error> {
    let context = EncryptionContext::from_pairs([("sealstream-bench", "1")])?;
    let record = KeyRecord::new("local", "bench", vec![0u8; 60])?;
    Header::new(suite, context, "", vec![record])
}

fn pattern(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Seals `buf` in place, laid out as the codec's slots (each chunk's
/// plaintext followed by room for its tag), on `threads` threads: the raw
/// AEAD cost, one call a chunk, with no I/O and no copies.
fn raw_seal(sealer: &ChunkSealer, buf: &mut [u8], threads: usize) -> Result<(), Error> {
    codec::seal_slots(sealer, 0, buf, true, threads)
}

/// Opens the sealed chunks in `buf` in place on `threads` threads.
fn raw_open(opener: &ChunkOpener, buf: &mut [u8], threads: usize) -> Result<(), Error> {
    codec::open_slots(opener, 0, buf, true, threads).map(drop)
}

fn in_memory(
    suite: Suite,
    size: usize,
    all: usize,
    reps: usize,
) -> Result<Vec<Measurement>, Error> {
    let header = bench_header(suite)?;
    let key = DataKey::generate()?;
    let plain = pattern(size);
    let object = sealstream_format::seal_to_vec(&header, &key, Salt::generate()?, &plain)?;
    let body_start = header.encoded_len() + BODY_PREFIX_LEN;
    let sealed_chunks = object.get(body_start..).unwrap_or(&[]);
    let (raw_cipher, _) = ChunkSealer::new(suite, &key, Salt::generate()?, header.bound_section())?;
    let mut prefix = [0u8; BODY_PREFIX_LEN];
    prefix.copy_from_slice(
        object
            .get(header.encoded_len()..body_start)
            .unwrap_or(&[0; 56]),
    );
    let open_cipher = ChunkOpener::new(
        suite,
        &key,
        &sealstream_format::BodyPrefix::from_bytes(&prefix),
        header.bound_section(),
    )?;
    let bytes = size as u64;
    let threads: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };

    // Each case owns its buffers so that none waits on another's.
    let mut cases = Vec::new();
    let mut idx = std::collections::BTreeMap::new();
    for &t in &threads {
        // The plaintext in slots: the sealed chunks' layout.
        let mut buf = sealed_chunks.to_vec();
        let c = &raw_cipher;
        idx.insert(("raw-seal", t), cases.len());
        cases.push(Case::new("raw-seal", Some(suite), t, bytes, move || {
            time(|| raw_seal(c, &mut buf, t))
        }));
    }
    idx.insert(("seal-writer", 1), cases.len());
    let mut w_out = Vec::with_capacity(object.len());
    let (h, k, p) = (&header, &key, &plain);
    cases.push(Case::new("seal-writer", Some(suite), 1, bytes, move || {
        w_out.clear();
        time(|| {
            let mut w = EncryptingWriter::new(&mut w_out, h, k, Salt::generate()?)?;
            w.write_all(p)?;
            w.finish()?;
            Ok(())
        })
    }));
    idx.insert(("seal-mem", 1), cases.len());
    cases.push(Case::new("seal-mem", Some(suite), 1, bytes, move || {
        time(|| sealstream_format::seal_to_vec(h, k, Salt::generate()?, p).map(drop))
    }));
    for &t in &threads {
        let mut out = Vec::with_capacity(object.len());
        let o = PipelineOptions::with_threads(t);
        idx.insert(("seal", t), cases.len());
        cases.push(Case::new("seal", Some(suite), t, bytes, move || {
            out.clear();
            time(|| pipeline::seal_file(&p[..], &mut out, h, k, Salt::generate()?, &o).map(drop))
        }));
    }
    for &t in &threads {
        let mut buf = sealed_chunks.to_vec();
        let c = &open_cipher;
        idx.insert(("raw-open", t), cases.len());
        cases.push(Case::new("raw-open", Some(suite), t, bytes, move || {
            buf.copy_from_slice(sealed_chunks);
            time(|| raw_open(c, &mut buf, t))
        }));
    }
    idx.insert(("open-reader", 1), cases.len());
    let mut r_out = Vec::with_capacity(size);
    let obj = &object;
    cases.push(Case::new("open-reader", Some(suite), 1, bytes, move || {
        r_out.clear();
        time(|| {
            let r = SealedReader::new(&obj[..])?;
            r.open(k)?.read_to_end(&mut r_out)?;
            Ok(())
        })
    }));
    idx.insert(("open-mem", 1), cases.len());
    cases.push(Case::new("open-mem", Some(suite), 1, bytes, move || {
        time(|| sealstream_format::open_slice(obj, k).map(drop))
    }));
    for &t in &threads {
        let mut out = Vec::with_capacity(size);
        let o = PipelineOptions::with_threads(t);
        idx.insert(("open", t), cases.len());
        cases.push(Case::new("open", Some(suite), t, bytes, move || {
            out.clear();
            time(|| pipeline::open_file(&obj[..], &mut out, h, k, &o).map(drop))
        }));
    }
    let at = |name: &'static str, t: usize| idx.get(&(name, t)).copied();
    let mut ratios = Vec::new();
    let mut pair = |a: Option<usize>, b: Option<usize>| {
        if let (Some(a), Some(b)) = (a, b) {
            ratios.push((a, b));
        }
    };
    pair(at("seal-writer", 1), at("raw-seal", 1));
    pair(at("seal-mem", 1), at("raw-seal", 1));
    pair(at("seal", 1), at("raw-seal", 1));
    pair(at("open-reader", 1), at("raw-open", 1));
    pair(at("open-mem", 1), at("raw-open", 1));
    pair(at("open", 1), at("raw-open", 1));
    if all > 1 {
        pair(at("raw-seal", all), at("raw-seal", 1));
        pair(at("seal", all), at("seal", 1));
        pair(at("raw-open", all), at("raw-open", 1));
        pair(at("open", all), at("open", 1));
    }
    measure(cases, reps, true, &ratios)
}

fn scratch(path: &Path, tag: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".sealstream-bench-{tag}-{}", std::process::id()));
    path.with_file_name(name)
}

/// Removes the scratch files when dropped, even after an error.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

fn copy_loop(src: &Path, dst: &Path) -> Result<(), Error> {
    let mut r = File::open(src)?;
    let mut w = File::create(dst)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => w.write_all(buf.get(..n).unwrap_or(&[]))?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn file_to_file(
    path: &Path,
    suites: &[Suite],
    threads: usize,
    reps: usize,
) -> Result<Vec<Measurement>, Error> {
    let bytes = fs::metadata(path)?.len();
    let copy_dst = scratch(path, "copy");
    let sealed: Vec<PathBuf> = suites
        .iter()
        .map(|s| scratch(path, &format!("sealed-{}", s.id())))
        .collect();
    let opened = scratch(path, "opened");
    let mut guard = Scratch(vec![copy_dst.clone(), opened.clone()]);
    guard.0.extend(sealed.iter().cloned());
    let key = DataKey::generate()?;
    let headers = suites
        .iter()
        .map(|s| bench_header(*s))
        .collect::<Result<Vec<_>, _>>()?;
    let o = PipelineOptions::with_threads(threads);
    // Every output is removed before it is written again, so each
    // repetition writes a new file, as a real copy or seal would; then
    // `sync` (untimed) writes back all dirty pages, so that no repetition
    // is throttled by writeback of the one before it.
    let fresh = |p: &Path| {
        match fs::remove_file(p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::from(e)),
            _ => {}
        }
        let _ = std::process::Command::new("sync").status();
        Ok(())
    };

    let mut cases = Vec::new();
    let (cd, k) = (&copy_dst, &key);
    cases.push(Case::new("copy", None, 1, bytes, move || {
        fresh(cd)?;
        time(|| copy_loop(path, cd))
    }));
    cases.push(Case::new("copy-kernel", None, 1, bytes, move || {
        fresh(cd)?;
        time(|| fs::copy(path, cd).map(drop).map_err(Error::from))
    }));
    for ((suite, h), sp) in suites.iter().zip(&headers).zip(&sealed) {
        let mut c = Case::new("seal-file", Some(*suite), threads, bytes, move || {
            fresh(sp)?;
            time(|| {
                let src = File::open(path)?;
                let dst = File::create(sp)?;
                pipeline::seal_file(&src, dst, h, k, Salt::generate()?, &o).map(drop)
            })
        });
        c.rss = true;
        cases.push(c);
        let op = &opened;
        let mut c = Case::new("open-file", Some(*suite), threads, bytes, move || {
            fresh(op)?;
            time(|| {
                let src = File::open(sp)?;
                let dst = File::create(op)?;
                pipeline::open_file(&src, dst, h, k, &o).map(drop)
            })
        });
        c.rss = true;
        cases.push(c);
    }
    let ratios: Vec<(usize, usize)> = (1..cases.len()).map(|i| (i, 0)).collect();
    let ms = measure(cases, reps, false, &ratios)?;
    drop(guard);
    Ok(ms)
}

/// Resets the kernel's peak-RSS counter (VmHWM) for this process; a no-op
/// where /proc/self/clear_refs is not writable (then the peak is the
/// process's since it started).
fn reset_peak_rss() {
    let _ = fs::write("/proc/self/clear_refs", b"5");
}

/// VmHWM from /proc/self/status, in bytes.
fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
