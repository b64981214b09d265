//! The S3 side of the verbs (put, get, cat, ls, inspect, rewrap), and
//! presign, share, cleanup and bench.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use sealstream_format::{EncryptionContext, Header};
use sealstream_s3::{ObjectHead, PlainRange, UploadOptions};

use super::objects::{report_cat, report_get, report_put};
use crate::app::{App, blocking};
use crate::cli::{
    BenchArgs, CatArgs, CleanupArgs, GetArgs, Method, PresignArgs, PutArgs, RewrapArgs, ShareArgs,
};
use crate::error::{Class, CliError, Result};
use crate::local::AtomicOutput;
use crate::location::{Store, Target};
use crate::s3::{self, SseKeys, s3_error};
use crate::util::{self, ByteRange};
use crate::{cancel, keys};

/// The longest expiry S3 accepts for a presigned URL (SigV4).
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

fn unavailable(what: &str) -> CliError {
    CliError::new(
        Class::Usage,
        format!("{what} is not available in this build yet (the S3 adapter does not offer it)"),
    )
}

pub(crate) fn bucket_key(target: &Target) -> Result<(&str, &str)> {
    match target {
        Target::S3 { bucket, key } => Ok((bucket, key)),
        _ => Err(CliError::usage(format!("{target} is not an S3 object"))),
    }
}

fn interrupted() -> CliError {
    CliError::new(Class::Interrupted, "interrupted")
}

pub(crate) async fn put_s3(
    app: &App,
    a: &PutArgs,
    input: Option<&Path>,
    target: &Target,
    context: EncryptionContext,
) -> Result<()> {
    let (bucket, key) = bucket_key(target)?;
    let sse = s3::sse(&app.cfg.sse_for(&a.sse))?;
    let admin = s3::admin_client_for(app, s3::client(app).await, &sse)?;
    if !a.force && admin.exists(bucket, key).await.map_err(|e| s3_error(&e))? {
        return Err(CliError::usage(format!("{target} already exists"))
            .hint("pass --force to replace it, or choose another name"));
    }
    let journal =
        match super::resume::before_put(app, a, input, target, bucket, key, &admin, &sse, &context)
            .await?
        {
            super::resume::Plan::Resumed => return Ok(()),
            super::resume::Plan::Upload(j) => j,
        };
    let keys = app.cfg.keys_for(&a.keys.all());
    let ring = keys::sealing(&app.cfg, &keys.value, app.out).await?;
    let client = s3::seal_client(app, admin.s3().clone(), ring, app.suite(a.suite), &sse)?;
    let mut opts = UploadOptions::default().context(context);
    let (reader, len): (Box<dyn tokio::io::AsyncRead + Unpin + Send>, Option<u64>) = match input {
        Some(p) => {
            let f = tokio::fs::File::open(p)
                .await
                .map_err(|e| CliError::io("opening", p, &e))?;
            let len = f
                .metadata()
                .await
                .map_err(|e| CliError::io("reading", p, &e))?
                .len();
            (
                Box::new(tokio::io::BufReader::with_capacity(2 << 20, f)),
                Some(len),
            )
        }
        None => (Box::new(tokio::io::stdin()), None),
    };
    if let Some(n) = len {
        opts = opts.plaintext_len(n);
    }
    let progress = app.progress(len, "put");
    let started = SystemTime::now();
    let reader = progress.async_reader(reader);
    let upload = super::resume::upload(&client, bucket, key, reader, opts, journal);
    let outcome = tokio::select! {
        r = upload => r,
        () = cancel::cancelled() => {
            progress.finish();
            // The upload future is dropped: its guard aborts in the
            // background. Make sure before exiting.
            let n = admin
                .abort_uploads_since(bucket, key, started)
                .await
                .map_err(|e| s3_error(&e))?;
            app.out.note(&format!(
                "sealstream: aborted {n} multipart upload(s) of {target}; nothing was stored"
            ));
            return Err(interrupted());
        }
    };
    progress.finish();
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let err = s3_error(&e);
            if err.class() == Class::Interrupted {
                let _ = admin.abort_uploads_since(bucket, key, started).await;
            }
            return Err(err);
        }
    };
    let (header, _, _) = s3::read_header(&client, bucket, key).await?;
    report_put(app, target, input, outcome.plaintext_len, &header);
    Ok(())
}

