//! `put` (one file, several files into a prefix, or with `-r` a folder
//! tree) and `get -r` (a prefix back into a folder), on either store kind
//! through [`crate::store::StoreHandle`].
//!
//! A tree run lists the prefix once, decides per file whether it is new or
//! changed (stored plaintext size from the listing; mode and mtime from
//! the manifest, else the object's header), and seals or opens files
//! `--jobs` at a time. One failed file does not stop the others.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde_json::json;

use sealstream_format::FileMetadata;

use crate::app::{App, blocking};
use crate::cli::{GetArgs, PutArgs};
use crate::error::{Class, CliError, Result};
use crate::location::{self, Store, Target};
use crate::store::{self, Entry, Manifest, Remembered, StoreHandle};
use crate::{keys, output, util};

/// `put`: one FILE (to DEST or its own name), several FILEs into a prefix,
/// or with `-r` a folder tree.
pub(crate) async fn put(app: &App, mut a: PutArgs) -> Result<()> {
    let paths = std::mem::take(&mut a.paths);
    if a.recursive {
        let (dir, dest) = match paths.as_slice() {
            [dir] => (dir.clone(), None),
            [dir, dest] => (dir.clone(), Some(dest.clone())),
            _ => {
                return Err(CliError::usage(
                    "put -r takes one folder and an optional PREFIX/ (sealstream put -r DIR PREFIX/)",
                ));
            }
        };
        return put_tree(app, &a, Sources::Dir(dir), dest.as_deref()).await;
    }
    match paths.as_slice() {
        [input] => {
            a.input = input.clone();
            a.dest = None;
            super::objects::put(app, a).await
        }
        [input, dest] => {
            refuse_local_file_dest(app, dest)?;
            a.input = input.clone();
            a.dest = Some(dest.clone());
            super::objects::put(app, a).await
        }
        [inputs @ .., dest] => {
            if !dest.ends_with('/') {
                return Err(CliError::usage(format!(
                    "{} sources into {}: several files go into a prefix, which ends in `/`; \
                     nothing was stored",
                    inputs.len(),
                    output::escape(dest)
                ))
                .hint(format!(
                    "sealstream put FILE... {}/",
                    output::shell_quote(dest.trim_end_matches('/'))
                )));
            }
            put_tree(app, &a, Sources::Files(inputs.to_vec()), Some(dest)).await
        }
        [] => Err(CliError::usage("no FILE given")),
    }
}

/// Refuses `put A B` where B is an existing local file that is not the
/// object B names (today's `put *.log` with two files would store the first
/// under the second's name).
fn refuse_local_file_dest(app: &App, dest: &str) -> Result<()> {
    if dest.ends_with('/') || dest.contains("://") || location::is_explicit_path(dest) {
        return Ok(());
    }
    let local = util::absolute(Path::new(dest));
    if local.symlink_metadata().is_err() {
        return Ok(());
    }
    let same = matches!(app.store()?.object(dest), Ok(Target::Local(p)) if p == local);
    if same {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "{} is an existing local file, not an object of the store; nothing was stored",
        output::escape(dest)
    ))
    .hint(
        "to store several files, end DEST with `/` (sealstream put FILE... PREFIX/); \
         to name the object, choose a name that is not a local file",
    ))
}

/// What `put` seals into the prefix.
enum Sources {
    /// `-r DIR`: every regular file under it.
    Dir(String),
    /// `FILE... PREFIX/`: each file under its own name.
    Files(Vec<String>),
}

/// One file to store.
struct Job {
    path: PathBuf,
    /// The object's name in the store.
    name: String,
    size: u64,
    meta: FileMetadata,
}

