//! Helpers shared by the sealstream-kms integration tests: temporary
//! directories, the local KMS server (moto) from `.test-services/env`, a
//! counting test double around a real provider, and a fault-injecting fake
//! KMS endpoint that answers `ThrottlingException`.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_config::SdkConfig;
use sealstream_kms::{DataKey, KeyProvider, KeyRecord, Result, WrapContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("sealstream-kms-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The local KMS server's endpoint, or `None` (after printing a skip line)
/// when the test services are not running. With
/// `SEALSTREAM_REQUIRE_SERVICES=1` a missing server fails the test.
pub fn kms_endpoint(test: &str) -> Option<String> {
    match std::env::var("SEALSTREAM_TEST_KMS_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            if std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!(
                    "{test}: SEALSTREAM_TEST_KMS_ENDPOINT is not set but \
                     SEALSTREAM_REQUIRE_SERVICES=1 (run `scripts/services start` and source its env)"
                );
            }
            eprintln!(
                "SKIP {test}: no local KMS server (SEALSTREAM_TEST_KMS_ENDPOINT unset; \
                 `scripts/services start` starts one)"
            );
            None
        }
    }
}

/// SDK configuration for `endpoint` in `region`: credentials from the
/// environment and the CLI's HTTP client (hyper 1, rustls on ring; the SDKs
/// are built without a default one). The library loads no configuration.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// SDK configuration with fixed test credentials, for tests that must not
/// depend on the environment (no KMS server, no credential chain).
#[cfg(feature = "aws")]
pub async fn offline_sdk_config(endpoint: &str) -> SdkConfig {
    let creds = aws_sdk_kms::config::Credentials::new("test", "test", None, None, "test");
    sdk_config(endpoint, "us-east-1")
        .await
        .into_builder()
        .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(creds))
        .build()
}

/// Creates a fresh symmetric key (and an alias for it) on the KMS server;
/// returns its ARN. Keys live in the server's memory, so every test makes
/// its own.
#[cfg(feature = "aws")]
pub async fn create_key(sdk: &SdkConfig, alias: Option<&str>) -> String {
    let client = aws_sdk_kms::Client::new(sdk);
    let out = client
        .create_key()
        .description("sealstream-kms test key")
        .send()
        .await
        .expect("CreateKey on the local KMS server");
    let meta = out.key_metadata().unwrap();
    let arn = meta.arn().unwrap().to_owned();
    if let Some(alias) = alias {
        client
            .create_alias()
            .alias_name(alias)
            .target_key_id(meta.key_id())
            .send()
            .await
            .expect("CreateAlias");
    }
    arn
}

