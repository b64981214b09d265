//! A plain HTTP client with no AWS credentials, for the uncredentialed side
//! of presigned URLs and share links: hyper 1 with rustls on ring (the same
//! stack the SDK uses here, so it adds almost nothing to the build).
//!
//! Nothing here logs or prints a URL's signature or a share link's key;
//! messages name the object path only.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64ct::{Base64, Encoding};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};
use sealstream_format::layout;
use sealstream_kms::{Keyring, SealKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use sealstream_kms::RetryPolicy;

use crate::download::{Download, write_file_atomically};
use crate::error::{Error, Result};
use crate::io::{OpeningReader, SealingWriter, Unlock};
use crate::parts::blocking;
use crate::pipeline::{self, UploadOutcome};
use crate::presign::{PresignedMultipart, PresignedRequest};
use crate::redact::target_of;
use crate::s3target::{Multipart, PartDone, Target};
use crate::share::ShareLink;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ReqBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, ReqBody>;

/// An HTTP client for presigned URLs and share links: no AWS credentials,
/// no SDK. `http://` and `https://` (rustls on ring, the platform's root
/// certificates).
#[derive(Clone)]
pub struct PlainHttp {
    client: HttpsClient,
    retry: RetryPolicy,
}

impl fmt::Debug for PlainHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainHttp")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Whether a failed request may succeed if sent again: no response at all
/// (transport), or a 5xx.
fn transient(e: &Error) -> bool {
    matches!(e, Error::Http { status, .. } if status.is_none_or(|s| s >= 500))
}

fn xml_tag<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let len = body.get(start..)?.find(&close)?;
    body.get(start..start + len)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl PlainHttp {
    /// A client trusting the platform's root certificates.
    pub fn new() -> Result<Self> {
        let roots = rustls_native_certs::load_native_certs();
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(roots.certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidArgument(format!("TLS set-up: {e}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(PlainHttp {
            client: Client::builder(TokioExecutor::new()).build(https),
            retry: RetryPolicy::default(),
        })
    }

    /// The same client retrying presigned GETs (share links included), part uploads and aborts by
    /// `retry` (the default: [`RetryPolicy::default`]).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends `req` with `body` and the extra headers; fails unless the
    /// response is 2xx, with the server's error code in the message.
    async fn send(
        &self,
        req: &PresignedRequest,
        body: ReqBody,
        extra: &[(&str, String)],
    ) -> Result<http::Response<Incoming>> {
        let target = target_of(req.expose_url());
        let http_err = |detail: String, status: Option<u16>| Error::Http {
            method: req.method().to_owned(),
            target: target.clone(),
            detail,
            status,
        };
        let mut builder = http::Request::builder()
            .method(req.method())
            .uri(req.expose_url());
        for (k, v) in req.headers() {
            builder = builder.header(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            builder = builder.header(*k, v.as_str());
        }
        let request = builder
            .body(body)
            .map_err(|e| http_err(format!("invalid request: {e}"), None))?;
        let resp = self
            .client
            .request(request)
            .await
            .map_err(|e| http_err(transport_chain(&e), None))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = read_limited(resp.into_body(), 64 * 1024).await;
        let code = xml_tag(&body, "Code").unwrap_or("");
        let message = xml_tag(&body, "Message").unwrap_or("");
        let what = match (status.as_u16(), code) {
            (403, "SignatureDoesNotMatch") => {
                " (the URL was modified, or signed for other headers)"
            }
            (403, _) if message.to_ascii_lowercase().contains("expired") => {
                " (the presigned URL has expired; ask for a new one)"
            }
            (404, _) => " (no such object or upload)",
            _ => "",
        };
        Err(http_err(
            format!("HTTP {status} {code}: {message}{what}"),
            Some(status.as_u16()),
        ))
    }

    async fn get_stream(
        &self,
        req: &PresignedRequest,
        unlock: Unlock<'_>,
        label: &str,
    ) -> Result<Download> {
        // Only the request is retried; a body cut short later is reported as
        // truncated by the opening reader.
        let resp = self
            .retry
            .run(|_| self.send(req, empty_body(), &[]), transient)
            .await
            .map_err(|gave_up| gave_up.error)?;
        let object_len = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body =
            http_body_util::BodyDataStream::new(resp.into_body()).map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(body);
        let opening = OpeningReader::open_labeled(reader, unlock, label, None, None).await?;
        Download::from_opening(opening, object_len, label)
    }

    /// Downloads and opens the object behind a presigned GET (from
    /// [`SealClient::presign_get`](crate::SealClient::presign_get)),
    /// unwrapping its data key with `keyring`.
    pub async fn download_presigned(
        &self,
        get: &PresignedRequest,
        keyring: &Keyring,
    ) -> Result<Download> {
        let label = target_of(get.expose_url());
        self.get_stream(get, Unlock::Keyring(keyring), &label).await
    }

    /// Opens the object a share link points to; the link's fragment (the
    /// data key) is never sent.
    pub async fn open_share_link(&self, link: &ShareLink) -> Result<Download> {
        let label = target_of(link.presigned().expose_url());
        self.get_stream(
            link.presigned(),
            Unlock::Key(link.expose_data_key()),
            &label,
        )
        .await
    }

    /// Like [`PlainHttp::open_share_link`], into a file, all or nothing
    /// (see [`SealClient::download_to_file`](crate::SealClient::download_to_file)).
    pub async fn open_share_link_to_file(
        &self,
        link: &ShareLink,
        path: impl AsRef<Path>,
    ) -> Result<u64> {
        let dl = self.open_share_link(link).await?;
        write_file_atomically(path.as_ref(), dl).await
    }

    /// Like [`PlainHttp::download_presigned`], into a file, all or nothing.
    pub async fn download_presigned_to_file(
        &self,
        get: &PresignedRequest,
        keyring: &Keyring,
        path: impl AsRef<Path>,
    ) -> Result<u64> {
        let dl = self.download_presigned(get, keyring).await?;
        write_file_atomically(path.as_ref(), dl).await
    }

    /// Seals `plaintext_len` bytes from `reader` with `seal` and uploads the
    /// object in one streaming request to a presigned PUT (from
    /// [`SealClient::presign_put`](crate::SealClient::presign_put)).
    ///
    /// The sealed length is known up front, so the body streams with a
    /// `Content-Length`; if the reader fails or yields another length, the
    /// request is cut short and the server stores nothing.
    pub async fn put_presigned<R>(
        &self,
        put: &PresignedRequest,
        seal: SealKey,
        reader: R,
        plaintext_len: u64,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        let label = target_of(put.expose_url());
        let SealKey { header, key, salt } = seal;
        let body_len = layout::body_len(plaintext_len).map_err(|e| Error::format(&label, e))?;
        let object_len = header.encoded_len() as u64 + body_len;
        let (w, r) = tokio::io::duplex(256 * 1024);
        let stream = tokio_util::io::ReaderStream::with_capacity(r, 256 * 1024)
            .map_ok(Frame::data)
            .map_err(BoxError::from);
        let body = StreamBody::new(stream).boxed_unsync();
        let len_header = [("content-length", object_len.to_string())];
        let send = self.send(put, body, &len_header);
        let produce = async {
            let mut sw = SealingWriter::new(w, &header, &key, salt)?;
            let mut limited = reader.take(plaintext_len.saturating_add(1));
            let n = tokio::io::copy(&mut limited, &mut sw)
                .await
                .map_err(|e| Error::io(format!("sealing the plaintext for {label}"), e))?;
            if n != plaintext_len {
                return Err(Error::InvalidArgument(format!(
                    "the source for {label} yielded {} bytes but its length was given as \
                     {plaintext_len}",
                    if n > plaintext_len {
                        "more".to_owned()
                    } else {
                        n.to_string()
                    }
                )));
            }
            sw.shutdown()
                .await
                .map_err(|e| Error::io(format!("sealing the plaintext for {label}"), e))?;
            Ok(n)
        };
        let (sent, produced) = tokio::join!(send, produce);
        // The producer's error explains a cut-short request better.
        produced?;
        let resp = sent?;
        Ok(UploadOutcome {
            object: label,
            plaintext_len,
            object_len,
            parts: 0,
            etag: etag_of(&resp),
        })
    }

    /// Seals `reader` (exactly `plan.plaintext_len` bytes) with `seal` and
    /// uploads it through a presigned multipart plan, with up to
    /// `concurrency` parts in flight. Each part is retried by the client's
    /// [`RetryPolicy`] (5xx and network errors) with the same sealed bytes and carries a `Content-MD5` the server
    /// verifies. On any failure, or when this future is dropped, the upload
    /// is aborted through the plan's presigned abort.
    pub async fn upload_presigned_multipart<R>(
        &self,
        plan: &PresignedMultipart,
        seal: SealKey,
        reader: R,
        concurrency: usize,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        let upload = PresignedUpload(Arc::new(PresignedInner {
            http: self.clone(),
            plan: plan.clone(),
        }));
        let target = PresignedTarget { upload };
        pipeline::upload(
            reader,
            &target,
            &seal.header,
            &seal.key,
            plan.part_size,
            concurrency.max(1),
            Some(plan.plaintext_len),
            seal.salt,
        )
        .await
    }
}

fn empty_body() -> ReqBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn full_body(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

fn etag_of(resp: &http::Response<Incoming>) -> Option<String> {
    resp.headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn read_limited(body: Incoming, limit: usize) -> String {
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(d) = frame.data_ref() {
            out.extend_from_slice(d);
            if out.len() > limit {
                out.truncate(limit);
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn transport_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

struct PresignedTarget {
    upload: PresignedUpload,
}

#[derive(Clone)]
struct PresignedUpload(Arc<PresignedInner>);

struct PresignedInner {
    http: PlainHttp,
    plan: PresignedMultipart,
}

impl Target for PresignedTarget {
    type Upload = PresignedUpload;

    async fn put_single(
        &self,
        body: Bytes,
        crc32: u32,
        _plaintext_len: u64,
    ) -> Result<Option<String>> {
        let part = self.upload.upload_part(1, body, crc32).await;
        let result = match part {
            Ok(p) => self.upload.complete(vec![p]).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(etag) => Ok(etag),
            Err(e) => Err(pipeline::abort_after(&self.upload, &self.upload.0.plan.object, e).await),
        }
    }

    async fn start(&self) -> Result<PresignedUpload> {
        Ok(self.upload.clone())
    }

    fn object(&self) -> &str {
        &self.upload.0.plan.object
    }
}

impl Multipart for PresignedUpload {
    fn upload_part(
        &self,
        number: i32,
        body: Bytes,
        _crc32: u32,
    ) -> impl Future<Output = Result<PartDone>> + Send + 'static {
        let inner = self.0.clone();
        async move {
            let plan = &inner.plan;
            let req = usize::try_from(number)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| plan.parts.get(i))
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{}: the source needs part {number}, but the plan has {} parts (its \
                         plaintext length or part size differs)",
                        plan.object,
                        plan.parts.len()
                    ))
                })?;
            let md5_body = body.clone();
            let md5 = blocking(move || Base64::encode_string(&Md5::digest(&md5_body)))
                .await
                .map_err(|e| Error::io("hashing a part", e))?;
            let extra = [
                ("content-length", body.len().to_string()),
                ("content-md5", md5),
            ];
            // The same sealed bytes on every attempt.
            let sent = inner
                .http
                .retry
                .run(
                    |_| inner.http.send(req, full_body(body.clone()), &extra),
                    transient,
                )
                .await
                .map_err(|gave_up| gave_up.error)?;
            let etag = etag_of(&sent).ok_or_else(|| Error::Http {
                method: "PUT".into(),
                target: target_of(req.expose_url()),
                detail: format!("part {number}: the response has no ETag"),
                status: Some(sent.status().as_u16()),
            })?;
            Ok(PartDone {
                number,
                etag,
                crc32: String::new(),
            })
        }
    }

    async fn complete(&self, parts: Vec<PartDone>) -> Result<Option<String>> {
        let plan = &self.0.plan;
        let mut xml = String::from(
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        );
        for p in &parts {
            xml.push_str(&format!(
                "<Part><ETag>{}</ETag><PartNumber>{}</PartNumber></Part>",
                xml_escape(&p.etag),
                p.number
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let len = xml.len().to_string();
        let resp = self
            .0
            .http
            .send(
                &plan.complete,
                full_body(Bytes::from(xml)),
                &[
                    ("content-length", len),
                    ("content-type", "application/xml".into()),
                ],
            )
            .await?;
        // S3 may report a failed completion in a 200 response's body.
        let etag = etag_of(&resp);
        let body = read_limited(resp.into_body(), 64 * 1024).await;
        if body.contains("<Error>") {
            return Err(Error::Http {
                method: "POST".into(),
                target: target_of(plan.complete.expose_url()),
                detail: format!(
                    "completing the upload failed: {}: {}",
                    xml_tag(&body, "Code").unwrap_or(""),
                    xml_tag(&body, "Message").unwrap_or("")
                ),
                status: Some(200),
            });
        }
        Ok(xml_tag(&body, "ETag")
            .map(|e| e.replace("&quot;", "\""))
            .or(etag))
    }

    fn abort(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let inner = self.0.clone();
        async move {
            match inner.http.send(&inner.plan.abort, empty_body(), &[]).await {
                Ok(_)
                | Err(Error::Http {
                    status: Some(404), ..
                }) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }

    fn upload_id(&self) -> &str {
        &self.0.plan.upload_id
    }

    fn retry(&self) -> RetryPolicy {
        self.0.http.retry.clone()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    #[test]
    fn target_drops_query_and_fragment() {
        assert_eq!(
            target_of("http://h:1/b/k?X-Amz-Signature=abc#k=xyz"),
            "http://h:1/b/k"
        );
        assert_eq!(target_of("http://h/b/k#k=1"), "http://h/b/k");
    }

    #[test]
    fn xml_helpers() {
        let body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(xml_tag(body, "Code"), Some("AccessDenied"));
        assert_eq!(xml_tag(body, "Message"), Some("Request has expired"));
        assert_eq!(xml_escape("\"a&b\""), "\"a&amp;b\"");
    }
}
