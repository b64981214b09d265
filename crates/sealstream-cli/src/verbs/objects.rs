//! `put`, `get` and `cat`: objects in a store (or S3, or a share link).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use sealstream_format::RandomAccess;

use super::crypt::{StoredFile, check_readable, open_file_into};
use super::{context_json, keys_human, records_json, remote};
use crate::app::{App, blocking};
use crate::cli::{CatArgs, GetArgs, PutArgs};
use crate::error::{CliError, Result};
use crate::local::{self, AtomicOutput};
use crate::location::{Store, Target};
use crate::util::{self, ByteRange};
use crate::{keys, location};

/// Where `put` writes: DEST as an object name, `s3://` URL or prefix
/// (ending in `/`, then the input's file name is appended).
fn put_target(app: &App, input: Option<&Path>, dest: Option<&str>) -> Result<Target> {
    let base = input
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    let need_name = || {
        CliError::usage("`put -` reads stdin and needs the object's name")
            .hint("sealstream put - NAME")
    };
    let join = |prefix: &str| -> Result<String> {
        let b = base.clone().ok_or_else(need_name)?;
        Ok(format!("{prefix}{b}"))
    };
    match dest {
        None => app.store()?.object(&base.clone().ok_or_else(need_name)?),
        Some(d) if d.ends_with('/') => {
            let full = join(d)?;
            if d.starts_with("s3://") || d.starts_with("file://") {
                Target::parse(&full, &app.store()?, false)
            } else {
                app.store()?.object(&full)
            }
        }
        Some(d) if d.starts_with("http://") || d.starts_with("https://") => Err(CliError::usage(
            "put writes to a store or s3://bucket/key, not to a URL",
        )),
        Some(d) if location::is_explicit_path(d) => Err(CliError::usage(format!(
            "put DEST {d:?} looks like a local path; DEST is an object name in the store"
        ))
        .hint(
            "use --store FOLDER to put into a local folder, or `encrypt -o FILE` for a single file",
        )),
        Some(d) => Target::parse(d, &app.store()?, false),
    }
}

pub(crate) async fn put(app: &App, a: PutArgs) -> Result<()> {
    let input = (a.input != "-").then(|| util::absolute(&util::expand_tilde(Path::new(&a.input))));
    if let Some(p) = &input {
        check_readable(p)?;
    }
    let target = put_target(app, input.as_deref(), a.dest.as_deref())?;
    let context = util::parse_context(&a.context.pairs)?;
    if input.is_none() {
        super::crypt::stdin_note(app);
    }
    let path = match &target {
        Target::Local(p) => p.clone(),
        Target::S3 { .. } => {
            return remote::put_s3(app, &a, input.as_deref(), &target, context).await;
        }
        Target::Link(_) => return Err(CliError::usage("put cannot write to a URL")),
    };
    // Keys first: a run that cannot seal (no key, unattended) creates no store folder.
    let keys = app.cfg.keys_for(&a.keys.all());
    let ring = keys::sealing(&app.cfg, &keys.value, app.out).await?;
    let created_store = prepare_local_parent(app, &path)?;
    let out_file = AtomicOutput::create(&path, a.force)?;
    // Bound to its name in the store: a file swapped with another one of
    // the store no longer opens under the other's name (issue 10 item 5).
    let name = local::store_name(&app.store()?, &path).unwrap_or_default();
    let sealed = ring
        .seal_key(app.suite(a.suite), context, &name)
        .await
        .map_err(|e| CliError::kms("sealing", &e))?;
    if let Some(root) = created_store {
        app.out.note(&format!(
            "sealstream: created the local store at {}",
            root.display()
        ));
    }
    let header = sealed.header;
    let data_key = sealed.key;
    let salt = sealed.salt;
    let progress = app.progress(None, "put");
    let (h, p, src) = (header.clone(), progress.clone(), input.clone());
    let plain_len = blocking(move || {
        let n = local::seal_to(src.as_deref(), out_file.file(), &h, &data_key, salt, &p)?;
        out_file.commit()?;
        Ok(n)
    })
    .await?;
    progress.finish();
    report_put(app, &target, input.as_deref(), plain_len, &header);
    Ok(())
}

/// Prints `put`'s result.
pub(super) fn report_put(
    app: &App,
    target: &Target,
    input: Option<&Path>,
    plain_len: u64,
    header: &sealstream_format::Header,
) {
    let size = sealstream_format::layout::body_len(plain_len)
        .map(|b| b.saturating_add(header.encoded_len() as u64))
        .ok();
    let shown_in = input.map_or("-".to_owned(), |p| p.display().to_string());
    app.out.result(
        &json!({
            "verb": "put",
            "input": shown_in,
            "object": target.to_string(),
            "plaintext_size": plain_len,
            "size": size,
            "suite": header.suite().name(),
            "context": context_json(header),
            "keys": records_json(header),
        }),
        &format!(
            "{shown_in} -> {target} ({}, {}, keys: {})",
            util::human_size(plain_len),
            header.suite().name(),
            keys_human(header)
        ),
        false,
    );
}