/// Reads the header of an S3 object once, checks its context and builds
/// the keyring that opens it; returns a client and that header read. The
/// S3 crate unwraps the key from this very read and pins every later
/// request of the operation to it, so what was checked here is what is
/// used.
async fn open_s3(
    app: &App,
    keys_args: &crate::cli::KeyArgs,
    sse_args: &crate::cli::SseArgs,
    target: &Target,
    wanted: &EncryptionContext,
) -> Result<(sealstream_s3::SealClient, ObjectHead)> {
    let (bucket, key) = bucket_key(target)?;
    let shown = target.to_string();
    let sse = s3::sse(&app.cfg.sse_for(sse_args))?;
    let s3c = s3::client(app).await;
    let head = s3::head(&s3c, bucket, key, &sse)
        .await
        .map_err(|e| s3::not_in_store(e, app.store().ok().as_ref(), bucket, key))?;
    util::check_context(&shown, head.header().context(), wanted)?;
    let keys = app.cfg.keys_for(keys_args);
    let ring = keys::opening(&app.cfg, &keys.value, head.header(), &shown).await?;
    let client = s3::seal_client(app, s3c, ring, head.header().suite(), &sse)?;
    Ok((client, head))
}

pub(crate) async fn get_remote(
    app: &App,
    a: &GetArgs,
    target: &Target,
    dest: Option<PathBuf>,
    wanted: EncryptionContext,
) -> Result<()> {
    if let Target::Link(url) = target {
        return get_link(app, url, dest, a.force, &wanted, "get").await;
    }
    let shown = target.to_string();
    let out_file = dest
        .as_deref()
        .map(|p| AtomicOutput::create(p, a.force))
        .transpose()?;
    let (bucket, key) = bucket_key(target)?;
    let (client, head) = match open_s3(app, &a.keys.all(), &a.sse, target, &wanted).await {
        Ok(v) => v,
        Err(e) => {
            return super::migrate::get_s3ec_or(
                app,
                &a.keys.all(),
                &a.s3ec,
                bucket,
                key,
                dest.as_deref(),
                out_file,
                &wanted,
                "get",
                e,
            )
            .await;
        }
    };
    let header = head.header().clone();
    let progress = app.progress(head.claimed_plaintext_len(), "get");
    let copy = async {
        let dl = client
            .download_head(&head)
            .await
            .map_err(|e| s3_error(&e))?;
        // The header the download authenticated must be the one checked.
        util::check_context(&shown, dl.header().context(), &wanted)?;
        write_download(dl, out_file.as_ref(), &progress).await
    };
    let n = tokio::select! {
        r = copy => r?,
        () = cancel::cancelled() => return Err(interrupted()),
    };
    progress.finish();
    if let Some(out) = out_file {
        blocking(move || out.commit()).await?;
    }
    report_get(app, &shown, dest.as_deref(), n, &header);
    Ok(())
}

