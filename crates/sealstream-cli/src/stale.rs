//! Removing temporary outputs that a killed process left behind.
//!
//! An output `NAME` is written as `.NAME.XXXXXX.sealstream-tmp` in its
//! folder (crate::local::AtomicOutput). Ctrl-C and errors remove it, but a
//! process killed with SIGKILL (or a machine that lost power) cannot. The
//! next write of the same `NAME` removes such files once they have not been
//! modified for [`STALE_AFTER`]: a live writer touches its file far more
//! often than that.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::local::TEMP_SUFFIX;

/// How long a temporary output must be untouched to count as abandoned.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Whether `file_name` is a temporary output of `name`: `.NAME.` then the
/// six random letters or digits of the temporary file, then the suffix.
pub(crate) fn is_temp_of(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|mid| mid.len() == 6 && mid.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Removes the abandoned temporary outputs of `name` in `dir`; returns how
/// many. Best effort: a folder or file that cannot be read is skipped.
pub(crate) fn sweep(dir: &Path, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !is_temp_of(&file_name.to_string_lossy(), name) {
            continue;
        }
        let old = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_temp_files_of_that_name() {
        assert!(is_temp_of(".a.b.Xy12z9.sealstream-tmp", "a.b"));
        assert!(!is_temp_of(".a.b.Xy12z9.sealstream-tmp", "a"));
        assert!(!is_temp_of(".a.Xy12z9.sealstream-tmp", "a.b"));
        assert!(!is_temp_of("a.Xy12z9.sealstream-tmp", "a"));
        assert!(!is_temp_of(".a.Xy12z.sealstream-tmp", "a"));
    }

    #[test]
    fn sweeps_old_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".f.AAAAAA.sealstream-tmp");
        let new = dir.path().join(".f.BBBBBB.sealstream-tmp");
        let other = dir.path().join(".g.CCCCCC.sealstream-tmp");
        for p in [&old, &new, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        let two_days = SystemTime::now() - Duration::from_secs(48 * 3600);
        for p in [&old, &other] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_days)
                .unwrap();
        }
        assert_eq!(sweep(dir.path(), "f"), 1);
        assert!(!old.exists() && new.exists() && other.exists());
    }
}