/// Creates the folders above a local object. Returns the store root if
/// this created it (so the caller can say where, once).
fn prepare_local_parent(app: &App, path: &Path) -> Result<Option<PathBuf>> {
    let root = match app.store()? {
        Store::Local(root) if path.starts_with(&root) => Some(root),
        _ => None,
    };
    let created = root.as_ref().filter(|r| !r.exists()).cloned();
    if let Some(r) = &created {
        app.create_store_root(r)?;
    }
    if let Some(dir) = path.parent()
        && !dir.is_dir()
    {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating folder", dir, &e))?;
    }
    Ok(created)
}

/// `get`'s destination: `-` is stdout, nothing is the object's name in the
/// current folder, an existing folder gets the object's name appended.
fn get_dest(target: &Target, dest: Option<&str>) -> Result<Option<PathBuf>> {
    match dest {
        Some("-") => Ok(None),
        Some(d) => {
            let p = util::absolute(&util::expand_tilde(Path::new(d)));
            if p.is_dir() {
                let name = target.base_name()?;
                Ok(Some(p.join(name)))
            } else {
                Ok(Some(p))
            }
        }
        None => {
            let name = target.base_name()?;
            Ok(Some(util::absolute(Path::new(&name))))
        }
    }
}

/// The longest share link read from a file or stdin (as a key file).
const MAX_LINK_LEN: usize = 4096;

/// `get`/`cat`'s OBJECT: the argument, or a share link read from
/// `--link-file` or (OBJECT `-`) from stdin, so that the link's key never
/// appears in the process list (`/proc/PID/cmdline`) or shell history.
/// The link file gets the checks of a secret key file (regular file, at
/// most 4096 bytes, not accessible by group or others).
fn source_of(source: Option<&str>, link_file: Option<&Path>) -> Result<String> {
    let (bytes, from) = match (source, link_file) {
        (_, Some(path)) => {
            let p = util::expand_tilde(path);
            util::not_a_folder(&p, "the file holding the share link")?;
            let bytes = sealstream_kms::read_secret_file(&p)
                .map_err(|e| CliError::kms("--link-file", &e))?;
            (bytes, format!("--link-file {}", p.display()))
        }
        (Some("-"), None) => {
            use std::io::{IsTerminal, Read};
            if io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "`-` reads a share link from stdin, which is a terminal",
                )
                .hint("pipe the link in (`sealstream get - < link.txt`) or use --link-file FILE"));
            }
            let mut buf = zeroize::Zeroizing::new(Vec::new());
            io::stdin()
                .lock()
                .take(MAX_LINK_LEN as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| crate::error::io_class("reading the share link from stdin", &e))?;
            if buf.len() > MAX_LINK_LEN {
                return Err(CliError::usage(format!(
                    "stdin: a share link is at most {MAX_LINK_LEN} bytes"
                )));
            }
            (buf, "stdin".to_owned())
        }
        (Some(s), None) => return Ok(s.to_owned()),
        (None, None) => return Err(CliError::usage("no OBJECT given")),
    };
    // Never echoed: the text may hold the link's key.
    let text = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim)
        .filter(|t| {
            (t.starts_with("https://") || t.starts_with("http://"))
                && !t.chars().any(char::is_control)
        })
        .ok_or_else(|| {
            CliError::usage(format!(
                "{from}: expected one share link (https://...#k=...) on one line"
            ))
        })?;
    Ok(text.to_owned())
}

pub(crate) async fn get(app: &App, mut a: GetArgs) -> Result<()> {
    if a.link_file.is_some() && a.source.is_some() {
        // With --link-file the one positional argument is DEST.
        if a.dest.is_some() {
            return Err(CliError::usage(
                "--link-file replaces OBJECT: pass only DEST (sealstream get --link-file F DEST)",
            ));
        }
        a.dest = a.source.take();
    }
    let source = source_of(a.source.as_deref(), a.link_file.as_deref())?;
    let target = Target::parse(&source, &app.store()?, false)?;
    let dest = get_dest(&target, a.dest.as_deref())?;
    let wanted = util::parse_context(&a.context.pairs)?;
    let path = match &target {
        Target::Local(p) => p.clone(),
        Target::S3 { .. } | Target::Link(_) => {
            return remote::get_remote(app, &a, &target, dest, wanted).await;
        }
    };
    let shown = target.to_string();
    let src = StoredFile::open(app, &path).await?;
    util::check_context(&shown, src.header.context(), &wanted)?;
    let out_file = dest
        .as_deref()
        .map(|p| AtomicOutput::create(p, a.force))
        .transpose()?;
    let data_key = src.data_key(app, &a.keys.all(), &shown).await?;
    let progress = app.progress(
        local::claimed_plaintext_len(src.size, src.header_len),
        "get",
    );
    let StoredFile { file, header, .. } = src;
    let n = open_file_into(file, &shown, out_file, &header, data_key, &progress).await?;
    progress.finish();
    report_get(app, &shown, dest.as_deref(), n, &header);
    Ok(())
}

