//! `rm`: remove objects from a store (local folder or S3), or with `-r`
//! everything under a prefix. Every argument is resolved before anything
//! is removed: one that names no object removes nothing. The removal
//! itself is [`StoreHandle::delete`] (S3: DeleteObjects, 1000 keys a
//! request), once per store named.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::app::App;
use crate::cli::RmArgs;
use crate::error::{Class, CliError, Result};
use crate::location::{Store, Target};
use crate::output;
use crate::s3::{self, s3_error};
use crate::store::{Entry, StoreHandle};

/// One object to remove: the store that holds it and its entry there.
struct Doomed {
    store: Store,
    entry: Entry,
}

impl Doomed {
    /// An object found by name rather than by listing: no size or time.
    fn named(store: Store, name: String, target: Target) -> Self {
        Doomed {
            store,
            entry: Entry {
                name,
                target,
                size: 0,
                plaintext_size: None,
                modified: None,
                etag: None,
            },
        }
    }

    fn shown(&self) -> String {
        match &self.entry.target {
            Target::Local(path) => path.display().to_string(),
            Target::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            Target::Link(_) => self.entry.name.clone(),
        }
    }
}

/// The name of `path` in the local store `root` (`/`-separated).
fn local_name(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
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
            // A `file://` object outside the store is removed as the only
            // object of its own folder (which is then never removed).
            let root = root.unwrap_or_else(|| {
                path.parent()
                    .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
            });
            match path.symlink_metadata() {
                Ok(m) if m.is_file() => Ok(Doomed::named(
                    Store::Local(root.clone()),
                    local_name(&path, &root),
                    Target::Local(path),
                )),
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
                Ok(_) => Ok(Doomed::named(
                    Store::S3 {
                        bucket: bucket.clone(),
                        prefix: String::new(),
                    },
                    key.clone(),
                    Target::S3 { bucket, key },
                )),
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
    let found: Vec<Doomed> = handle
        .list(&name_prefix)
        .await?
        .into_iter()
        .filter(|e| !matches!(e.target, Target::Link(_)))
        .map(|entry| Doomed {
            store: store.clone(),
            entry,
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
    // One StoreHandle::delete per store, in the order the stores were named;
    // an object named twice (`rm -r d/ d/x`) is removed once.
    let mut by_store: Vec<(Store, Vec<&Doomed>)> = Vec::new();
    for d in &doomed {
        match by_store.iter_mut().find(|(s, _)| *s == d.store) {
            Some((_, ds)) if ds.iter().any(|o| o.entry.name == d.entry.name) => {}
            Some((_, ds)) => ds.push(d),
            None => by_store.push((d.store.clone(), vec![d])),
        }
    }
    let mut failures = Vec::new();
    // A refusal by S3 is a service failure (exit 6); by the local file
    // system, an I/O one (exit 7).
    let mut class = Class::Io;
    for (store, ds) in by_store {
        let on_s3 = matches!(store, Store::S3 { .. });
        let handle = StoreHandle::new(app, store, &crate::cli::SseArgs::default()).await?;
        let entries: Vec<Entry> = ds.iter().map(|d| d.entry.clone()).collect();
        let (done, failed) = handle.delete(&entries).await?;
        for d in &ds {
            if done.contains(&d.entry.name) {
                report(d, true);
            }
        }
        for (name, why) in failed {
            let shown = ds
                .iter()
                .find(|d| d.entry.name == name)
                .map_or_else(|| name.clone(), |d| d.shown());
            let line = format!("{}: {}", output::escape(&shown), output::escape(&why));
            app.out.failure(
                &json!({
                    "verb": "rm",
                    "object": shown,
                    "removed": false,
                    "dry_run": false,
                    "error": why,
                }),
                &format!("not removed: {line}"),
            );
            failures.push(line);
            if on_s3 {
                class = Class::Service;
            }
        }
    }
    if let Some(first) = failures.first() {
        return Err(CliError::new(
            class,
            format!(
                "{} object(s) were not removed; first: {first}",
                failures.len()
            ),
        ));
    }
    Ok(())
}