/// The walk's result.
#[derive(Default)]
struct Plan {
    jobs: Vec<Job>,
    /// `(path, why)` of what was skipped (links, special files).
    skipped: Vec<(String, &'static str)>,
    /// `(path, error)` of what could not be read or named.
    failed: Vec<(String, CliError)>,
    excluded: u64,
}

/// `--exclude`/`--include`: patterns without `/` match a file's or
/// folder's own name at any depth, the others its whole relative path.
struct Filter {
    exclude_name: GlobSet,
    exclude_path: GlobSet,
    include_name: GlobSet,
    include_path: GlobSet,
    any_include: bool,
}

impl Filter {
    fn new(exclude: &[String], include: &[String]) -> Result<Self> {
        let build = |pats: &[String], with_slash: bool| -> Result<GlobSet> {
            let mut b = GlobSetBuilder::new();
            for p in pats.iter().filter(|p| p.contains('/') == with_slash) {
                let g = GlobBuilder::new(p.trim_start_matches('/'))
                    .literal_separator(true)
                    .build()
                    .map_err(|e| CliError::usage(format!("pattern {p:?}: {e}")))?;
                b.add(g);
            }
            b.build()
                .map_err(|e| CliError::usage(format!("patterns: {e}")))
        };
        Ok(Filter {
            exclude_name: build(exclude, false)?,
            exclude_path: build(exclude, true)?,
            include_name: build(include, false)?,
            include_path: build(include, true)?,
            any_include: !include.is_empty(),
        })
    }

    fn excluded(&self, rel: &str, base: &str) -> bool {
        self.exclude_name.is_match(base) || self.exclude_path.is_match(rel)
    }

    fn included(&self, rel: &str, base: &str) -> bool {
        !self.any_include || self.include_name.is_match(base) || self.include_path.is_match(rel)
    }
}

/// Walks `root` (blocking): every regular file not excluded becomes a job
/// named `prefix` + its relative path with `/` separators.
fn walk(root: &Path, prefix: &str, filter: &Filter, follow: bool, store: &Store) -> Plan {
    use std::os::unix::fs::MetadataExt;
    let mut plan = Plan::default();
    let mut seen_dirs = std::collections::HashSet::new();
    if let Ok(m) = std::fs::metadata(root) {
        seen_dirs.insert((m.dev(), m.ino()));
    }
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                plan.failed.push((
                    dir.display().to_string(),
                    CliError::io("listing folder", &dir, &e),
                ));
                continue;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(std::result::Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let shown = path.display().to_string();
            let Some(base) = entry.file_name().to_str().map(str::to_owned) else {
                plan.failed.push((
                    shown.clone(),
                    CliError::usage(format!(
                        "{}: the name is not UTF-8, which object names must be",
                        output::escape(&shown)
                    )),
                ));
                continue;
            };
            let rel = if rel_dir.is_empty() {
                base.clone()
            } else {
                format!("{rel_dir}/{base}")
            };
            if filter.excluded(&rel, &base) {
                plan.excluded += 1;
                continue;
            }
            let Ok(lmeta) = entry.metadata() else {
                plan.failed
                    .push((shown, CliError::usage("cannot read its metadata")));
                continue;
            };
            let meta = if lmeta.file_type().is_symlink() {
                if !follow {
                    plan.skipped.push((shown, "symbolic link (not followed)"));
                    continue;
                }
                match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        plan.failed
                            .push((shown, CliError::io("following the link", &path, &e)));
                        continue;
                    }
                }
            } else {
                lmeta
            };
            if meta.is_dir() {
                if seen_dirs.insert((meta.dev(), meta.ino())) {
                    stack.push((path, rel));
                } else {
                    plan.skipped
                        .push((shown, "folder already visited (a link loop)"));
                }
                continue;
            }
            if !meta.is_file() {
                plan.skipped
                    .push((shown, "special file (device, FIFO or socket)"));
                continue;
            }
            if !filter.included(&rel, &base) {
                plan.excluded += 1;
                continue;
            }
            let name = format!("{prefix}{rel}");
            if let Err(e) = store.object(&name) {
                plan.failed.push((shown, e));
                continue;
            }
            plan.jobs.push(Job {
                path,
                name,
                size: meta.len(),
                meta: store::file_metadata(&meta),
            });
        }
    }
    plan.jobs.sort_by(|a, b| a.name.cmp(&b.name));
    plan
}

