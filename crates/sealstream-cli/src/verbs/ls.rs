//! `ls` and `ls -l`: a store's objects with their plaintext sizes, stored
//! times, suites and key ids, read without any key, through the one
//! [`StoreHandle`] listing both store kinds share.

use futures_util::StreamExt;
use serde_json::{Value, json};

use sealstream_format::Header;

use super::{context_json, keys_human, records_json};
use crate::app::App;
use crate::cli::{LsArgs, LsSort};
use crate::error::{Class, CliError, Result};
use crate::location::Store;
use crate::output;
use crate::store::{self, Entry, StoreHandle};
use crate::util::{self, human_size};

/// Header reads in flight at once: a local store reads from one disk, an S3
/// store waits on the network.
fn header_jobs(store: &Store) -> usize {
    match store {
        Store::Local(_) => 4,
        Store::S3 { .. } => 16,
    }
}

/// A key id short enough for a column: the first 8 characters of a local
/// or X25519 key id, or of the last part of a KMS key ARN (its key id or
/// alias name).
fn short_key_id(provider: &str, key_id: &str) -> String {
    let tail = if provider == "aws-kms" {
        key_id.rsplit(['/', ':']).next().unwrap_or(key_id)
    } else {
        key_id
    };
    tail.chars().take(8).collect()
}

