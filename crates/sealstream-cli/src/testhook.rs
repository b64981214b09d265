//! Test-only hooks. Each is read from an environment variable whose name
//! starts with `SEALSTREAM_TEST_` and makes the command stop for good at a
//! known point, so that a test can kill it there (SIGKILL) instead of
//! guessing with timers. Unset (always, outside tests), they cost one
//! cached environment lookup.

use std::sync::OnceLock;
use std::time::Duration;

fn env_u64(var: &str, cell: &'static OnceLock<Option<u64>>) -> Option<u64> {
    *cell.get_or_init(|| std::env::var(var).ok().and_then(|v| v.parse().ok()))
}

/// `SEALSTREAM_TEST_PAUSE_AFTER_PART=N`: once part N of a journaled S3
/// upload is stored and journaled, the thread recording it never returns.
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

/// `SEALSTREAM_TEST_PAUSE_AFTER_BYTES=N`: once a download into a file has
/// written at least N bytes (to its temporary file), it stops there.
pub(crate) async fn pause_after_bytes(written: u64) {
    static CELL: OnceLock<Option<u64>> = OnceLock::new();
    if env_u64("SEALSTREAM_TEST_PAUSE_AFTER_BYTES", &CELL).is_some_and(|n| written >= n) {
        eprintln!("sealstream: test hook: paused after {written} bytes");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}