/// Prints `get`'s result.
pub(super) fn report_get(
    app: &App,
    shown: &str,
    dest: Option<&Path>,
    plain_len: u64,
    header: &sealstream_format::Header,
) {
    let shown_out = dest.map_or("-".to_owned(), |p| p.display().to_string());
    app.out.result(
        &json!({
            "verb": "get",
            "object": shown,
            "output": shown_out,
            "plaintext_size": plain_len,
            "suite": header.suite().name(),
            "context": context_json(header),
            "keys": records_json(header),
        }),
        &format!(
            "{shown} -> {shown_out} ({}, authenticated)",
            util::human_size(plain_len)
        ),
        dest.is_none(),
    );
}

pub(crate) async fn cat(app: &App, a: CatArgs) -> Result<()> {
    let source = source_of(a.source.as_deref(), a.link_file.as_deref())?;
    let target = Target::parse(&source, &app.store()?, false)?;
    let range = a.range.as_deref().map(ByteRange::parse).transpose()?;
    let wanted = util::parse_context(&a.context.pairs)?;
    let path = match &target {
        Target::Local(p) => p.clone(),
        Target::S3 { .. } | Target::Link(_) => {
            return remote::cat_remote(app, &a, &target, range, wanted).await;
        }
    };
    let shown = target.to_string();
    let src = StoredFile::open(app, &path).await?;
    util::check_context(&shown, src.header.context(), &wanted)?;
    let data_key = src.data_key(app, &a.keys.all(), &shown).await?;
    let StoredFile {
        file,
        header,
        header_len,
        size,
        ..
    } = src;
    let Some(range) = range else {
        let progress = app.progress(local::claimed_plaintext_len(size, header_len), "cat");
        progress.before_stdout();
        let (h, p, s) = (header.clone(), progress.clone(), shown.clone());
        let n = blocking(move || local::open_file_to(&file, &s, io::stdout(), &h, &data_key, &p))
            .await?;
        progress.finish();
        report_cat(app, &shown, 0..n, n);
        return Ok(());
    };
    let s = shown.clone();
    let (r, total) = blocking(move || {
        let ra = RandomAccess::open(&file, &data_key).map_err(|e| local::opening_error(&s, e))?;
        // Authenticates the final chunk, so the length is proven.
        let total = ra
            .plaintext_len()
            .map_err(|e| local::opening_error(&s, e))?;
        let r = range.resolve(&s, total)?;
        write_range(&s, r.clone(), |buf, off| {
            ra.read_exact_at(buf, off)
                .map_err(|e| local::opening_error(&s, e))
        })?;
        Ok((r, total))
    })
    .await?;
    report_cat(app, &shown, r, total);
    Ok(())
}

/// Writes plaintext `range` to stdout, `read(buf, offset)` filling each
/// piece.
fn write_range(
    shown: &str,
    range: std::ops::Range<u64>,
    read: impl Fn(&mut [u8], u64) -> Result<()>,
) -> Result<()> {
    const PIECE: u64 = 1 << 20;
    let mut stdout = io::stdout().lock();
    let mut off = range.start;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    while off < range.end {
        crate::cancel::check().map_err(|e| crate::error::io_class(shown, &e))?;
        let n = usize::try_from((range.end - off).min(PIECE)).unwrap_or(1 << 20);
        buf.resize(n, 0);
        read(&mut buf, off)?;
        stdout
            .write_all(&buf)
            .map_err(|e| crate::error::io_class("writing to stdout", &e))?;
        off += n as u64;
    }
    stdout
        .flush()
        .map_err(|e| crate::error::io_class("writing to stdout", &e))
}

/// `cat` prints data on stdout; its result goes to stderr with --json.
pub(super) fn report_cat(app: &App, shown: &str, r: std::ops::Range<u64>, total: u64) {
    if app.out.json {
        app.out.result(
            &json!({
                "verb": "cat",
                "object": shown,
                "range_start": r.start,
                // Inclusive, as --range writes it (null for an empty range).
                "range_end": r.end.checked_sub(1).filter(|_| r.end > r.start),
                "bytes": r.end - r.start,
                "plaintext_size": total,
            }),
            "",
            true,
        );
    }
}
