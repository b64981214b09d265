//! The proxy: accepts HTTP/1.1 on 127.0.0.1, forwards each request to the
//! upstream unchanged, and injects what the plan says.
//!
//! Every client connection gets its own upstream connection, opened on its
//! first request and reused while both stay open; a fault that resets the
//! client connection drops its upstream connection too. Requests and
//! responses stream through (a 5 MiB part is never buffered), headers
//! included byte for byte: the `Host` header the client signed (the
//! proxy's own address) reaches the upstream as it was, so SigV4
//! signatures verify as long as the upstream checks the signature against
//! the `Host` header it receives, which SeaweedFS and AWS do.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::body::{BoxError, FaultBody, ProxyBody, full, pass};
use crate::plan::{Decider, Fault, FaultPlan, RequestInfo};
use crate::record::{FaultStats, RequestRecord, parse_query, redact_query};

/// At most this many requests are kept in the log (the counters go on).
pub const MAX_LOG_ENTRIES: usize = 100_000;

/// Where the proxy forwards to: an address, or an `http://host:port` URL
/// (resolved once, when the proxy starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A socket address.
    Addr(SocketAddr),
    /// An `http://` URL; only its host and port are used.
    Url(String),
}

impl From<SocketAddr> for Upstream {
    fn from(addr: SocketAddr) -> Self {
        Upstream::Addr(addr)
    }
}

impl From<&str> for Upstream {
    fn from(url: &str) -> Self {
        Upstream::Url(url.to_owned())
    }
}

impl From<String> for Upstream {
    fn from(url: String) -> Self {
        Upstream::Url(url)
    }
}

impl From<&String> for Upstream {
    fn from(url: &String) -> Self {
        Upstream::Url(url.clone())
    }
}

impl Upstream {
    async fn resolve(&self) -> io::Result<SocketAddr> {
        let url = match self {
            Upstream::Addr(a) => return Ok(*a),
            Upstream::Url(u) => u,
        };
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("upstream {url:?}: {why} (expected http://host:port)"),
            )
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid("only plain http:// upstreams are supported"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid("no host, or credentials in the URL"));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && !authority.ends_with(']');
        let target = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        tokio::net::lookup_host(target)
            .await?
            .next()
            .ok_or_else(|| invalid("the host did not resolve"))
    }
}