/// The store and name prefix a tree goes to.
fn tree_dest(app: &App, sources: &Sources, dest: Option<&str>) -> Result<(Store, String)> {
    let with_slash = |s: &str| {
        if s.is_empty() || s.ends_with('/') {
            s.to_owned()
        } else {
            format!("{s}/")
        }
    };
    let (store, prefix) = match dest {
        None => {
            let Sources::Dir(d) = sources else {
                return Err(CliError::usage("several FILEs need a PREFIX/"));
            };
            let p = util::absolute(&util::expand_tilde(Path::new(d)));
            let base = p
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    CliError::usage(format!("{d}: cannot name a prefix after this folder"))
                        .hint("give the prefix: sealstream put -r DIR PREFIX/")
                })?
                .to_owned();
            (app.store()?, format!("{base}/"))
        }
        Some(d) if d.starts_with("http://") || d.starts_with("https://") => {
            return Err(CliError::usage(
                "put writes to a store or s3://bucket/prefix/, not to a URL",
            ));
        }
        Some(d) if location::is_explicit_path(d) => {
            return Err(CliError::usage(format!(
                "put DEST {d:?} looks like a local path; DEST is a prefix in the store"
            ))
            .hint("use --store FOLDER to put into a local folder store"));
        }
        Some(d) if d.starts_with("s3://") || d.starts_with("file://") => {
            (Store::parse(d)?, String::new())
        }
        Some(d) => (app.store()?, with_slash(d)),
    };
    if !prefix.is_empty() {
        store.object(prefix.trim_end_matches('/'))?;
    }
    Ok((store, prefix))
}

/// `--jobs`, or the default for the store kind.
/// Files sealed or opened at once: `--jobs`, else the cores for a local
/// store, and for S3 twice the cores between 4 and 8. Each S3 job streams
/// its own multipart upload with its own part buffers, so more jobs than
/// that cost memory (about 75 MiB each) and, on few cores, time: measured
/// on 2 cores against the local S3 server, a 1.1 GiB tree took 11.8 s at 4
/// jobs, 13.7 s at 8 and 18.2 s at 16 (docs/PERFORMANCE.md).
fn jobs(store: &Store, flag: Option<u16>) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    flag.map_or_else(
        || match store {
            Store::Local(_) => cores,
            Store::S3 { .. } => (2 * cores).clamp(4, 8),
        },
        usize::from,
    )
}

/// What happened to one file.
enum Outcome {
    Stored {
        plain: u64,
        record: Option<Remembered>,
    },
    Unchanged {
        record: Option<Remembered>,
    },
    Failed(CliError),
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    stored: u64,
    unchanged: u64,
    failed: u64,
    bytes: u64,
    worst: Option<Class>,
}

impl Tally {
    /// One failed item: `shown` is the local file (`put`) or the store
    /// object (`get`), under the same field name as in its success line.
    fn fail(&mut self, app: &App, verb: &str, shown: &str, e: &CliError) {
        let field = if verb == "get" { "object" } else { "file" };
        self.failed += 1;
        if self.worst != Some(Class::Auth) {
            self.worst = Some(e.class());
        }
        app.out.failure(
            &json!({
                "verb": verb,
                field: shown,
                "status": "failed",
                "class": e.class().name(),
                "exit_code": e.class().code(),
                "error": e.message(),
            }),
            &format!("FAILED {}: {}", output::escape(shown), e.message()),
        );
    }

    fn result(&self, what: &str, total: usize) -> Result<()> {
        match self.worst {
            None => Ok(()),
            Some(class) => Err(CliError::new(
                class,
                format!("{} of {total} files failed to {what}", self.failed),
            )
            .hint("see the FAILED lines above; the other files were done")),
        }
    }
}

