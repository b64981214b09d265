//! `prune PREFIX/ --older-than DURATION [--keep-last N]`: removes dated
//! backups. A backup is each entry directly under the prefix: one object,
//! or a folder of objects (a tree stored with `put -r`). Its time is the
//! stored time of its newest object; the `--keep-last` newest backups stay
//! whatever their age. Listing and deleting go through the one
//! [`StoreHandle`] both store kinds share.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::ls::human_time;
use crate::app::App;
use crate::cli::PruneArgs;
use crate::error::{Class, CliError, Result};
use crate::location::Store;
use crate::output;
use crate::store::{Entry, StoreHandle};
use crate::util::{self, human_size};

/// One dated backup: an object, or a folder of objects.
struct Backup {
    /// Its name: the object's name, or the folder's with a trailing `/`.
    name: String,
    /// Its objects.
    entries: Vec<Entry>,
    /// The newest stored time of its objects (`None` if any is unknown:
    /// such a backup is never removed).
    newest: Option<i64>,
}

impl Backup {
    fn plaintext_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.plaintext_size.unwrap_or(0))
            .fold(0, u64::saturating_add)
    }
}

/// Groups the objects under `prefix` into backups (entries directly under it).
fn group(prefix: &str, entries: Vec<Entry>) -> Vec<Backup> {
    let mut groups: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        let rest = e.name.get(prefix.len()..).unwrap_or_default();
        let name = match rest.find('/') {
            Some(i) => format!("{prefix}{}", rest.get(..=i).unwrap_or(rest)),
            None => e.name.clone(),
        };
        groups.entry(name).or_default().push(e);
    }
    groups
        .into_iter()
        .map(|(name, entries)| {
            let newest = entries
                .iter()
                .map(|e| e.modified)
                .collect::<Option<Vec<i64>>>()
                .and_then(|t| t.into_iter().max());
            Backup {
                name,
                entries,
                newest,
            }
        })
        .collect()
}

/// What happens to a backup, and why.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// One of the `--keep-last` newest.
    KeptNewest,
    /// Not older than `--older-than`.
    KeptYoung,
    /// Its stored time is unknown.
    KeptUnknown,
    /// Older than `--older-than` and not among the newest.
    Removed,
}

impl Fate {
    fn reason(self) -> &'static str {
        match self {
            Fate::KeptNewest => "among the --keep-last newest",
            Fate::KeptYoung => "younger than --older-than",
            Fate::KeptUnknown => "stored time unknown",
            Fate::Removed => "older than --older-than",
        }
    }
}

/// Decides each backup's fate: newest first, the first `keep_last` kept,
/// of the rest those stored before `cutoff` removed.
fn decide(backups: &mut [Backup], keep_last: usize, cutoff: i64) -> Vec<Fate> {
    // Newest first; unknown times count as newest (they are kept anyway).
    backups.sort_by(|a, b| {
        let key = |x: &Backup| x.newest.unwrap_or(i64::MAX);
        key(b).cmp(&key(a)).then_with(|| a.name.cmp(&b.name))
    });
    backups
        .iter()
        .enumerate()
        .map(|(i, b)| match b.newest {
            None => Fate::KeptUnknown,
            Some(_) if i < keep_last => Fate::KeptNewest,
            Some(t) if t < cutoff => Fate::Removed,
            Some(_) => Fate::KeptYoung,
        })
        .collect()
}