pub(crate) async fn cat_remote(
    app: &App,
    a: &CatArgs,
    target: &Target,
    range: Option<ByteRange>,
    wanted: EncryptionContext,
) -> Result<()> {
    if let Target::Link(url) = target {
        if range.is_some() {
            return Err(CliError::usage("--range is not supported for share links")
                .hint("use `sealstream get LINK -` and cut the range locally"));
        }
        return get_link(app, url, None, false, &wanted, "cat").await;
    }
    let shown = target.to_string();
    let (bucket, key) = bucket_key(target)?;
    let (client, head) = match open_s3(app, &a.keys.all(), &a.sse, target, &wanted).await {
        Ok(v) => v,
        Err(e) if range.is_none() => {
            return super::migrate::get_s3ec_or(
                app,
                &a.keys.all(),
                &a.s3ec,
                bucket,
                key,
                None,
                None,
                &wanted,
                "cat",
                e,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let Some(range) = range else {
        let progress = app.progress(head.claimed_plaintext_len(), "cat");
        progress.before_stdout();
        let copy = async {
            let dl = client
                .download_head(&head)
                .await
                .map_err(|e| s3_error(&e))?;
            util::check_context(&shown, dl.header().context(), &wanted)?;
            write_download(dl, None, &progress).await
        };
        let n = tokio::select! {
            r = copy => r?,
            () = cancel::cancelled() => return Err(interrupted()),
        };
        progress.finish();
        report_cat(app, &shown, 0..n, n);
        return Ok(());
    };
    // The user's range as given: the S3 crate resolves open-ended, suffix
    // and past-the-end ranges only against a proven length.
    let (plain_range, start) = match range {
        ByteRange::From { start, end } => (
            PlainRange::Span {
                start,
                end: end.map(|e| e.saturating_add(1)),
            },
            Some(start),
        ),
        ByteRange::Last(n) => (PlainRange::Suffix(n), None),
    };
    let bytes = tokio::select! {
        r = client.read_range(&head, plain_range) => r.map_err(|e| match e {
            sealstream_s3::Error::InvalidRange { start, len, .. } => {
                util::range_past_end(&shown, range, start, len)
            }
            e => s3_error(&e),
        })?,
        () = cancel::cancelled() => return Err(interrupted()),
    };
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(&bytes)
        .await
        .map_err(|e| crate::error::io_class("writing to stdout", &e))?;
    stdout
        .flush()
        .await
        .map_err(|e| crate::error::io_class("writing to stdout", &e))?;
    // A range that reached the end had the length proven; report it.
    let claimed = head.claimed_plaintext_len().unwrap_or(0);
    let n = bytes.len() as u64;
    let start = start.unwrap_or(claimed.saturating_sub(n));
    report_cat(app, &shown, start..start + n, claimed);
    Ok(())
}

pub(crate) async fn read_remote_header(
    app: &App,
    target: &Target,
    sse_args: &crate::cli::SseArgs,
) -> Result<(Header, usize, Option<u64>)> {
    if let Target::Link(_) = target {
        return Err(unavailable("inspecting a share link"));
    }
    let (bucket, key) = bucket_key(target)?;
    let sse = s3::sse(&app.cfg.sse_for(sse_args))?;
    let admin = s3::admin_client_for(app, s3::client(app).await, &sse)?;
    let (h, l, s) = s3::read_header(&admin, bucket, key)
        .await
        .map_err(|e| s3::not_in_store(e, app.store().ok().as_ref(), bucket, key))?;
    Ok((h, l, Some(s)))
}

pub(crate) async fn rewrap_s3(
    app: &App,
    a: &RewrapArgs,
    target: &Target,
    wanted: EncryptionContext,
) -> Result<()> {
    let (bucket, key) = bucket_key(target)?;
    let shown = target.to_string();
    let (client, head) = open_s3(app, &a.keys.all(), &a.sse, target, &wanted).await?;
    let header = head.header().clone();
    let new_ring = keys::new_keys(
        &app.cfg,
        &a.new_key_files,
        &a.new_recipients,
        &a.new_recipients_files,
        &a.new_kms_keys,
    )
    .await?;
    tokio::select! {
        r = client.rewrap_head(&head, &new_ring) => r.map_err(|e| s3_error(&e))?,
        () = cancel::cancelled() => return Err(interrupted()),
    };
    let (new_header, _, size) = s3::read_header(&client, bucket, key).await?;
    super::rewrap::report(app, &shown, &header, &new_header, Some(size));
    Ok(())
}

/// The S3 object of a `presign`/`share` argument.
pub(crate) fn s3_target(app: &App, s: &str) -> Result<Target> {
    let t = Target::parse(s, &app.store()?, false)?;
    match t {
        Target::S3 { .. } => Ok(t),
        _ => Err(CliError::usage(format!("{t} is not an S3 object"))
            .hint("name an s3://bucket/key, or an object of an S3 store (--store s3://...)")),
    }
}

pub(crate) fn expiry(s: &str) -> Result<Duration> {
    let d = util::parse_duration(s)?;
    if d.is_zero() || d > MAX_EXPIRY {
        return Err(CliError::usage(format!(
            "--expires {s}: must be between 1 second and 7 days"
        )));
    }
    Ok(d)
}

pub(crate) async fn presign(app: &App, a: PresignArgs) -> Result<()> {
    use aws_sdk_s3::presigning::PresigningConfig;
    let expires = expiry(&a.expires)?;
    let target = s3_target(app, &a.target)?;
    let (bucket, key) = bucket_key(&target)?;
    let conf = PresigningConfig::expires_in(expires)
        .map_err(|e| CliError::usage(format!("--expires: {e}")))?;
    let s3c = s3::client(app).await;
    let shown = target.to_string();
    let req = match a.method {
        Method::Get => s3c
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(conf)
            .await
            .map_err(|e| s3::sdk_error("presign GetObject", &shown, e))?,
        Method::Put => s3c
            .put_object()
            .bucket(bucket)
            .key(key)
            .presigned(conf)
            .await
            .map_err(|e| s3::sdk_error("presign PutObject", &shown, e))?,
    };
    let url = req.uri().to_owned();
    let method = match a.method {
        Method::Get => "GET",
        Method::Put => "PUT",
    };
    app.out.result(
        &json!({
            "verb": "presign",
            "object": shown,
            "method": method,
            "url": url,
            "expires_in_seconds": expires.as_secs(),
            "expires_at": util::expiry_time(expires).1,
            "expires_at_epoch": util::expiry_time(expires).0,
        }),
        &url,
        false,
    );
    Ok(())
}

pub(crate) async fn share(app: &App, a: ShareArgs) -> Result<()> {
    let expires = expiry(&a.expires)?;
    let target = s3_target(app, &a.target)?;
    let wanted = util::parse_context(&a.context.pairs)?;
    let (client, head) = open_s3(
        app,
        &a.keys.all(),
        &crate::cli::SseArgs::default(),
        &target,
        &wanted,
    )
    .await?;
    let link = client
        .share_head(&head, expires)
        .await
        .map_err(|e| s3_error(&e))?;
    let secret = match &a.web_page {
        Some(page) => link.expose_web_link(page).map_err(|e| s3_error(&e))?,
        None => link.expose_secret(),
    };
    app.out.result(
        &json!({
            "verb": "share",
            "object": target.to_string(),
            "link": secret.as_str(),
            "expires_in_seconds": expires.as_secs(),
            "expires_at": util::expiry_time(expires).1,
            "expires_at_epoch": util::expiry_time(expires).0,
        }),
        secret.as_str(),
        false,
    );
    app.out.note(&format!(
        "sealstream: anyone with this link can read {target} until it expires in {} ({}), \
         and decrypt any copy of it forever; open it {}",
        util::human_duration(expires),
        util::expiry_time(expires).1,
        if a.web_page.is_some() {
            "in a browser, or with `sealstream get LINK` (the bucket needs the rule of \
             `sealstream cors`)"
        } else {
            "with `sealstream get LINK`"
        }
    ));
    Ok(())
}

/// Opens a share link: the download and a label for messages.
async fn open_link(url: &str) -> Result<(sealstream_s3::Download, String)> {
    let shown = crate::redact::redact(url);
    if !url.contains("#k=") {
        return Err(CliError::usage(format!(
            "{shown} is not a share link (it has no #k=... fragment holding the key)"
        ))
        .hint(
            "ask for a link made by `sealstream share`, or download the sealed object and \
             open it with your key",
        ));
    }
    let link = sealstream_s3::ShareLink::parse(url).map_err(|e| s3_error(&e))?;
    let http = sealstream_s3::PlainHttp::new().map_err(|e| s3_error(&e))?;
    let dl = http
        .open_share_link(&link)
        .await
        .map_err(|e| s3_error(&e))?;
    Ok((dl, shown))
}

/// Streams a download into `out_file` or stdout, with progress. The caller
/// commits the file only after this returns `Ok`.
async fn write_download(
    mut dl: sealstream_s3::Download,
    out_file: Option<&AtomicOutput>,
    progress: &crate::progress::Progress,
) -> Result<u64> {
    let mut n = 0u64;
    match out_file {
        Some(out) => {
            let std_file = out
                .file()
                .try_clone()
                .map_err(|e| CliError::io("writing", out.dest(), &e))?;
            let mut f = tokio::fs::File::from_std(std_file);
            while let Some(piece) = dl.next().await {
                let piece = piece.map_err(|e| s3_error(&e))?;
                f.write_all(&piece)
                    .await
                    .map_err(|e| CliError::io("writing", out.dest(), &e))?;
                progress.inc(piece.len() as u64);
                n += piece.len() as u64;
                crate::testhook::pause_after_bytes(n).await;
            }
            f.flush()
                .await
                .map_err(|e| CliError::io("writing", out.dest(), &e))?;
        }
        None => {
            progress.before_stdout();
            let mut stdout = tokio::io::stdout();
            while let Some(piece) = dl.next().await {
                let piece = piece.map_err(|e| s3_error(&e))?;
                stdout
                    .write_all(&piece)
                    .await
                    .map_err(|e| crate::error::io_class("writing to stdout", &e))?;
                progress.inc(piece.len() as u64);
                n += piece.len() as u64;
            }
            stdout
                .flush()
                .await
                .map_err(|e| crate::error::io_class("writing to stdout", &e))?;
        }
    }
    Ok(n)
}

/// `get LINK` and `cat LINK`: no keys, no AWS credentials.
async fn get_link(
    app: &App,
    url: &str,
    dest: Option<PathBuf>,
    force: bool,
    wanted: &EncryptionContext,
    verb: &str,
) -> Result<()> {
    let out_file = dest
        .as_deref()
        .map(|p| AtomicOutput::create(p, force))
        .transpose()?;
    let (dl, shown) = open_link(url).await?;
    let header = dl.header().clone();
    // A share link is a capability for one object, checked by whoever
    // shared it: its context is checked only when pairs are given.
    if !wanted.is_empty() {
        util::check_context(&shown, header.context(), wanted)?;
    }
    let progress = app.progress(dl.plaintext_len(), verb);
    let n = tokio::select! {
        r = write_download(dl, out_file.as_ref(), &progress) => r?,
        () = cancel::cancelled() => return Err(interrupted()),
    };
    progress.finish();
    if let Some(out) = out_file {
        blocking(move || out.commit()).await?;
    }
    if verb == "cat" {
        report_cat(app, &shown, 0..n, n);
    } else {
        report_get(app, &shown, dest.as_deref(), n, &header);
    }
    Ok(())
}

pub(crate) async fn cleanup(app: &App, a: CleanupArgs) -> Result<()> {
    let older = util::parse_duration(&a.older_than)?;
    let explicit = a.prefix.as_deref().and_then(|p| p.strip_prefix("s3://"));
    let (bucket, prefix) = if let Some(rest) = explicit {
        // `s3://b/pre` means keys starting with `pre`, like `aws s3api`.
        let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
        if b.is_empty() {
            return Err(CliError::usage("cleanup s3://BUCKET/PREFIX: no bucket"));
        }
        (b.to_owned(), k.to_owned())
    } else {
        match app.store()? {
            Store::S3 { bucket, prefix } => {
                let more = a.prefix.as_deref().unwrap_or("");
                (bucket, format!("{prefix}{more}"))
            }
            Store::Local(root) => {
                return Err(CliError::usage(format!(
                    "cleanup works on S3; the store is the local folder {}",
                    root.display()
                ))
                .hint("name an S3 prefix: sealstream cleanup s3://bucket/prefix"));
            }
        }
    };
    // Listing and aborting uploads needs no SSE options.
    let admin = s3::admin_client_for(app, s3::client(app).await, &SseKeys::default())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let uploads = admin
        .list_uploads(&bucket, &prefix)
        .await
        .map_err(|e| s3_error(&e))?;
    let mut count = 0usize;
    for u in uploads {
        let initiated = u.initiated.and_then(|t| u64::try_from(t).ok());
        let age = initiated.map(|t| now.saturating_sub(t));
        if age.is_some_and(|a| a < older.as_secs()) {
            continue;
        }
        let object = format!("s3://{bucket}/{}", u.key);
        if !a.dry_run {
            admin
                .abort_upload(&bucket, &u.key, &u.upload_id)
                .await
                .map_err(|e| s3_error(&e))?;
            let dest = super::resume::destination(app, &bucket, &u.key);
            crate::journal::forget(&dest, &u.upload_id);
        }
        count += 1;
        let verb = if a.dry_run { "would abort" } else { "aborted" };
        app.out.result(
            &json!({
                "verb": "cleanup",
                "object": object,
                "upload_id": u.upload_id,
                "initiated_at": u.initiated.map(util::iso8601),
                "initiated_at_epoch": initiated,
                "age_seconds": age,
                "aborted": !a.dry_run,
            }),
            &format!(
                "{verb} multipart upload of {object} (started {} ago)",
                age.map_or("?".to_owned(), |s| util::human_duration(
                    Duration::from_secs(s)
                ))
            ),
            false,
        );
    }
    if count == 0 {
        app.out.note(&format!(
            "sealstream: no multipart uploads older than {} under s3://{bucket}/{prefix}",
            util::human_duration(older)
        ));
    }
    Ok(())
}

pub(crate) async fn bench(app: &App, a: BenchArgs) -> Result<()> {
    let s3_store = if a.s3 {
        match app.store()? {
            Store::S3 { bucket, prefix } => Some((bucket, prefix)),
            Store::Local(root) => {
                return Err(CliError::usage(format!(
                    "bench --s3 measures transfers to an S3 store; the store is the local folder {}",
                    root.display()
                ))
                .hint("pass --store s3://bucket/prefix (two test objects are written and deleted)"));
            }
        }
    } else {
        None
    };
    let size = util::parse_size(&a.size)?;
    let opts = crate::bench::BenchOptions {
        size,
        threads: a.threads,
        suite: a.suite.map(|s| match s {
            crate::cli::SuiteArg::Aes256Gcm => sealstream_format::Suite::Aes256Gcm,
            crate::cli::SuiteArg::XChaCha20Poly1305 => sealstream_format::Suite::XChaCha20Poly1305,
        }),
        repetitions: a.repetitions,
        file: a.file.map(|f| util::absolute(&util::expand_tilde(&f))),
        json: app.out.json,
    };
    let results =
        blocking(move || crate::bench::run(&opts).map_err(|e| CliError::format("bench", &e)))
            .await?;
    for m in results {
        let v: serde_json::Value =
            serde_json::from_str(&m.to_json()).unwrap_or(serde_json::Value::Null);
        app.out.result(&v, &m.human(), false);
    }
    if let Some((bucket, prefix)) = s3_store {
        bench_s3(app, &bucket, &prefix, size).await?;
    }
    Ok(())
}

/// `bench --s3`: sealed against plain uploads and downloads of `size`
/// bytes through the S3 crate's transfer bench.
async fn bench_s3(app: &App, bucket: &str, prefix: &str, size: u64) -> Result<()> {
    let keys = app.cfg.keys_for(&crate::cli::KeyArgs::default());
    let ring = keys::sealing(&app.cfg, &keys.value, app.out).await?;
    let sse = s3::sse(&app.cfg.sse.value)?;
    let client = s3::seal_client(app, s3::client(app).await, ring, app.suite(None), &sse)?;
    let bench_prefix = format!("{prefix}sealstream-bench-{}/", std::process::id());
    let opts = sealstream_s3::bench::BenchOptions::new(bucket, bench_prefix, size);
    let r = tokio::select! {
        r = sealstream_s3::bench::transfer_bench(&client, &opts) => r.map_err(|e| s3_error(&e))?,
        () = cancel::cancelled() => return Err(interrupted()),
    };
    let t = |t: &sealstream_s3::bench::Transfer| json!({ "seconds": t.seconds, "mib_per_s": t.mib_per_s, "peak_rss_bytes": t.peak_rss });
    app.out.result(
        &json!({
            "verb": "bench",
            "name": "s3-transfer",
            "store": format!("s3://{bucket}/{prefix}"),
            "bytes": r.bytes,
            "part_size": r.part_size,
            "upload_concurrency": r.upload_concurrency,
            "download_concurrency": r.download_concurrency,
            "encrypted_upload": t(&r.encrypted_upload),
            "plain_upload": t(&r.plain_upload),
            "encrypted_download": t(&r.encrypted_download),
            "plain_download": t(&r.plain_download),
            "upload_ratio": r.upload_ratio,
            "download_ratio": r.download_ratio,
            "peak_rss_bytes": r.peak_rss,
        }),
        &format!("s3 transfer to s3://{bucket}/{prefix}: {r}"),
        false,
    );
    Ok(())
}
