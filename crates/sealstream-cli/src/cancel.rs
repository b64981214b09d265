//! Ctrl-C, SIGTERM and SIGHUP handling: one process-wide cancellation
//! flag.
//!
//! `main` sets it when SIGINT, SIGTERM or SIGHUP arrives (each is handled
//! the same way; before issue 10 item 12 only SIGINT was, and SIGTERM left a
//! temporary file with plaintext behind). Blocking copy loops check it between
//! reads and fail with `Interrupted`; async operations wait on
//! [`cancelled`] in a `select!` and then clean up (abort the multipart
//! upload, remove the temporary file) before returning.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::sync::Notify;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();
static SIGNAL: AtomicU8 = AtomicU8::new(Signal::Interrupt as u8);

/// The signals that cancel the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C), number 2.
    Interrupt = 2,
    /// SIGHUP (the terminal went away), number 1.
    Hangup = 1,
    /// SIGTERM (`kill`, a service manager, a container stop), number 15.
    Terminate = 15,
}

impl Signal {
    /// How messages name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C (SIGINT)",
            Signal::Hangup => "SIGHUP",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// The handlers of the cancelling signals, installed once by `main`. A
/// handler that cannot be installed (no signal support) never fires.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers (inside the runtime).
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next cancelling signal.
    pub(crate) async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                () = recv(&mut self.term) => Signal::Terminate,
                () = recv(&mut self.hup) => Signal::Hangup,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// Cancels, remembering which signal did it (for the exit code).
pub(crate) fn cancel_by(signal: Signal) {
    SIGNAL.store(signal as u8, Ordering::SeqCst);
    cancel();
}

/// The exit code of an interrupted command: 128 plus the signal's number
/// (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
pub(crate) fn exit_code() -> u8 {
    128 + SIGNAL.load(Ordering::SeqCst)
}

/// Marks the process as cancelled and wakes every waiter.
pub(crate) fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// Whether Ctrl-C was pressed (or SIGTERM/SIGHUP arrived).
pub(crate) fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// The error of [`check`]. Not of kind `Interrupted`: `read_exact`,
/// `read_to_end` and the format crate's readers retry those, so a loop
/// reading a stdin that sends nothing never saw the cancellation (issue 15:
/// Ctrl-C took the whole cleanup grace).
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted by a signal (Ctrl-C, SIGTERM or SIGHUP)")
    }
}

impl std::error::Error for Cancelled {}

/// An error once cancelled; for blocking loops.
pub(crate) fn check() -> io::Result<()> {
    if is_cancelled() {
        Err(io::Error::other(Cancelled))
    } else {
        Ok(())
    }
}

/// Whether `e` reports the cancellation (from [`check`], or an
/// `Interrupted` error after a signal).
pub(crate) fn is_cancel_error(e: &io::Error) -> bool {
    is_cancelled()
        && (e.kind() == io::ErrorKind::Interrupted
            || e.get_ref().is_some_and(|inner| inner.is::<Cancelled>()))
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