pub(crate) async fn run(app: &App, a: PruneArgs) -> Result<()> {
    let older_than = util::parse_duration(&a.older_than)?;
    let (store, prefix) = if a.prefix.starts_with("s3://") || a.prefix.starts_with("file://") {
        (Store::parse(&a.prefix)?, String::new())
    } else if a.prefix.is_empty() {
        return Err(CliError::usage(
            "prune needs the prefix that holds the dated backups (`nightly/`)",
        ));
    } else if a.prefix.ends_with('/') {
        (app.store()?, a.prefix.clone())
    } else {
        (app.store()?, format!("{}/", a.prefix))
    };
    let handle = StoreHandle::new(app, store.clone(), &crate::cli::SseArgs::default()).await?;
    let entries = handle.list(&prefix).await?;
    if entries.is_empty() {
        return Err(CliError::new(
            Class::NotFound,
            format!(
                "{}: no backups under this prefix in {store}",
                output::escape(&a.prefix)
            ),
        )
        .hint("check the prefix with `sealstream ls`; nothing was removed"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cutoff = i64::try_from(now.saturating_sub(older_than.as_secs())).unwrap_or(i64::MAX);
    let mut backups = group(&prefix, entries);
    let fates = decide(&mut backups, a.keep_last, cutoff);

    let doomed: Vec<Entry> = backups
        .iter()
        .zip(&fates)
        .filter(|(_, f)| **f == Fate::Removed)
        .flat_map(|(b, _)| b.entries.iter().cloned())
        .collect();
    let (failed_names, failures) = if a.dry_run || doomed.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let (_, failed) = handle.delete(&doomed).await?;
        (
            failed.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            failed,
        )
    };

    let (mut removed, mut removed_objects, mut removed_bytes, mut kept) = (0usize, 0, 0u64, 0);
    for (b, fate) in backups.iter().zip(&fates) {
        let incomplete = b.entries.iter().any(|e| failed_names.contains(&e.name));
        let action = match (fate, a.dry_run, incomplete) {
            (Fate::Removed, true, _) => "would_remove",
            (Fate::Removed, false, false) => "removed",
            (Fate::Removed, false, true) => "failed",
            _ => "kept",
        };
        if *fate == Fate::Removed && !incomplete {
            removed += 1;
            removed_objects += b.entries.len();
            removed_bytes = removed_bytes.saturating_add(b.plaintext_bytes());
        } else if *fate != Fate::Removed {
            kept += 1;
        }
        let human = if *fate == Fate::Removed {
            format!(
                "{:<12}  {}  ({} objects, {}, stored {} UTC)",
                action.replace('_', " "),
                output::escape(&b.name),
                b.entries.len(),
                human_size(b.plaintext_bytes()),
                human_time(b.newest)
            )
        } else {
            String::new()
        };
        app.out.result(
            &json!({
                "verb": "prune",
                "backup": b.name,
                "objects": b.entries.len(),
                "plaintext_bytes": b.plaintext_bytes(),
                "modified_at": b.newest.map(util::iso8601),
                "modified_at_epoch": b.newest,
                "action": action,
                "reason": fate.reason(),
                "dry_run": a.dry_run,
            }),
            &human,
            false,
        );
    }
    for (name, why) in &failures {
        app.out.failure(
            &json!({"verb": "prune", "object": name, "error": why}),
            &format!("sealstream: {}: not removed: {why}", output::escape(name)),
        );
    }
    let newest_kept = backups
        .iter()
        .zip(&fates)
        .find(|(_, f)| **f != Fate::Removed)
        .map(|(b, _)| b);
    app.out.result(
        &json!({
            "verb": "prune",
            "summary": true,
            "store": store.to_string(),
            "prefix": prefix,
            "backups": backups.len(),
            "removed": removed,
            "removed_objects": removed_objects,
            "removed_plaintext_bytes": removed_bytes,
            "kept": kept,
            "failed_objects": failures.len(),
            "dry_run": a.dry_run,
        }),
        &format!(
            "prune: {} {removed} of {} backups ({removed_objects} objects, {}); kept {kept}{}",
            if a.dry_run { "would remove" } else { "removed" },
            backups.len(),
            human_size(removed_bytes),
            newest_kept.map_or_else(String::new, |b| format!(
                " (newest: {}, stored {} UTC)",
                output::escape(&b.name),
                human_time(b.newest)
            )),
        ),
        false,
    );
    if let Some((name, why)) = failures.first() {
        return Err(CliError::new(
            Class::Service,
            format!(
                "{} object(s) were not removed; first: {}: {why}",
                failures.len(),
                output::escape(name)
            ),
        )
        .hint("run prune again; what was removed stays removed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::location::Target;

    fn entry(name: &str, t: Option<i64>) -> Entry {
        Entry {
            name: name.to_owned(),
            target: Target::Local(name.into()),
            size: 4096 + 32,
            plaintext_size: Some(0),
            modified: t,
            etag: None,
        }
    }

    fn fates(entries: Vec<Entry>, keep: usize, cutoff: i64) -> Vec<(String, usize, &'static str)> {
        let mut b = group("n/", entries);
        let f = decide(&mut b, keep, cutoff);
        b.iter()
            .zip(f)
            .map(|(b, f)| (b.name.clone(), b.entries.len(), f.reason()))
            .collect()
    }

    #[test]
    fn folders_and_objects_are_backups_dated_by_their_newest_object() {
        let got = fates(
            vec![
                entry("n/2026-01-01/a", Some(100)),
                entry("n/2026-01-01/sub/b", Some(150)),
                entry("n/2026-01-02.tar", Some(200)),
                entry("n/2026-01-03/a", Some(300)),
                entry("n/2026-01-04/a", Some(50)),
                entry("n/2026-01-04/b", Some(400)),
            ],
            1,
            250,
        );
        assert_eq!(
            got,
            vec![
                (
                    "n/2026-01-04/".to_owned(),
                    2,
                    "among the --keep-last newest"
                ),
                ("n/2026-01-03/".to_owned(), 1, "younger than --older-than"),
                ("n/2026-01-02.tar".to_owned(), 1, "older than --older-than"),
                ("n/2026-01-01/".to_owned(), 2, "older than --older-than"),
            ]
        );
    }

    #[test]
    fn keep_last_protects_old_backups_and_unknown_times_are_kept() {
        let got = fates(
            vec![
                entry("n/a", Some(10)),
                entry("n/b", Some(20)),
                entry("n/c", Some(30)),
                entry("n/d/x", None),
            ],
            2,
            1_000,
        );
        let reasons: Vec<_> = got.iter().map(|(n, _, r)| (n.as_str(), *r)).collect();
        assert_eq!(
            reasons,
            vec![
                ("n/d/", "stored time unknown"),
                ("n/c", "among the --keep-last newest"),
                ("n/b", "older than --older-than"),
                ("n/a", "older than --older-than"),
            ]
        );
    }
}