/// A running fault-injecting proxy on `127.0.0.1`. Stops when dropped
/// (every open connection is closed); if it is dropped while a test
/// panics, it prints its seed and counters to stderr.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint())
            .field("upstream", &self.shared.upstream)
            .field("seed", &self.seed())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Binds `127.0.0.1` on a free port and starts forwarding to `upstream`
    /// under `plan`. Needs a tokio runtime with I/O and timers enabled.
    /// The upstream is not contacted until the first request.
    ///
    /// # Errors
    ///
    /// The upstream URL is not `http://host:port` or does not resolve, or
    /// no port could be bound.
    pub async fn start(upstream: impl Into<Upstream>, plan: FaultPlan) -> io::Result<FaultProxy> {
        let upstream = upstream.into().resolve().await?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::new(plan)),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`, the endpoint URL to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream's address.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// The seed of the plan in force.
    pub fn seed(&self) -> u64 {
        self.shared.lock().decider.seed()
    }

    /// Replaces the plan (and so the seed); rule counters start again from
    /// zero, the statistics and the log go on.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.shared.lock();
        state.stats.seed = plan.seed();
        state.decider = Decider::new(plan);
    }

    /// The counters so far.
    pub fn stats(&self) -> FaultStats {
        self.shared.lock().stats.clone()
    }

    /// The requests so far, in arrival order (at most [`MAX_LOG_ENTRIES`]).
    pub fn log(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.clone()
    }

    /// The seed, the counters and the request log, for a failure message.
    pub fn report(&self) -> String {
        let state = self.shared.lock();
        let mut out = format!(
            "fault proxy {} -> {}, {}",
            self.endpoint(),
            self.shared.upstream,
            state.stats
        );
        for r in &state.log {
            out.push_str("\n  ");
            out.push_str(&r.to_string());
        }
        out
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        if std::thread::panicking() {
            eprintln!(
                "fault proxy {} (upstream {}) stopped by a panic; to repeat its random \
                 decisions, rerun with the same seed. {}",
                self.endpoint(),
                self.shared.upstream,
                self.shared.lock().stats
            );
        }
    }
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
}

struct State {
    decider: Decider,
    seq: u64,
    stats: FaultStats,
    log: Vec<RequestRecord>,
}

impl State {
    fn new(plan: FaultPlan) -> Self {
        State {
            stats: FaultStats {
                seed: plan.seed(),
                ..FaultStats::default()
            },
            decider: Decider::new(plan),
            seq: 0,
            log: Vec::new(),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere
        // must not hide the counters from the test that reports it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers, logs and decides one request.
    fn begin<B>(&self, req: &Request<B>) -> (u64, Option<Fault>) {
        let uri = req.uri();
        let query = uri.query().unwrap_or("");
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let target = header("x-amz-target");
        let range = header("range");
        // Only for matching; never logged.
        let headers = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut state = self.lock();
        state.seq += 1;
        let seq = state.seq;
        let info = RequestInfo {
            seq,
            method: req.method().as_str().to_owned(),
            path: uri.path().to_owned(),
            query: parse_query(query),
            target: target.clone(),
            headers,
        };
        let fault = state.decider.decide(&info);
        state.stats.requests += 1;
        if let Some(f) = &fault {
            *state.stats.injected.entry(f.name()).or_insert(0) += 1;
        }
        if state.log.len() < MAX_LOG_ENTRIES {
            let uri = if query.is_empty() {
                info.path
            } else {
                format!("{}?{}", info.path, redact_query(query))
            };
            state.log.push(RequestRecord {
                seq,
                method: info.method,
                uri,
                target,
                range,
                fault: fault.clone(),
                status: None,
            });
        }
        (seq, fault)
    }

    fn finish(&self, seq: u64, status: Option<StatusCode>) {
        let mut state = self.lock();
        let index = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        if let Some(r) = state.log.get_mut(index) {
            r.status = status.map(|s| s.as_u16());
        }
    }

    fn count(&self, f: impl FnOnce(&mut FaultStats)) {
        f(&mut self.lock().stats);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping this set (when the proxy's task is aborted) closes every
    // connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve(stream, shared.clone()));
                }
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(AtomicBool::new(false));
    let conn = Arc::new(Conn {
        shared,
        kill: kill.clone(),
        upstream: Mutex::new(None),
    });
    let io = TokioIo::new(ConnIo { stream, kill });
    let service = service_fn(move |req| conn.clone().handle(req));
    // An error here is a reset we injected or a client that went away.
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

/// The client's TCP stream; when the connection's kill flag is set, it is
/// closed with a reset (`SO_LINGER` 0) instead of an orderly FIN.
struct ConnIo {
    stream: TcpStream,
    kill: Arc<AtomicBool>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.kill.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// One client connection and its upstream connection.
struct Conn {
    shared: Arc<Shared>,
    kill: Arc<AtomicBool>,
    upstream: Mutex<Option<SendRequest<Incoming>>>,
}

/// The service's error: the connection is closed without an answer.
fn reset_error(what: &str) -> BoxError {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("fault injected: {what}"),
    )
    .into()
}

impl Conn {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, BoxError> {
        let (seq, fault) = self.shared.begin(&req);
        let result = self.apply(req, fault, seq).await;
        let status = result.as_ref().ok().map(Response::status);
        self.shared.finish(seq, status);
        result
    }

    async fn apply(
        &self,
        req: Request<Incoming>,
        fault: Option<Fault>,
        seq: u64,
    ) -> Result<Response<ProxyBody>, BoxError> {
        let Some(fault) = fault else {
            return Ok(self.forward(req).await.map_or_else(|e| e, |r| r.map(pass)));
        };
        match fault {
            Fault::Status(status) => {
                let json = req.headers().contains_key("x-amz-target");
                let target_is_kms = req
                    .headers()
                    .get("x-amz-target")
                    .is_some_and(|t| t.as_bytes().starts_with(b"TrentService."));
                drain(req.into_body()).await;
                Ok(error_response(status, json, target_is_kms, seq))
            }
            Fault::SlowDown => {
                drain(req.into_body()).await;
                Ok(s3_error(
                    503,
                    "SlowDown",
                    "Please reduce your request rate.",
                    seq,
                ))
            }
            Fault::KmsThrottling => {
                drain(req.into_body()).await;
                Ok(json_error(400, "ThrottlingException", "Rate exceeded", seq))
            }
            Fault::ResetRequest { after_bytes } => {
                let mut body = req.into_body();
                let mut read = 0u64;
                while read < after_bytes {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Some(d) = frame.data_ref() {
                                read =
                                    read.saturating_add(u64::try_from(d.len()).unwrap_or(u64::MAX));
                            }
                        }
                        _ => break,
                    }
                }
                self.kill.store(true, Ordering::SeqCst);
                Err(reset_error(
                    "connection reset while reading the request body",
                ))
            }
            Fault::Stall { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(self.forward(req).await.map_or_else(|e| e, |r| r.map(pass)))
            }
            Fault::DropResponse => {
                let resp = match self.forward(req).await {
                    Ok(resp) => resp,
                    Err(bad_gateway) => return Ok(bad_gateway),
                };
                drain(resp.into_body()).await;
                self.kill.store(true, Ordering::SeqCst);
                Err(reset_error("connection reset instead of the response"))
            }
            Fault::Serve { body, etag } => {
                let range = req
                    .headers()
                    .get(http::header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let head_only = req.method() == http::Method::HEAD;
                drain(req.into_body()).await;
                Ok(serve_object(&body, &etag, range.as_deref(), head_only, seq))
            }
            Fault::Reply { status, body } => {
                drain(req.into_body()).await;
                Ok(respond(status, "application/xml", seq, body))
            }
            Fault::ResetResponse { .. } | Fault::Truncate { .. } | Fault::FlipByte { .. } => {
                let kill = self.kill.clone();
                Ok(self
                    .forward(req)
                    .await
                    .map_or_else(|e| e, |r| r.map(|body| FaultBody::wrap(body, &fault, kill))))
            }
        }
    }

    /// Sends `req` upstream; on failure the `Err` is the `502` to answer.
    async fn forward(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Incoming>, Response<ProxyBody>> {
        let (mut parts, body) = req.into_parts();
        let origin = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = Uri::try_from(origin).unwrap_or_else(|_| Uri::from_static("/"));
        let req = Request::from_parts(parts, body);
        match self.send(req).await {
            Ok(resp) => {
                self.shared.count(|s| s.forwarded += 1);
                Ok(resp)
            }
            Err(e) => {
                self.shared.count(|s| s.upstream_errors += 1);
                let mut resp = Response::new(full(format!(
                    "sealstream-faultproxy: upstream {} failed: {e}\n",
                    self.shared.upstream
                )));
                *resp.status_mut() = StatusCode::BAD_GATEWAY;
                Err(resp)
            }
        }
    }

    async fn send(&self, req: Request<Incoming>) -> Result<Response<Incoming>, BoxError> {
        let cached = self
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut sender = match cached {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        if sender.ready().await.is_err() {
            sender = self.connect().await?;
        }
        let resp = match sender.try_send_request(req).await {
            Ok(resp) => resp,
            // The upstream closed an idle connection before it saw the
            // request: send it once more on a fresh connection.
            Err(mut e) => match e.take_message() {
                Some(req) => {
                    sender = self.connect().await?;
                    sender.send_request(req).await?
                }
                None => return Err(e.into_error().into()),
            },
        };
        *self.upstream.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        Ok(resp)
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, BoxError> {
        let stream = TcpStream::connect(self.shared.upstream).await?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // Ends when the sender is dropped (with this client connection) and
        // the last response body is done or dropped.
        tokio::spawn(conn);
        Ok(sender)
    }
}

async fn drain(mut body: Incoming) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` over `total` bytes -> the
/// inclusive first and last offsets; `None` when it starts past the end
/// (or is not one of those forms).
fn byte_range(range: &str, total: u64) -> Option<(u64, u64)> {
    let (a, b) = range.trim().strip_prefix("bytes=")?.split_once('-')?;
    let last = total.checked_sub(1)?;
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        return (n > 0).then(|| (total - n.min(total), last));
    }
    let first: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        last
    } else {
        b.parse::<u64>().ok()?.min(last)
    };
    (first <= end).then_some((first, end))
}