/// Whether `job` differs from the stored `entry` (size from the listing;
/// mode and mtime from `remembered` when it describes this stored
/// version, else from the object's header). Returns the record to keep.
async fn changed(
    handle: &StoreHandle<'_>,
    a: &PutArgs,
    job: &Job,
    entry: &Entry,
    remembered: Option<&Remembered>,
) -> Result<(bool, Option<Remembered>)> {
    if entry.plaintext_size != Some(job.size) {
        return Ok((true, None));
    }
    if a.checksum {
        let same = handle.same_content(&a.keys.all(), entry, &job.path).await?;
        let record = Remembered::of(entry, job.meta);
        return Ok((!same, record));
    }
    let stored = match remembered.filter(|r| r.matches(entry)) {
        Some(r) => r.metadata(),
        None => handle.read_header(entry).await?.context().file_metadata(),
    };
    let record = Remembered::of(entry, stored);
    Ok((stored != job.meta, record))
}

async fn put_tree(app: &App, a: &PutArgs, sources: Sources, dest: Option<&str>) -> Result<()> {
    let (store, prefix) = tree_dest(app, &sources, dest)?;
    let filter = Filter::new(&a.exclude, &a.include)?;
    let plan = match &sources {
        Sources::Dir(d) => {
            let root = util::absolute(&util::expand_tilde(Path::new(d)));
            let meta = std::fs::metadata(&root).map_err(|e| CliError::io("reading", &root, &e))?;
            if !meta.is_dir() {
                return Err(CliError::usage(format!(
                    "{} is not a folder; put -r seals a folder tree",
                    root.display()
                ))
                .hint("without -r: sealstream put FILE [DEST]"));
            }
            let (st, p, follow) = (store.clone(), prefix.clone(), a.follow_symlinks);
            blocking(move || Ok(walk(&root, &p, &filter, follow, &st))).await?
        }
        Sources::Files(files) => {
            let mut plan = Plan::default();
            for f in files {
                let p = util::absolute(&util::expand_tilde(Path::new(f)));
                let meta = std::fs::metadata(&p).map_err(|e| CliError::io("reading", &p, &e))?;
                if meta.is_dir() {
                    return Err(CliError::usage(format!(
                        "{} is a folder; nothing was stored",
                        p.display()
                    ))
                    .hint("sealstream put -r DIR PREFIX/ stores a folder tree"));
                }
                let base = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    CliError::usage(format!("{}: the name is not UTF-8", p.display()))
                })?;
                let name = format!("{prefix}{base}");
                store.object(&name)?;
                plan.jobs.push(Job {
                    path: p.clone(),
                    name,
                    size: meta.len(),
                    meta: store::file_metadata(&meta),
                });
            }
            plan
        }
    };
    let _lock = store::lock_prefix(&store, &prefix)?;
    crate::testhook::pause_tree_locked();
    let handle = StoreHandle::new(app, store.clone(), &a.sse).await?;
    // Keys first: a run that cannot seal (no key, unattended) creates no store folder.
    let kset = app.cfg.keys_for(&a.keys.all());
    // Many objects: one GenerateDataKey per batch of them (issue 11).
    let kms_batch = (a.kms_batch > 0).then(|| sealstream_kms::BatchLimits {
        max_objects: a.kms_batch,
        max_age: std::time::Duration::from_secs(600),
    });
    let ring = keys::sealing_batched(&app.cfg, &kset.value, app.out, kms_batch).await?;
    let listing = match &store {
        Store::Local(root) if !root.exists() => {
            app.create_store_root(root)?;
            app.out.note(&format!(
                "sealstream: created the local store at {}",
                root.display()
            ));
            Vec::new()
        }
        _ => handle.list(&prefix).await?,
    };
    let by_name: HashMap<&str, &Entry> = listing.iter().map(|e| (e.name.as_str(), e)).collect();
    let manifest = Manifest::load(&store, &prefix);
    let context = util::parse_context(&a.context.pairs)?;
    let sealer = handle.sealer(ring, app.suite(a.suite))?;

    let mut tally = Tally::default();
    for (shown, why) in &plan.skipped {
        app.out
            .note(&format!("skipped {}: {why}", output::escape(shown)));
        if app.out.json {
            app.out.result(
                &json!({"verb": "put", "file": shown, "status": "skipped", "reason": why}),
                "",
                false,
            );
        }
    }
    for (shown, e) in &plan.failed {
        tally.fail(app, "put", shown, e);
    }
    let total_files = plan.jobs.len();
    let total_bytes: u64 = plan.jobs.iter().map(|j| j.size).sum();
    let progress = app.progress(Some(total_bytes), "put");
    let done = AtomicU64::new(0);
    progress.set_message(format!("put 0/{total_files} files"));
    let (handle, sealer, context, manifest_ref) = (&handle, &sealer, &context, &manifest);
    let in_flight = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let started = std::time::SystemTime::now();
    let (progress_ref, done_ref, by_name, in_flight_ref) = (&progress, &done, &by_name, &in_flight);
    let many_files = matches!(sources, Sources::Files(_));
    let results = futures_util::stream::iter(plan.jobs)
        .map(|job| async move {
            let outcome = async {
                if let Some(entry) = by_name.get(job.name.as_str())
                    && many_files
                    && !a.force
                {
                    return Err(CliError::usage(format!("{} already exists", entry.target))
                        .hint("pass --force to replace it, or use put -r to store only changes"));
                }
                if let Some(entry) = by_name.get(job.name.as_str()).filter(|_| !many_files) {
                    let (differs, record) =
                        changed(handle, a, &job, entry, manifest_ref.objects.get(&job.name))
                            .await?;
                    if !differs {
                        return Ok(Outcome::Unchanged { record });
                    }
                }
                if let Ok(mut v) = in_flight_ref.lock() {
                    v.insert(job.name.clone());
                }
                let sealed = handle
                    .seal_file(sealer, &job.path, &job.name, context, job.meta)
                    .await;
                if let Ok(mut v) = in_flight_ref.lock() {
                    v.remove(&job.name);
                }
                let (plain, size, etag) = sealed?;
                let record = etag.map(|etag| Remembered {
                    etag,
                    size,
                    mode: job.meta.mode,
                    mtime_secs: job.meta.mtime.map(|t| t.secs),
                    mtime_nanos: job.meta.mtime.map(|t| t.nanos),
                });
                Ok::<_, CliError>(Outcome::Stored { plain, record })
            }
            .await
            .unwrap_or_else(Outcome::Failed);
            progress_ref.inc(job.size);
            let n = done_ref.fetch_add(1, Ordering::Relaxed) + 1;
            progress_ref.set_message(format!("put {n}/{total_files} files"));
            (job, outcome)
        })
        .buffer_unordered(jobs(&store, a.tree.jobs).max(1));
    tokio::pin!(results);
    let mut records = std::collections::BTreeMap::new();
    loop {
        let next = tokio::select! {
            n = results.next() => n,
            () = crate::cancel::cancelled() => {
                progress.finish();
                let names: Vec<String> = in_flight
                    .lock()
                    .map(|v| v.iter().cloned().collect())
                    .unwrap_or_default();
                let n = handle.abort_uploads(&names, started).await.unwrap_or(0);
                app.out.note(&format!(
                    "sealstream: interrupted after {} stored; aborted {n} multipart upload(s); \
                     run the same command again to store the rest",
                    tally.stored
                ));
                return Err(CliError::new(Class::Interrupted, "interrupted"));
            }
        };
        let Some((job, outcome)) = next else { break };
        let target = store
            .object(&job.name)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| job.name.clone());
        let shown = job.path.display().to_string();
        match outcome {
            Outcome::Stored { plain, record } => {
                tally.stored += 1;
                tally.bytes += plain;
                if let Some(r) = record {
                    records.insert(job.name.clone(), r);
                }
                app.out.result(
                    &json!({
                        "verb": "put",
                        "file": shown,
                        "object": target,
                        "status": "stored",
                        "plaintext_size": plain,
                    }),
                    &format!(
                        "{} -> {} ({})",
                        output::escape(&shown),
                        output::escape(&target),
                        util::human_size(plain)
                    ),
                    false,
                );
            }
            Outcome::Unchanged { record } => {
                tally.unchanged += 1;
                if let Some(r) = record {
                    records.insert(job.name.clone(), r);
                }
                if app.out.json {
                    app.out.result(
                        &json!({
                            "verb": "put",
                            "file": shown,
                            "object": target,
                            "status": "unchanged",
                        }),
                        "",
                        false,
                    );
                }
            }
            Outcome::Failed(e) => tally.fail(app, "put", &shown, &e),
        }
    }
    progress.finish();
    let mut next = Manifest {
        store: String::new(),
        objects: records,
    };
    if let Err(e) = next.save(&store, &prefix) {
        app.out.note(&format!(
            "sealstream: could not save the tree manifest ({}); the next run reads headers instead",
            e.message()
        ));
    }
    let total = total_files + plan.failed.len();
    app.out.result(
        &json!({
            "verb": "put",
            "summary": true,
            "store": store.to_string(),
            "prefix": prefix,
            "stored": tally.stored,
            "unchanged": tally.unchanged,
            "failed": tally.failed,
            "excluded": plan.excluded,
            "skipped_not_regular": plan.skipped.len(),
            "plaintext_bytes": tally.bytes,
        }),
        &format!(
            "stored {}, skipped {} (unchanged), failed {}",
            tally.stored, tally.unchanged, tally.failed
        ),
        false,
    );
    tally.result("store", total)
}