/// `local:3f2a9c1d,aws-kms:1234abcd`, escaped for a terminal.
fn short_keys(header: &Header) -> String {
    header
        .records()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                output::escape(r.provider()),
                output::escape(&short_key_id(r.provider(), r.key_id()))
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `2026-12-03 08:40` (UTC) for the long listing.
pub(crate) fn human_time(epoch: Option<i64>) -> String {
    match epoch {
        Some(t) => {
            let iso = util::iso8601(t);
            // `2026-12-03T08:40:00Z` -> `2026-12-03 08:40`
            iso.get(..16)
                .map_or_else(|| iso.clone(), |s| s.replacen('T', " ", 1))
        }
        None => "-".to_owned(),
    }
}

/// Orders entries for `--sort`: names A to Z, sizes largest first, times
/// newest first (as `ls -S` and `ls -t` do); `--reverse` flips the order.
/// Ties go by name.
fn sort(entries: &mut [Entry], by: LsSort, reverse: bool) {
    match by {
        LsSort::Name => entries.sort_by(|a, b| a.name.cmp(&b.name)),
        LsSort::Size => entries.sort_by(|a, b| {
            b.plaintext_size
                .cmp(&a.plaintext_size)
                .then_with(|| a.name.cmp(&b.name))
        }),
        LsSort::Time => entries.sort_by(|a, b| {
            b.modified
                .cmp(&a.modified)
                .then_with(|| a.name.cmp(&b.name))
        }),
    }
    if reverse {
        entries.reverse();
    }
}

/// One listed object as JSON (docs/JSON.md, `ls`).
fn entry_json(e: &Entry, store: &Store, header: Option<&Header>, error: Option<&str>) -> Value {
    json!({
        "verb": "ls",
        "name": e.name,
        "store": store.to_string(),
        "size": e.size,
        "plaintext_size": e.plaintext_size,
        "modified_at": e.modified.map(util::iso8601),
        "modified_at_epoch": e.modified,
        "suite": header.map(|h| h.suite().name()),
        "context": header.map(context_json),
        "keys": header.map(records_json),
        "error": error,
    })
}

/// What is wrong with a listed object, if anything: its header did not
/// read, or its stored size fits no valid object.
fn problem(e: &Entry, header: &Result<Header>) -> Option<(String, Class)> {
    match header {
        Err(err) => Some((err.message().to_owned(), err.class())),
        Ok(_) if e.plaintext_size.is_none() => Some((
            "its stored size fits no valid sealstream object (truncated or extended)".to_owned(),
            Class::Auth,
        )),
        Ok(_) => None,
    }
}

/// The text line of one object.
fn line(e: &Entry, header: Option<&Header>, problem: Option<&str>, long: bool) -> String {
    let name = output::escape(&e.name);
    let size = match (e.plaintext_size, header) {
        (Some(n), Some(_)) => human_size(n),
        (None, Some(_)) => "invalid".to_owned(),
        (_, None) => "?".to_owned(),
    };
    let suite = header.map_or("-", |h| h.suite().name());
    let tail = problem.map_or_else(String::new, |p| format!("  ({p})"));
    if long {
        let keys = match (header, problem) {
            (Some(h), None) => short_keys(h),
            _ => "-".to_owned(),
        };
        format!(
            "{size:>10}  {:<16}  {suite:<18}  {keys:<24}  {name}{tail}",
            human_time(e.modified)
        )
    } else {
        let keys = match (header, problem) {
            (Some(h), None) => keys_human(h),
            _ => "-".to_owned(),
        };
        format!("{size:>10}  {suite:<18}  {keys:<30}  {name}{tail}")
    }
}

pub(crate) async fn run(app: &App, a: LsArgs) -> Result<()> {
    let (store, prefix) = store::store_and_prefix(app, a.prefix.as_deref())?;
    if let Store::Local(root) = &store {
        let is_default = a.prefix.as_deref().is_none_or(|p| !p.contains("://"))
            && app.cfg.store.source == crate::config::Source::Default;
        if is_default && !root.exists() {
            app.out.note(&format!(
                "sealstream: the default store {} is empty (`sealstream put FILE` creates it)",
                root.display()
            ));
            return Ok(());
        }
    }
    let handle = StoreHandle::new(app, store.clone(), &a.sse).await?;
    let mut entries = handle.list(&prefix).await?;
    sort(&mut entries, a.sort, a.reverse);
    let count = entries.len();

    if a.long && !app.out.json {
        app.out.result(
            &Value::Null,
            &format!(
                "{:>10}  {:<16}  {:<18}  {:<24}  NAME",
                "SIZE", "STORED (UTC)", "SUITE", "KEYS"
            ),
            false,
        );
    }
    let handle = &handle;
    let mut listed = futures_util::stream::iter(entries)
        .map(|e| async move {
            let header = handle.read_header(&e).await;
            (e, header)
        })
        .buffered(header_jobs(&store));
    let (mut plain_total, mut stored_total) = (0u64, 0u64);
    let mut bad: Vec<(String, String, Class)> = Vec::new();
    while let Some((e, header)) = listed.next().await {
        let why = problem(&e, &header);
        let h = header.as_ref().ok();
        let (why, class) = match why {
            Some((w, c)) => (Some(w), Some(c)),
            None => (None, None),
        };
        stored_total = stored_total.saturating_add(e.size);
        plain_total = plain_total.saturating_add(e.plaintext_size.unwrap_or(0));
        app.out.result(
            &entry_json(&e, &store, h, why.as_deref()),
            &line(&e, h, why.as_deref(), a.long),
            false,
        );
        if let (Some(why), Some(class)) = (why, class) {
            bad.push((e.name, why, class));
        }
    }
    if a.long {
        let invalid = bad.len();
        app.out.result(
            &json!({
                "verb": "ls",
                "summary": true,
                "store": store.to_string(),
                "prefix": prefix,
                "objects": count,
                "plaintext_bytes": plain_total,
                "stored_bytes": stored_total,
                "invalid": invalid,
            }),
            &format!(
                "total: {count} objects, {} plaintext ({plain_total} bytes), {} stored{}",
                human_size(plain_total),
                human_size(stored_total),
                if invalid > 0 {
                    format!(", {invalid} unreadable or invalid")
                } else {
                    String::new()
                }
            ),
            false,
        );
    }
    match bad.first() {
        None => Ok(()),
        Some((name, why, class)) => Err(CliError::new(
            *class,
            format!(
                "{} of {count} listed objects are unreadable or invalid; first: {}: {why}",
                bad.len(),
                output::escape(name),
            ),
        )
        .hint("`sealstream inspect NAME` shows one in detail, `sealstream check` tests them all")),
    }
}
