//! Test-only hooks, compiled only with the `test-hooks` cargo feature
//! (scripts/test enables it for the CLI tests; release builds never have
//! it, issue 10 item 18). Each is read from an environment variable whose
//! name starts with `SEALSTREAM_TEST_` and makes the command stop for good
//! at a known point, so that a test can kill or signal it there instead of
//! guessing with timers. Without the feature the hooks are empty functions
//! and the variables mean nothing.

#[cfg(feature = "test-hooks")]
use std::sync::OnceLock;
#[cfg(feature = "test-hooks")]
use std::time::Duration;

/// The hook's number from its variable's value, if the hooks are built in.
#[cfg(any(test, feature = "test-hooks"))]
fn armed(value: Option<&str>) -> Option<u64> {
    if cfg!(feature = "test-hooks") {
        value.and_then(|v| v.parse().ok())
    } else {
        None
    }
}

#[cfg(feature = "test-hooks")]
fn env_u64(var: &str, cell: &'static OnceLock<Option<u64>>) -> Option<u64> {
    *cell.get_or_init(|| armed(std::env::var(var).ok().as_deref()))
}

/// `SEALSTREAM_TEST_PAUSE_AFTER_PART=N`: once part N of a journaled S3
/// upload is stored and journaled, the thread recording it never returns.
#[cfg(feature = "test-hooks")]
pub(crate) fn pause_after_part(number: i32) {
    static CELL: OnceLock<Option<u64>> = OnceLock::new();
    if env_u64("SEALSTREAM_TEST_PAUSE_AFTER_PART", &CELL)
        .is_some_and(|n| u64::try_from(number).ok() == Some(n))
    {
        eprintln!("sealstream: test hook: paused after part {number}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Without the `test-hooks` feature: nothing.
#[cfg(not(feature = "test-hooks"))]
pub(crate) fn pause_after_part(_number: i32) {}

/// `SEALSTREAM_TEST_PAUSE_AFTER_BYTES=N`: once a download into a file has
/// written at least N bytes (to its temporary file), it stops there.
#[cfg(feature = "test-hooks")]
pub(crate) async fn pause_after_bytes(written: u64) {
    static CELL: OnceLock<Option<u64>> = OnceLock::new();
    if env_u64("SEALSTREAM_TEST_PAUSE_AFTER_BYTES", &CELL).is_some_and(|n| written >= n) {
        eprintln!("sealstream: test hook: paused after {written} bytes");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

/// Without the `test-hooks` feature: nothing.
#[cfg(not(feature = "test-hooks"))]
pub(crate) async fn pause_after_bytes(_written: u64) {}

/// `SEALSTREAM_TEST_PAUSE_TREE_LOCKED=1`: once `put -r` holds its prefix
/// lock, it stops there.
#[cfg(feature = "test-hooks")]
pub(crate) fn pause_tree_locked() {
    static CELL: OnceLock<Option<u64>> = OnceLock::new();
    if env_u64("SEALSTREAM_TEST_PAUSE_TREE_LOCKED", &CELL) == Some(1) {
        eprintln!("sealstream: test hook: paused holding the tree lock");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Without the `test-hooks` feature: nothing.
#[cfg(not(feature = "test-hooks"))]
pub(crate) fn pause_tree_locked() {}

#[cfg(test)]
mod tests {
    use super::armed;

    #[cfg(not(feature = "test-hooks"))]
    #[test]
    fn without_the_feature_no_hook_can_be_armed() {
        assert_eq!(armed(Some("1")), None);
        assert_eq!(armed(Some("1048576")), None);
    }

    #[cfg(feature = "test-hooks")]
    #[test]
    fn with_the_feature_hooks_are_armed_by_their_variable() {
        assert_eq!(armed(Some("3")), Some(3));
        assert_eq!(armed(Some("x")), None);
        assert_eq!(armed(None), None);
    }
}
