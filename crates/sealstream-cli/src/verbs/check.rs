//! `check`: authenticate every object under a prefix (or a random sample)
//! without writing any plaintext anywhere.

use std::io;
use std::path::PathBuf;

use futures_util::StreamExt;
use serde_json::json;

use sealstream_format::pipeline::{self, PipelineOptions};

use super::crypt::open_key;
use crate::app::{App, blocking};
use crate::cli::CheckArgs;
use crate::error::{Class, CliError, Result};
use crate::location::{Store, Target};
use crate::s3::{self, SseKeys, s3_error};
use crate::store::StoreHandle;
/// Kept here for the verbs that read `check`'s prefix argument the same way.
#[allow(unused_imports)]
pub(crate) use crate::store::store_and_prefix;
use crate::{keys, local, output};

/// One object to check: its name in the store and where it lives.
enum Item {
    Local { name: String, path: PathBuf },
    S3 { name: String, key: String },
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Local { name, .. } | Item::S3 { name, .. } => name,
        }
    }
}

/// What checking one object found.
struct Checked {
    name: String,
    /// The plaintext length on success; the error (and the chunk it names,
    /// if any) on failure.
    result: std::result::Result<u64, (CliError, Option<u64>)>,
}

/// Every object under `prefix` in `store`, sorted by name (one listing
/// path for both store kinds: [`StoreHandle::list`]).
async fn list_items(app: &App, a: &CheckArgs, store: &Store, prefix: &str) -> Result<Vec<Item>> {
    let handle = StoreHandle::new(app, store.clone(), &a.sse).await?;
    Ok(handle
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|e| match e.target {
            Target::Local(path) => Some(Item::Local { name: e.name, path }),
            Target::S3 { key, .. } => Some(Item::S3 { name: e.name, key }),
            Target::Link(_) => None,
        })
        .collect())
}

/// Keeps a uniformly random `percent` of `items` (rounded up, so any
/// positive percentage of a non-empty store checks at least one), in order.
fn sample(items: Vec<Item>, percent: f64) -> Result<Vec<Item>> {
    use ring::rand::SecureRandom;
    let n = items.len();
    let wanted = (n as f64) * percent / 100.0;
    // The smallest count reaching `wanted` (percent is in 0..=100).
    let k = (0..=n).find(|&k| k as f64 >= wanted).unwrap_or(n);
    if k == n {
        return Ok(items);
    }
    let rng = ring::rand::SystemRandom::new();
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let mut b = [0u8; 8];
        rng.fill(&mut b)
            .map_err(|_| CliError::new(Class::Internal, "the system random source failed"))?;
        let span = (n - i) as u64;
        let j = i + usize::try_from(u64::from_le_bytes(b) % span).unwrap_or(0);
        idx.swap(i, j);
    }
    let mut chosen: Vec<usize> = idx.into_iter().take(k).collect();
    chosen.sort_unstable();
    let mut items: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    Ok(chosen
        .into_iter()
        .filter_map(|i| items.get_mut(i).and_then(Option::take))
        .collect())
}

/// The `--sample` value: a percentage from 0 to 100.
fn parse_percent(s: &str) -> Result<f64> {
    let v: f64 = s.trim_end_matches('%').parse().map_err(|_| {
        CliError::usage(format!(
            "--sample {s:?}: expected a percentage from 0 to 100"
        ))
    })?;
    if !(0.0..=100.0).contains(&v) {
        return Err(CliError::usage(format!(
            "--sample {s}: expected a percentage from 0 to 100"
        )));
    }
    Ok(v)
}

/// The chunk a format error names.
fn format_chunk(e: &sealstream_format::Error) -> Option<u64> {
    match e {
        sealstream_format::Error::ChunkAuthentication { index, .. } => Some(*index),
        _ => None,
    }
}

/// Authenticates a local sealed file: header, key commitment, every chunk.
async fn check_local(
    app: &App,
    a: &CheckArgs,
    path: PathBuf,
) -> Result<u64, (CliError, Option<u64>)> {
    let shown = path.display().to_string();
    let p = path.clone();
    let s = shown.clone();
    let (file, header, prefix) = blocking(move || {
        let (file, header, header_len, _) = local::open_sealed(&p)?;
        let prefix = local::body_prefix(&file, header_len, &s)?;
        Ok((file, header, prefix))
    })
    .await
    .map_err(|e| (e, None))?;
    // An object of the local store is bound to its name there: a swapped
    // object fails its check as it would fail `get`.
    let name = app
        .store()
        .ok()
        .and_then(|store| local::store_name(&store, &path));
    let data_key = open_key(
        app,
        &a.keys.all(),
        &header,
        &prefix,
        &shown,
        name.as_deref(),
    )
    .await
    .map_err(|e| (e, None))?;
    tokio::task::spawn_blocking(move || {
        pipeline::open_file(
            &file,
            io::sink(),
            &header,
            &data_key,
            &PipelineOptions::default(),
        )
        .map_err(|e| {
            let chunk = format_chunk(&e);
            (local::opening_error(&shown, e), chunk)
        })
    })
    .await
    .map_err(|e| {
        (
            CliError::new(Class::Internal, format!("a worker thread failed: {e}")),
            None,
        )
    })?
}

