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
}

impl Progress {
    /// A bar labelled `label` for `total` bytes (unknown: a spinner with
    /// the byte count and rate).
    pub(crate) fn new(mode: ProgressMode, total: Option<u64>, label: &str) -> Self {
        let target = match mode {
            ProgressMode::Never => ProgressDrawTarget::hidden(),
            ProgressMode::Auto if !io::stderr().is_terminal() => ProgressDrawTarget::hidden(),
            ProgressMode::Auto => ProgressDrawTarget::stderr(),
            ProgressMode::Always if io::stderr().is_terminal() => ProgressDrawTarget::stderr(),
            // Not a terminal, but asked for: plain lines, once a second.
            ProgressMode::Always => ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines), 1),
        };
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), target),
            None => ProgressBar::with_draw_target(None, target),
        };
        set_style(&bar, total.is_some());
        bar.set_message(label.to_owned());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar }
    }

    /// Sets the total once it is known.
    pub(crate) fn set_total(&self, n: u64) {
        self.bar.disable_steady_tick();
        set_style(&self.bar, true);
        self.bar.set_length(n);
    }

    /// Replaces the label (a tree run's "files done/total").
    pub(crate) fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
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
}

/// A bar with total, rate and ETA, or a spinner with the count and rate.
fn set_style(bar: &ProgressBar, with_total: bool) {
    let template = if with_total {
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}"
    } else {
        "{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}"
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
/// a pipe.
#[derive(Debug)]
struct PlainLines;

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
        if s.trim().is_empty() {
            return Ok(());
        }
        writeln!(io::stderr().lock(), "{s}")
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        if s.trim().is_empty() {
            return Ok(());
        }
        writeln!(io::stderr().lock(), "{s}")
    }

    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