/// A unique alias name for this test run.
pub fn unique_alias(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "alias/sealstream-test-{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// **Test double**: wraps a real provider and counts the calls made to it.
/// `accepts` is delegated, so the counts show exactly which records the
/// keyring chose to try.
#[derive(Debug)]
pub struct CountingTestDoubleProvider {
    inner: Arc<dyn KeyProvider>,
    pub generates: AtomicUsize,
    pub wraps: AtomicUsize,
    pub unwraps: AtomicUsize,
}

impl CountingTestDoubleProvider {
    pub fn new(inner: Arc<dyn KeyProvider>) -> Arc<Self> {
        Arc::new(CountingTestDoubleProvider {
            inner,
            generates: AtomicUsize::new(0),
            wraps: AtomicUsize::new(0),
            unwraps: AtomicUsize::new(0),
        })
    }

    pub fn unwrap_calls(&self) -> usize {
        self.unwraps.load(Ordering::SeqCst)
    }

    pub fn generate_calls(&self) -> usize {
        self.generates.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl KeyProvider for CountingTestDoubleProvider {
    fn provider_id(&self) -> &'static str {
        self.inner.provider_id()
    }

    fn describe(&self) -> String {
        format!("counting test double around {}", self.inner.describe())
    }

    async fn generate(&self, ctx: WrapContext<'_>) -> Result<(DataKey, KeyRecord)> {
        self.generates.fetch_add(1, Ordering::SeqCst);
        self.inner.generate(ctx).await
    }

    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        self.wraps.fetch_add(1, Ordering::SeqCst);
        self.inner.wrap(key, ctx).await
    }

    fn accepts(&self, record: &KeyRecord) -> bool {
        self.inner.accepts(record)
    }

    async fn unwrap_unverified(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap_unverified(record, ctx).await
    }
}

/// **Fake** KMS endpoint for fault injection: a tiny HTTP/1.1 server on
/// 127.0.0.1 that answers the first `faults` requests with a KMS error
/// (`ThrottlingException` by default, HTTP 400 as AWS sends it) and proxies
/// every later request to the real KMS server at `upstream`. It exists for
/// faults the real test server cannot produce (throttling, key states that
/// moto does not enforce). One request per connection (`Connection: close`
/// both ways) keeps it simple.
pub struct FaultInjectingKms {
    pub addr: SocketAddr,
    state: Arc<ThrottleState>,
    task: tokio::task::JoinHandle<()>,
}

struct ThrottleState {
    upstream: Option<String>,
    code: String,
    status: u16,
    remaining: AtomicUsize,
    /// Remove `KeyId` from the upstream's Decrypt answers.
    strip_key_id: std::sync::atomic::AtomicBool,
    faults: AtomicUsize,
    forwarded: AtomicUsize,
}

impl FaultInjectingKms {
    /// Starts a fake that throttles `throttles` requests; `upstream` is
    /// `host:port` of the real server, or `None` to throttle forever.
    pub async fn throttle(upstream: Option<&str>, throttles: usize) -> Self {
        Self::start(upstream, throttles, "ThrottlingException", 400).await
    }

    /// Starts a fake that answers every request with error `code`.
    pub async fn always(code: &str, status: u16) -> Self {
        Self::start(None, 0, code, status).await
    }

    /// Starts a fake that forwards everything to `upstream` and removes the
    /// `KeyId` field from the answers to `Decrypt` (a KMS-compatible server
    /// that does not say which key decrypted; moto always says it). Each
    /// removal counts as a fault.
    pub async fn without_decrypt_key_id(upstream: &str) -> Self {
        let fake = Self::start(Some(upstream), 0, "", 200).await;
        fake.state.strip_key_id.store(true, Ordering::SeqCst);
        fake
    }

    async fn start(upstream: Option<&str>, throttles: usize, code: &str, status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ThrottleState {
            upstream: upstream.map(str::to_owned),
            code: code.to_owned(),
            status,
            remaining: AtomicUsize::new(throttles),
            strip_key_id: std::sync::atomic::AtomicBool::new(false),
            faults: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, &st).await;
                });
            }
        });
        FaultInjectingKms { addr, state, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn faults(&self) -> usize {
        self.state.faults.load(Ordering::SeqCst)
    }

    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultInjectingKms {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 message with a Content-Length body (what the SDK
/// sends); returns (header lines without the blank line, body).
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(Vec<String>, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        if buf.len() > 1 << 20 {
            return Err(std::io::Error::other("request head too large"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let lines: Vec<String> = head.split("\r\n").map(str::to_owned).collect();
    let len = lines
        .iter()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok(Some((lines, body)))
}

fn without_connection(lines: &[String]) -> String {
    let mut out = String::new();
    for l in lines {
        let is_conn = l
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"));
        if !is_conn {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

async fn serve(mut conn: TcpStream, st: &ThrottleState) -> std::io::Result<()> {
    let Some((lines, body)) = read_request(&mut conn).await? else {
        return Ok(());
    };
    let throttle = st
        .remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
        .is_ok()
        || st.upstream.is_none();
    if throttle {
        st.faults.fetch_add(1, Ordering::SeqCst);
        let payload = format!(
            r#"{{"__type":"{}","message":"injected by the FaultInjectingKms test fake"}}"#,
            st.code
        );
        let head = format!(
            "HTTP/1.1 {} Fault\r\nContent-Type: application/x-amz-json-1.1\r\n\
             x-amzn-RequestId: fault-injected\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            st.status,
            payload.len()
        );
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(payload.as_bytes()).await?;
        return conn.shutdown().await;
    }
    st.forwarded.fetch_add(1, Ordering::SeqCst);
    let upstream = st.upstream.as_deref().unwrap_or_default();
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(without_connection(&lines).as_bytes()).await?;
    up.write_all(&body).await?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).await?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("upstream answered without a header"))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let mut head_lines: Vec<String> = head.split("\r\n").map(str::to_owned).collect();
    let mut body = resp[split + 4..].to_vec();
    let is_decrypt = lines
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("x-amz-target:") && l.ends_with(".Decrypt"));
    if is_decrypt && st.strip_key_id.load(Ordering::SeqCst) {
        let text = String::from_utf8_lossy(&body).into_owned();
        if let Some(stripped) = strip_json_field(&text, "KeyId") {
            st.faults.fetch_add(1, Ordering::SeqCst);
            body = stripped.into_bytes();
            for l in &mut head_lines {
                if l.to_ascii_lowercase().starts_with("content-length:") {
                    *l = format!("Content-Length: {}", body.len());
                }
            }
        }
    }
    conn.write_all(without_connection(&head_lines).as_bytes())
        .await?;
    conn.write_all(&body).await?;
    conn.shutdown().await
}

/// `host:port` of an `http://host:port` endpoint.
pub fn host_port(endpoint: &str) -> &str {
    endpoint.trim_start_matches("http://").trim_end_matches('/')
}

/// A sealed object's header and data key (a `SealKey` whose salt went
/// into a body).
pub struct Sealed {
    pub header: sealstream_kms::Header,
    pub key: DataKey,
}

/// Seals `plaintext` with `sealed`'s key and salt: the object and its
/// header and key.
pub fn seal_with(sealed: sealstream_kms::SealKey, plaintext: &[u8]) -> (Sealed, Vec<u8>) {
    let object =
        sealstream_format::seal_to_vec(&sealed.header, &sealed.key, sealed.salt, plaintext)
            .unwrap();
    (
        Sealed {
            header: sealed.header,
            key: sealed.key,
        },
        object,
    )
}

/// The body prefix (salt and commitment) of `object`: what `open_key`
/// checks every unwrapped key against.
pub fn prefix_of(object: &[u8], _header: &sealstream_kms::Header) -> sealstream_kms::BodyPrefix {
    let start = sealstream_format::HEADER_LEN;
    let bytes: [u8; sealstream_format::BODY_PREFIX_LEN] = object
        [start..start + sealstream_format::BODY_PREFIX_LEN]
        .try_into()
        .unwrap();
    sealstream_kms::BodyPrefix::from_bytes(&bytes)
}

/// Seals an empty body for `sealed` and returns its header, key and body
/// prefix.
pub fn with_prefix(sealed: sealstream_kms::SealKey) -> (Sealed, sealstream_kms::BodyPrefix) {
    let (sealed, object) = seal_with(sealed, b"");
    let prefix = prefix_of(&object, &sealed.header);
    (sealed, prefix)
}

/// `json` without its top-level string field `"name": "..."` (and one
/// adjacent comma), or `None` if it has none. Enough for KMS answers.
fn strip_json_field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let start = json.find(&key)?;
    let after_key = start + key.len();
    let colon = after_key + json[after_key..].find(':')?;
    let open = colon + 1 + json[colon + 1..].find('"')?;
    let close = open + 1 + json[open + 1..].find('"')?;
    let mut end = close + 1;
    let mut begin = start;
    let rest = json[end..].trim_start();
    if rest.starts_with(',') {
        end = json.len() - rest.len() + 1;
    } else if let Some(i) = json[..begin].rfind(',')
        && json[i + 1..begin].trim().is_empty()
    {
        begin = i;
    }
    Some(format!("{}{}", &json[..begin], &json[end..]))
}

/// The key-record vectors of tests/vectors/records.txt, by name.
pub fn record_vectors() -> std::collections::BTreeMap<&'static str, &'static str> {
    include_str!("../vectors/records.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .collect()
}

/// The bytes of a lowercase hex vector.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