/// Where object `rel` (already checked by [`store::safe_relative`]) goes
/// under `dir`: creates the folders on the way, refusing any that is not a
/// real folder (a file or symbolic link in the way), and refuses a final
/// name that is a folder, a link or a special file, or an existing file
/// without `--force`.
fn place(dir: &Path, segs: &[&str], force: bool) -> Result<PathBuf> {
    let Some((last, parents)) = segs.split_last() else {
        return Err(CliError::usage("an empty name"));
    };
    let mut p = dir.to_path_buf();
    for s in parents {
        p.push(s);
        match p.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(CliError::usage(format!(
                    "{} is in the way: a file or symbolic link where a folder is needed",
                    p.display()
                )));
            }
            Err(_) => match std::fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
                Err(e) => return Err(CliError::io("creating folder", &p, &e)),
            },
        }
    }
    p.push(last);
    match p.symlink_metadata() {
        Ok(m) if m.is_file() && force => Ok(p),
        Ok(m) if m.is_file() => Err(CliError::usage(format!("{} already exists", p.display()))
            .hint("pass --force to replace existing files")),
        Ok(_) => Err(CliError::usage(format!(
            "{} is a folder, symbolic link or special file; it is not replaced",
            p.display()
        ))),
        Err(_) => Ok(p),
    }
}