/// Authenticates an S3 object: a full download into nothing.
async fn check_s3(
    app: &App,
    a: &CheckArgs,
    s3c: &aws_sdk_s3::Client,
    sse: &SseKeys,
    bucket: &str,
    key: &str,
) -> Result<u64, (CliError, Option<u64>)> {
    let shown = format!("s3://{bucket}/{key}");
    let no_chunk = |e: CliError| (e, None);
    let admin = s3::admin_client_for(app, s3c.clone(), sse).map_err(no_chunk)?;
    let (header, _, _) = s3::read_header(&admin, bucket, key)
        .await
        .map_err(no_chunk)?;
    let keys = app.cfg.keys_for(&a.keys.all());
    let ring = keys::opening(&app.cfg, &keys.value, &header, &shown)
        .await
        .map_err(no_chunk)?;
    let client = s3::seal_client(app, s3c.clone(), ring, header.suite(), sse).map_err(no_chunk)?;
    let s3_failure = |e: sealstream_s3::Error| {
        let chunk = match &e {
            sealstream_s3::Error::ChunkAuthentication { index, .. } => Some(*index),
            _ => None,
        };
        (s3_error(&e), chunk)
    };
    let mut dl = client.download(bucket, key).await.map_err(s3_failure)?;
    let mut n = 0u64;
    while let Some(piece) = dl.next().await {
        n += piece.map_err(s3_failure)?.len() as u64;
    }
    Ok(n)
}

pub(crate) async fn run(app: &App, a: CheckArgs) -> Result<()> {
    let percent = a.sample.as_deref().map(parse_percent).transpose()?;
    let (store, prefix) = crate::store::store_and_prefix(app, a.prefix.as_deref())?;
    let listed = list_items(app, &a, &store, &prefix).await?;
    let total = listed.len();
    let items = match percent {
        Some(p) => sample(listed, p)?,
        None => listed,
    };
    // Each local check already opens on every core.
    let default_jobs = match store {
        Store::Local(_) => 2,
        Store::S3 { .. } => 8,
    };
    let jobs = a.jobs.unwrap_or(default_jobs);
    let (s3c, sse) = match &store {
        Store::S3 { .. } => (
            Some(s3::client(app).await),
            Some(s3::sse(&app.cfg.sse_for(&a.sse))?),
        ),
        Store::Local(_) => (None, None),
    };
    let bucket = match &store {
        Store::S3 { bucket, .. } => bucket.clone(),
        Store::Local(_) => String::new(),
    };
    let (a, s3c, sse, bucket) = (&a, s3c.as_ref(), sse.as_ref(), bucket.as_str());
    let results = futures_util::stream::iter(items)
        .map(|item| async move {
            let name = item.name().to_owned();
            let result = match item {
                Item::Local { path, .. } => check_local(app, a, path).await,
                Item::S3 { key, .. } => match (s3c, sse) {
                    (Some(c), Some(s)) => check_s3(app, a, c, s, bucket, &key).await,
                    _ => Err((CliError::new(Class::Internal, "no S3 client"), None)),
                },
            };
            Checked { name, result }
        })
        .buffered(jobs.max(1));
    tokio::pin!(results);
    let (mut ok, mut failed, mut worst): (usize, usize, Option<Class>) = (0, 0, None);
    while let Some(c) = results.next().await {
        crate::cancel::check().map_err(|e| crate::error::io_class("check", &e))?;
        match &c.result {
            Ok(n) => {
                ok += 1;
                if app.out.json {
                    app.out.result(
                        &json!({
                            "verb": "check",
                            "object": c.name,
                            "ok": true,
                            "plaintext_size": n,
                        }),
                        "",
                        false,
                    );
                }
            }
            Err((e, chunk)) => {
                failed += 1;
                if worst != Some(Class::Auth) {
                    worst = Some(e.class());
                }
                app.out.result(
                    &json!({
                        "verb": "check",
                        "object": c.name,
                        "ok": false,
                        "class": e.class().name(),
                        "exit_code": e.class().code(),
                        "chunk": chunk,
                        "error": e.message(),
                    }),
                    &format!("FAILED {}: {}", output::escape(&c.name), e.message()),
                    false,
                );
            }
        }
    }
    let checked = ok + failed;
    app.out.result(
        &json!({
            "verb": "check",
            "summary": true,
            "store": store.to_string(),
            "prefix": prefix,
            "listed": total,
            "checked": checked,
            "ok": ok,
            "failed": failed,
        }),
        &format!("checked {checked} of {total} objects: {ok} ok, {failed} failed"),
        false,
    );
    match worst {
        None => Ok(()),
        Some(class) => Err(CliError::new(
            class,
            format!("{failed} of {checked} checked objects failed"),
        )
        .hint("see the FAILED lines above; restore those objects from another copy")),
    }
}