/// The answer of [`Fault::Serve`].
fn serve_object(
    body: &Bytes,
    etag: &str,
    range: Option<&str>,
    head_only: bool,
    seq: u64,
) -> Response<ProxyBody> {
    let total = u64::try_from(body.len()).unwrap_or(u64::MAX);
    let (status, first, last) = match range {
        None => (StatusCode::OK, 0, total.saturating_sub(1)),
        Some(r) => match byte_range(r, total) {
            Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b),
            None => {
                return s3_error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    seq,
                );
            }
        },
    };
    let part = if total == 0 {
        Bytes::new()
    } else {
        let (a, b) = (
            usize::try_from(first).unwrap_or(usize::MAX),
            usize::try_from(last).unwrap_or(usize::MAX),
        );
        body.slice(a.min(body.len())..b.saturating_add(1).min(body.len()))
    };
    let len = part.len();
    let mut resp = Response::new(full(if head_only { Bytes::new() } else { part }));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    if let Ok(v) = HeaderValue::try_from(etag) {
        headers.insert(http::header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::try_from(format!("bytes {first}-{last}/{total}"))
    {
        headers.insert(http::header::CONTENT_RANGE, v);
    }
    if let Ok(id) = HeaderValue::try_from(format!("faultproxy-{seq}")) {
        headers.insert("x-amz-request-id", id);
    }
    resp
}

fn error_response(status: u16, json: bool, kms: bool, seq: u64) -> Response<ProxyBody> {
    if json {
        let code = match status {
            500 if kms => "KMSInternalException",
            500 => "InternalFailure",
            503 => "ServiceUnavailable",
            _ => "InjectedFault",
        };
        return json_error(status, code, "injected by sealstream-faultproxy", seq);
    }
    let (code, message) = match status {
        500 => (
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        503 => ("ServiceUnavailable", "Service is unable to handle request."),
        _ => ("InjectedFault", "Injected by sealstream-faultproxy."),
    };
    s3_error(status, code, message, seq)
}

fn s3_error(status: u16, code: &str, message: &str, seq: u64) -> Response<ProxyBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>faultproxy-{seq}</RequestId></Error>"
    );
    respond(status, "application/xml", seq, body)
}

fn json_error(status: u16, code: &str, message: &str, seq: u64) -> Response<ProxyBody> {
    let body = format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}");
    respond(status, "application/x-amz-json-1.1", seq, body)
}

fn respond(
    status: u16,
    content_type: &'static str,
    seq: u64,
    body: impl Into<Bytes>,
) -> Response<ProxyBody> {
    let mut resp = Response::new(full(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::try_from(format!("faultproxy-{seq}")) {
        headers.insert("x-amz-request-id", id.clone());
        headers.insert("x-amzn-requestid", id);
    }
    resp
}