/// `get -r PREFIX/ DIR`.
pub(crate) async fn get(app: &App, a: GetArgs) -> Result<()> {
    if a.link_file.is_some() {
        return Err(CliError::usage(
            "get -r restores a prefix, not a share link",
        ));
    }
    let (Some(source), Some(dest)) = (a.source.as_deref(), a.dest.as_deref()) else {
        return Err(CliError::usage("get -r needs a PREFIX and a folder")
            .hint("sealstream get -r PREFIX/ DIR"));
    };
    let (store, mut prefix) = store::store_and_prefix(app, Some(source))?;
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let handle = StoreHandle::new(app, store.clone(), &a.sse).await?;
    let listing = handle.list(&prefix).await?;
    if listing.is_empty() {
        return Err(CliError::new(
            Class::NotFound,
            format!("{store}{prefix}: no objects under this prefix"),
        )
        .hint("check the prefix with `sealstream ls`"));
    }
    let dir = util::absolute(&util::expand_tilde(Path::new(dest)));
    if dir.symlink_metadata().is_err() {
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io("creating folder", &dir, &e))?;
    } else if !dir.is_dir() {
        return Err(CliError::usage(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    let total_files = listing.len();
    let total_bytes: u64 = listing.iter().filter_map(|e| e.plaintext_size).sum();
    let progress = app.progress(Some(total_bytes), "get");
    progress.set_message(format!("get 0/{total_files} files"));
    let done = AtomicU64::new(0);
    let (handle_ref, a_ref, dir_ref, prefix_ref) = (&handle, &a, &dir, &prefix);
    let (progress_ref, done_ref) = (&progress, &done);
    let results = futures_util::stream::iter(listing)
        .map(|entry| async move {
            let rel = entry
                .name
                .strip_prefix(prefix_ref.as_str())
                .unwrap_or(&entry.name)
                .to_owned();
            let outcome = async {
                let segs = store::safe_relative(&rel).map_err(|why| {
                    CliError::usage(format!(
                        "refused object {}: {why}; it would not stay inside {}",
                        output::escape(&entry.name),
                        dir_ref.display()
                    ))
                })?;
                let segs: Vec<String> = segs.into_iter().map(str::to_owned).collect();
                let (d, force) = (dir_ref.clone(), a_ref.force);
                let path = blocking(move || {
                    let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
                    place(&d, &refs, force)
                })
                .await?;
                let n = handle_ref
                    .open_into(&a_ref.keys.all(), &entry, &path, a_ref.force)
                    .await?;
                Ok::<_, CliError>((path, n))
            }
            .await;
            progress_ref.inc(entry.plaintext_size.unwrap_or(0));
            let n = done_ref.fetch_add(1, Ordering::Relaxed) + 1;
            progress_ref.set_message(format!("get {n}/{total_files} files"));
            (entry, outcome)
        })
        .buffer_unordered(jobs(&store, a.tree.jobs).max(1));
    tokio::pin!(results);
    let mut tally = Tally::default();
    loop {
        let next = tokio::select! {
            n = results.next() => n,
            () = crate::cancel::cancelled() => {
                progress.finish();
                return Err(CliError::new(Class::Interrupted, "interrupted"));
            }
        };
        let Some((entry, outcome)) = next else { break };
        let shown = entry.target.to_string();
        match outcome {
            Ok((path, n)) => {
                tally.stored += 1;
                tally.bytes += n;
                app.out.result(
                    &json!({
                        "verb": "get",
                        "object": shown,
                        "output": path.display().to_string(),
                        "status": "restored",
                        "plaintext_size": n,
                    }),
                    &format!(
                        "{} -> {} ({}, authenticated)",
                        output::escape(&shown),
                        path.display(),
                        util::human_size(n)
                    ),
                    false,
                );
            }
            Err(e) => tally.fail(app, "get", &shown, &e),
        }
    }
    progress.finish();
    app.out.result(
        &json!({
            "verb": "get",
            "summary": true,
            "store": store.to_string(),
            "prefix": prefix,
            "restored": tally.stored,
            "failed": tally.failed,
            "plaintext_bytes": tally.bytes,
        }),
        &format!("restored {}, failed {}", tally.stored, tally.failed),
        false,
    );
    tally.result("restore", total_files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_without_a_slash_match_names_at_any_depth() {
        let f = Filter::new(
            &["*.log".into(), "build/**".into(), "node_modules".into()],
            &[],
        )
        .unwrap_or_else(|e| panic!("{}", e.message()));
        assert!(f.excluded("a/b/c.log", "c.log"));
        assert!(f.excluded("build/x/y.o", "y.o"));
        assert!(!f.excluded("src/build/y.o", "y.o"));
        assert!(f.excluded("web/node_modules", "node_modules"));
        assert!(!f.excluded("a/log.txt", "log.txt"));
        assert!(f.included("anything", "anything"));
        let g = Filter::new(&[], &["*.txt".into(), "docs/*.md".into()])
            .unwrap_or_else(|e| panic!("{}", e.message()));
        assert!(g.included("a/b.txt", "b.txt"));
        assert!(g.included("docs/r.md", "r.md"));
        assert!(!g.included("docs/sub/r.md", "r.md"));
        assert!(!g.included("x.bin", "x.bin"));
    }
}
