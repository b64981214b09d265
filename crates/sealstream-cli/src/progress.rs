//! The progress bar (bytes, rate, ETA) on stderr, and `Read`/`Write`
//! wrappers that advance it and stop at Ctrl-C.

use std::io::{self, IsTerminal, Read, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::cancel;
use crate::config::ProgressMode;

/// A progress bar, hidden unless the mode and the terminal call for one.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    /// Plain lines (`--progress` off a terminal): no bar, no spinner.
    plain: bool,
    /// Drawn on a terminal.
    on_terminal: bool,
}

impl Progress {
    /// A bar labelled `label` for `total` bytes (unknown: the byte count and
    /// rate, with a spinner on a terminal).
    pub(crate) fn new(mode: ProgressMode, total: Option<u64>, label: &str) -> Self {
        let tty = io::stderr().is_terminal();
        let (target, plain, on_terminal) = match mode {
            ProgressMode::Never => (ProgressDrawTarget::hidden(), false, false),
            ProgressMode::Auto if !tty => (ProgressDrawTarget::hidden(), false, false),
            ProgressMode::Auto | ProgressMode::Always if tty => {
                (ProgressDrawTarget::stderr(), false, true)
            }
            // Not a terminal, but asked for: a plain line every few seconds.
            ProgressMode::Auto | ProgressMode::Always => (
                ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines::default()), 1),
                true,
                false,
            ),
        };
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), target),
            None => ProgressBar::with_draw_target(None, target),
        };
        set_style(&bar, total.is_some(), plain);
        bar.set_message(label.to_owned());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(if plain { 1000 } else { 200 }));
        }
        Progress {
            bar,
            plain,
            on_terminal,
        }
    }

    /// Clears the bar for good before plaintext goes to stdout, when stdout
    /// is the terminal the bar is drawn on (the two would mix on screen).
    pub(crate) fn before_stdout(&self) {
        if self.on_terminal && io::stdout().is_terminal() {
            self.bar.finish_and_clear();
            self.bar.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    /// Sets the total once it is known.
    pub(crate) fn set_total(&self, n: u64) {
        self.bar.disable_steady_tick();
        set_style(&self.bar, true, self.plain);
        self.bar.set_length(n);
    }

    /// Replaces the label (a tree run's "files done/total").
    pub(crate) fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Removes the bar; plain lines end with one at 100%.
    pub(crate) fn finish(&self) {
        if self.plain && !self.bar.is_finished() {
            let done = self.bar.position();
            self.bar.set_length(done);
            set_style(&self.bar, true, true);
            self.bar.disable_steady_tick();
            self.bar.set_draw_target(ProgressDrawTarget::hidden());
            let line = format!(
                "{} {}/{} (100%)",
                self.bar.message(),
                indicatif::BinaryBytes(done),
                indicatif::BinaryBytes(done)
            );
            let _ = writeln!(io::stderr().lock(), "{line}");
            self.bar.finish();
            return;
        }
        self.bar.finish_and_clear();
    }

    /// Wraps a reader: counts bytes and fails with `Interrupted` at Ctrl-C.
    pub(crate) fn reader<R>(&self, inner: R) -> ProgressRead<R> {
        ProgressRead {
            inner,
            bar: self.bar.clone(),
        }
    }

    /// Wraps an async reader: counts bytes and fails with `Interrupted` at
    /// Ctrl-C.
    pub(crate) fn async_reader<R>(&self, inner: R) -> ProgressRead<R> {
        self.reader(inner)
    }

    /// Advances by `n` bytes.
    pub(crate) fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Wraps a writer: counts bytes and fails with `Interrupted` at Ctrl-C.
    pub(crate) fn writer<W>(&self, inner: W) -> ProgressWrite<W> {
        ProgressWrite {
            inner,
            bar: self.bar.clone(),
        }
    }

    /// Wraps a writer: fails with `Interrupted` at Ctrl-C, counts nothing
    /// (the reader counts).
    pub(crate) fn uncounted_writer<W>(&self, inner: W) -> ProgressWrite<W> {
        ProgressWrite {
            inner,
            bar: ProgressBar::hidden(),
        }
    }
}

/// Stdin as a reader that a Ctrl-C interrupts even while no byte comes:
/// a thread of its own does the blocking reads (it may stay blocked; the
/// process exits without it), this side waits for its chunks at most
/// 100 ms at a time and checks for cancellation in between. Without it a
/// stdin held open (a FIFO, a terminal, `cat | sealstream`) kept the
/// command in `read` until the cleanup grace ran out.
pub(crate) fn stdin() -> CancellableStdin {
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut input = io::stdin().lock();
            loop {
                let mut buf = vec![0u8; 256 << 10];
                match input.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
    CancellableStdin {
        rx: spawned.ok().map(|_| rx),
        chunk: Vec::new(),
        at: 0,
    }
}

/// See [`stdin`].
pub(crate) struct CancellableStdin {
    /// `None` if the thread could not start: then stdin is read here.
    rx: Option<std::sync::mpsc::Receiver<io::Result<Vec<u8>>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for CancellableStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::sync::mpsc::RecvTimeoutError;
        let Some(rx) = &self.rx else {
            cancel::check()?;
            return io::stdin().read(buf);
        };
        while self.at == self.chunk.len() {
            cancel::check()?;
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let rest = self.chunk.get(self.at..).unwrap_or_default();
        let n = buf.len().min(rest.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }
}

/// A bar with total, rate and ETA, or a spinner with the count and rate;
/// plain lines have neither bar nor spinner.
fn set_style(bar: &ProgressBar, with_total: bool, plain: bool) {
    let template = match (with_total, plain) {
        (true, false) => {
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}"
        }
        (false, false) => "{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}",
        (true, true) => {
            "{msg} {binary_bytes}/{binary_total_bytes} ({percent}%) {binary_bytes_per_sec} ETA {eta}"
        }
        (false, true) => "{msg} {binary_bytes} {binary_bytes_per_sec}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
}

/// A reader that advances a progress bar.
pub(crate) struct ProgressRead<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for ProgressRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        cancel::check()?;
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for ProgressRead<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if let Err(e) = cancel::check() {
            return std::task::Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &r {
            self.bar
                .inc(buf.filled().len().saturating_sub(before) as u64);
        }
        r
    }
}

/// A writer that advances a progress bar.
pub(crate) struct ProgressWrite<W> {
    inner: W,
    bar: ProgressBar,
}

impl<W: Write> Write for ProgressWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        cancel::check()?;
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        cancel::check()?;
        let n = self.inner.write_vectored(bufs)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Draws the bar as plain lines, for `--progress` when stderr is a file or
/// a pipe: at most one every [`PLAIN_EVERY`].
#[derive(Debug, Default)]
struct PlainLines {
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often plain progress lines are written.
const PLAIN_EVERY: Duration = Duration::from_secs(3);

impl PlainLines {
    fn line(&self, s: &str) -> io::Result<()> {
        if s.trim().is_empty() {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| now.duration_since(t) < PLAIN_EVERY) {
            return Ok(());
        }
        *last = Some(now);
        writeln!(io::stderr().lock(), "{}", s.trim_end())
    }
}

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.line(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
