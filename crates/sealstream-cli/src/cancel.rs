//! Ctrl-C handling: one process-wide cancellation flag.
//!
//! `main` sets it when SIGINT arrives. Blocking copy loops check it between
//! reads and fail with `Interrupted`; async operations wait on
//! [`cancelled`] in a `select!` and then clean up (abort the multipart
//! upload, remove the temporary file) before returning.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();

/// Marks the process as cancelled and wakes every waiter.
pub(crate) fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// Whether Ctrl-C was pressed.
pub(crate) fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once cancelled; for blocking loops.
pub(crate) fn check() -> io::Result<()> {
    if is_cancelled() {
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "interrupted by Ctrl-C",
        ))
    } else {
        Ok(())
    }
}

/// Completes when the process is cancelled.
pub(crate) async fn cancelled() {
    loop {
        let notified = NOTIFY.notified();
        if is_cancelled() {
            return;
        }
        notified.await;
    }
}
