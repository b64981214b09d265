//! Response bodies damaged on the way through: a flipped byte, or a body
//! cut short and followed by a close (FIN) or a reset (RST).
//!
//! The damaged body keeps the upstream's size hint, so the client is still
//! promised the full `Content-Length`:
//!
//! ```text
//!  upstream:  | 0 ........................................... len |
//!  truncate:  | 0 ........ keep |  wait 50 ms, close (FIN)
//!  reset:     | 0 ....... after |  wait 50 ms, reset (RST)
//!  flip:      | 0 ..... [offset % len] inverted ............. len |
//! ```
//!
//! The short wait lets hyper flush the bytes that were sent before the
//! connection goes away; without it the tail of the kept bytes could be
//! dropped with the connection's write buffer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use crate::plan::Fault;

/// The error every body of the proxy carries.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the proxy sends.
pub(crate) type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// How long a cut body waits for its kept bytes to drain.
const DRAIN: Duration = Duration::from_millis(50);

pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn pass(body: Incoming) -> ProxyBody {
    body.map_err(BoxError::from).boxed_unsync()
}

enum Mode {
    Flip { at: u64 },
    Cut { at: u64, reset: bool },
}

enum State {
    Streaming,
    Draining(Pin<Box<Sleep>>),
    Done,
}

/// An upstream body with one [`Fault`] applied.
pub(crate) struct FaultBody {
    inner: Incoming,
    mode: Mode,
    sent: u64,
    state: State,
    kill: Arc<AtomicBool>,
}

impl FaultBody {
    /// `inner` damaged by `fault`; `kill` is the connection's reset flag.
    /// Faults that are not response-body faults, and any fault on an empty
    /// body, leave the body as it is.
    pub(crate) fn wrap(inner: Incoming, fault: &Fault, kill: Arc<AtomicBool>) -> ProxyBody {
        let total = inner.size_hint().exact();
        if total == Some(0) {
            return pass(inner);
        }
        let last = total.map_or(u64::MAX, |t| t.saturating_sub(1));
        let mode = match *fault {
            Fault::FlipByte { offset } => Mode::Flip {
                at: total.map_or(offset, |t| offset % t),
            },
            Fault::Truncate { keep_bytes } => Mode::Cut {
                at: keep_bytes.min(last),
                reset: false,
            },
            Fault::ResetResponse { after_bytes } => Mode::Cut {
                at: after_bytes.min(last),
                reset: true,
            },
            _ => return pass(inner),
        };
        FaultBody {
            inner,
            mode,
            sent: 0,
            state: State::Streaming,
            kill,
        }
        .boxed_unsync()
    }
}

impl Body for FaultBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Draining(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state = State::Done;
                    let (kind, what) = match this.mode {
                        Mode::Cut { reset: true, .. } => {
                            this.kill.store(true, Ordering::SeqCst);
                            (io::ErrorKind::ConnectionReset, "reset")
                        }
                        _ => (io::ErrorKind::UnexpectedEof, "truncated"),
                    };
                    let msg = format!(
                        "fault injected: response body {what} after {} bytes",
                        this.sent
                    );
                    return Poll::Ready(Some(Err(io::Error::new(kind, msg).into())));
                }
                State::Streaming => {}
            }
            if let Mode::Cut { at, .. } = this.mode
                && this.sent >= at
            {
                this.state = State::Draining(Box::pin(tokio::time::sleep(DRAIN)));
                continue;
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Some(Ok(frame)) => frame,
            };
            let mut data = match frame.into_data() {
                Ok(data) => data,
                Err(other) => return Poll::Ready(Some(Ok(other))),
            };
            let start = this.sent;
            let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
            let end = start.saturating_add(len);
            match this.mode {
                Mode::Flip { at } if (start..end).contains(&at) => {
                    let mut owned = BytesMut::from(data.as_ref());
                    let index = usize::try_from(at - start).unwrap_or(usize::MAX);
                    if let Some(b) = owned.get_mut(index) {
                        *b = !*b;
                    }
                    data = owned.freeze();
                    this.sent = end;
                }
                Mode::Cut { at, .. } if end > at => {
                    data.truncate(usize::try_from(at - start).unwrap_or(usize::MAX));
                    this.sent = at;
                    if data.is_empty() {
                        continue;
                    }
                }
                _ => this.sent = end,
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn is_end_stream(&self) -> bool {
        match (&self.state, &self.mode) {
            (State::Done, _) => true,
            (State::Streaming, Mode::Flip { .. }) => self.inner.is_end_stream(),
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
