//! `rm`: remove objects from a store (local folder or S3), or with `-r`
//! everything under a prefix. Every argument is resolved before anything
//! is removed: one that names no object removes nothing.

use std::path::PathBuf;

use serde_json::json;

use crate::app::{App, blocking};
use crate::cli::RmArgs;
use crate::error::{Class, CliError, Result};
use crate::location::{Store, Target};
use crate::output;
use crate::s3::{self, s3_error};
use crate::store::StoreHandle;

/// One object to remove.
enum Doomed {
    Local {
        path: PathBuf,
        root: Option<PathBuf>,
    },
    S3 {
        bucket: String,
        key: String,
    },
}

impl Doomed {
    fn shown(&self) -> String {
        match self {
            Doomed::Local { path, .. } => path.display().to_string(),
            Doomed::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

fn not_found(what: &str) -> CliError {
    CliError::new(Class::NotFound, format!("{what}: no such object"))
        .hint("check the name with `sealstream ls`; nothing was removed")
}

/// Resolves `NAME` (no `-r`) to the one object it names.
async fn resolve_one(app: &App, store: &Store, s: &str) -> Result<Doomed> {
    if s.ends_with('/') {
        return Err(
            CliError::usage(format!("{s} names a prefix; nothing was removed")).hint(format!(
                "sealstream rm -r {} removes every object under it",
                output::shell_quote(s)
            )),
        );
    }
    match Target::parse(s, store, false)? {
        Target::Local(path) => {
            let root = match store {
                Store::Local(r) if path.starts_with(r) => Some(r.clone()),
                _ if s.starts_with("file://") => None,
                _ => {
                    return Err(CliError::usage(format!(
                        "{s} is a local path outside the store; rm removes store objects"
                    ))
                    .hint("give the object's name in the store (see `sealstream ls`)"));
                }
            };
            match path.symlink_metadata() {
                Ok(m) if m.is_file() => Ok(Doomed::Local { path, root }),
                Ok(m) if m.is_dir() => Err(CliError::new(
                    Class::NotFound,
                    format!("{}: is a folder of objects, not an object", path.display()),
                )
                .hint(format!(
                    "sealstream rm -r {}/ removes every object under it",
                    output::shell_quote(s.trim_end_matches('/'))
                ))),
                Ok(_) => Err(CliError::new(
                    Class::NotFound,
                    format!("{}: not a regular file, so not an object", path.display()),
                )),
                Err(_) => Err(not_found(&path.display().to_string())),
            }
        }
        Target::S3 { bucket, key } => {
            match s3::admin_client(app).await?.stat(&bucket, &key).await {
                Ok(_) => Ok(Doomed::S3 { bucket, key }),
                Err(sealstream_s3::Error::NotFound { .. }) => {
                    Err(not_found(&format!("s3://{bucket}/{key}")))
                }
                Err(e) => Err(s3_error(&e)),
            }
        }
        Target::Link(_) => Err(CliError::usage("rm cannot remove a URL")),
    }
}

/// Resolves `-r PREFIX` to every object under `PREFIX/` (a prefix not
/// ending in `/` means the folder of that name, never `PREFIXother`).
async fn resolve_tree(app: &App, store: &Store, s: &str) -> Result<Vec<Doomed>> {
    let (store, name_prefix) = if s.starts_with("s3://") || s.starts_with("file://") {
        (Store::parse(s)?, String::new())
    } else {
        let p = if s.is_empty() || s.ends_with('/') {
            s.to_owned()
        } else {
            format!("{s}/")
        };
        (store.clone(), p)
    };
    if matches!(&store, Store::Local(root) if !root.is_dir()) {
        return Err(not_found(&store.to_string()));
    }
    let handle = StoreHandle::new(app, store.clone(), &crate::cli::SseArgs::default()).await?;
    let root = match &store {
        Store::Local(r) => Some(r.clone()),
        Store::S3 { .. } => None,
    };
    let found: Vec<Doomed> = handle
        .list(&name_prefix)
        .await?
        .into_iter()
        .filter_map(|e| match e.target {
            Target::Local(path) => Some(Doomed::Local {
                path,
                root: root.clone(),
            }),
            Target::S3 { bucket, key } => Some(Doomed::S3 { bucket, key }),
            Target::Link(_) => None,
        })
        .collect();
    if found.is_empty() {
        return Err(CliError::new(
            Class::NotFound,
            format!("{s}: no objects under this prefix"),
        )
        .hint("check the prefix with `sealstream ls`; nothing was removed"));
    }
    Ok(found)
}

pub(crate) async fn run(app: &App, a: RmArgs) -> Result<()> {
    let store = app.store()?;
    let mut doomed = Vec::new();
    for s in &a.names {
        if a.recursive {
            doomed.extend(resolve_tree(app, &store, s).await?);
        } else {
            doomed.push(resolve_one(app, &store, s).await?);
        }
    }
    let report = |d: &Doomed, removed: bool| {
        let shown = d.shown();
        let verb = if a.dry_run { "would remove" } else { "removed" };
        app.out.result(
            &json!({
                "verb": "rm",
                "object": shown,
                "removed": removed,
                "dry_run": a.dry_run,
            }),
            &format!("{verb} {}", output::escape(&shown)),
            false,
        );
    };
    if a.dry_run {
        for d in &doomed {
            report(d, false);
        }
        return Ok(());
    }
    // S3 objects go in DeleteObjects batches per bucket; local ones one by one.
    let mut by_bucket: Vec<(String, Vec<String>)> = Vec::new();
    for d in &doomed {
        match d {
            Doomed::Local { path, root } => {
                let (p, r) = (path.clone(), root.clone());
                blocking(move || crate::store::remove_local(&p, r.as_deref())).await?;
                report(d, true);
            }
            Doomed::S3 { bucket, key } => match by_bucket.iter_mut().find(|(b, _)| b == bucket) {
                Some((_, keys)) => keys.push(key.clone()),
                None => by_bucket.push((bucket.clone(), vec![key.clone()])),
            },
        }
    }
    if by_bucket.is_empty() {
        return Ok(());
    }
    let client = s3::admin_client(app).await?;
    let mut failures = Vec::new();
    for (bucket, keys) in by_bucket {
        let outcome = client
            .delete_many(&bucket, &keys)
            .await
            .map_err(|e| s3_error(&e))?;
        for key in outcome.deleted {
            report(
                &Doomed::S3 {
                    bucket: bucket.clone(),
                    key,
                },
                true,
            );
        }
        for (key, why) in outcome.failed {
            failures.push(format!("s3://{bucket}/{key}: {why}"));
        }
    }
    if let Some(first) = failures.first() {
        return Err(CliError::new(
            Class::Service,
            format!(
                "{} object(s) were not removed; first: {first}",
                failures.len()
            ),
        ));
    }
    Ok(())
}
