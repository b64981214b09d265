//! S3 glue: clients from the configuration, SSE options, header reads
//! without keys, listings, and aborting multipart uploads.

use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use sealstream_format::{Header, HeaderParse};
use sealstream_kms::Keyring;
use sealstream_kms::aws::{AwsOptions, load_sdk_config};
use sealstream_s3::{SealClient, Sse, SseCustomerKey};

use crate::app::App;
use crate::config::Sse as SseSetting;
use crate::error::{Class, CliError, Result};

/// Bytes fetched first when reading a header (most headers are far
/// smaller; a larger one costs a second request).
const FIRST_HEADER_FETCH: u64 = 4096;

/// The AWS options for S3.
pub(crate) fn s3_options(app: &App) -> AwsOptions {
    AwsOptions {
        region: app.cfg.region.value.clone(),
        endpoint_url: app.cfg.endpoint_url.value.clone(),
        profile: app.cfg.profile.value.clone(),
    }
}

/// An S3 client for the configuration: the standard AWS chain, the
/// endpoint override, and path-style addressing when asked for or when an
/// endpoint is given.
pub(crate) async fn client(app: &App) -> aws_sdk_s3::Client {
    let opts = s3_options(app);
    let sdk = load_sdk_config(&opts).await;
    let path_style = app.cfg.path_style.value || opts.endpoint_url.is_some();
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(path_style)
        .interceptor(SseHeaderCompat)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Tolerance for S3-compatible servers that repeat SSE response headers
/// (SeaweedFS does on ranged GETs of SSE-C objects, and the SDK then fails
/// to parse the response): a repeated header is reduced to its first
/// value. The headers are informational on a GET; the server has already
/// checked the key. (sealstream-s3 does the same for its own requests.)
#[derive(Debug)]
struct SseHeaderCompat;

impl aws_sdk_s3::config::Intercept for SseHeaderCompat {
    fn name(&self) -> &'static str {
        "SealstreamCliSseHeaderCompat"
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        const NAMES: [&str; 4] = [
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-customer-algorithm",
            "x-amz-server-side-encryption-customer-key-MD5",
            "x-amz-server-side-encryption-aws-kms-key-id",
        ];
        let headers = ctx.response_mut().headers_mut();
        for name in NAMES {
            let values: Vec<Vec<u8>> = headers.get_all_bytes(name).map(<[u8]>::to_vec).collect();
            if values.len() <= 1 {
                continue;
            }
            let first = values
                .iter()
                .find_map(|v| std::str::from_utf8(v).ok().map(str::to_owned));
            headers.remove(name);
            if let Some(v) = first {
                headers.insert(name, v);
            }
        }
        Ok(())
    }
}

/// Resolved SSE options: the S3 crate's setting, and the raw SSE-C key for
/// the CLI's own requests (header reads).
#[derive(Clone, Default)]
pub(crate) struct SseKeys {
    /// For the S3 crate.
    pub(crate) sse: Sse,
    /// The SSE-C key, if any.
    pub(crate) customer: Option<zeroize::Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for SseKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseKeys")
            .field("sse", &self.sse)
            .finish_non_exhaustive()
    }
}

impl SseKeys {
    /// The SSE-C key and its MD5, both base64, for the CLI's own requests.
    pub(crate) fn customer_headers(&self) -> Option<(zeroize::Zeroizing<String>, String)> {
        use base64ct::{Base64, Encoding};
        use md5::{Digest, Md5};
        self.customer.as_ref().map(|k| {
            (
                zeroize::Zeroizing::new(Base64::encode_string(&k[..])),
                Base64::encode_string(&Md5::digest(&k[..])),
            )
        })
    }

    /// Adds the SSE-C headers to a GetObject request.
    fn apply_get(
        &self,
        b: aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder {
        use base64ct::{Base64, Encoding};
        use md5::{Digest, Md5};
        match &self.customer {
            None => b,
            Some(k) => {
                let key = zeroize::Zeroizing::new(Base64::encode_string(&k[..]));
                let md5 = Base64::encode_string(&Md5::digest(&k[..]));
                b.sse_customer_algorithm("AES256")
                    .sse_customer_key(key.as_str())
                    .sse_customer_key_md5(md5)
            }
        }
    }
}

/// Resolves the CLI's SSE setting.
pub(crate) fn sse(s: &SseSetting) -> Result<SseKeys> {
    let mode = s.mode.as_deref().map(str::to_ascii_lowercase);
    let plain = |sse: Sse| SseKeys {
        sse,
        customer: None,
    };
    match (mode.as_deref(), &s.customer_key_file) {
        (Some(_), Some(_)) => Err(CliError::usage(
            "--sse and --sse-c-key-file cannot be combined",
        )),
        (None, Some(path)) => {
            crate::util::not_a_folder(path, "the SSE-C key file itself")?;
            let raw = read_sse_c_key(path)?;
            Ok(SseKeys {
                sse: Sse::Customer(SseCustomerKey::new(*raw)),
                customer: Some(raw),
            })
        }
        (None, None) => {
            if s.kms_key_id.is_some() {
                return Err(CliError::usage("--sse-kms-key-id needs --sse aws:kms"));
            }
            Ok(plain(Sse::None))
        }
        (Some("aes256"), None) => {
            if s.kms_key_id.is_some() {
                return Err(CliError::usage("--sse-kms-key-id needs --sse aws:kms"));
            }
            Ok(plain(Sse::S3))
        }
        (Some("aws:kms" | "kms"), None) => Ok(plain(Sse::Kms {
            key_id: s.kms_key_id.clone(),
            bucket_key: false,
        })),
        (Some(other), None) => Err(CliError::usage(format!(
            "--sse {other:?}: expected AES256 or aws:kms"
        ))),
    }
}

/// Reads an SSE-C key: 32 raw bytes, or their base64 text. The file gets
/// the checks of a secret key file ([`sealstream_kms::read_secret_file`]:
/// a regular file, opened without blocking so a FIFO is refused at once,
/// at most 4096 bytes, not accessible by group or others).
fn read_sse_c_key(path: &Path) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    use base64ct::{Base64, Encoding};
    let bytes =
        sealstream_kms::read_secret_file(path).map_err(|e| CliError::kms("SSE-C key file", &e))?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        key.copy_from_slice(&bytes);
        return Ok(key);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad_sse_c(path))?;
    match Base64::decode(text.trim().as_bytes(), &mut key[..]) {
        Ok(d) if d.len() == 32 => Ok(key),
        _ => Err(bad_sse_c(path)),
    }
}

fn bad_sse_c(path: &Path) -> CliError {
    CliError::usage(format!(
        "SSE-C key file {}: expected 32 raw bytes or their base64 text",
        path.display()
    ))
}

/// A sealing/opening client over `keyring` with the configured tuning.
pub(crate) fn seal_client(
    app: &App,
    s3: aws_sdk_s3::Client,
    keyring: Keyring,
    suite: sealstream_format::Suite,
    sse: &SseKeys,
) -> Result<SealClient> {
    let mut config = sealstream_s3::Config::default()
        .suite(suite)
        .sse(sse.sse.clone());
    if let Some(p) = app.cfg.part_size.value {
        config = config.part_size(p);
    }
    if let Some(c) = app.cfg.concurrency.value {
        config = config.upload_concurrency(c).download_concurrency(c);
    }
    SealClient::new(s3, keyring, config).map_err(|e| s3_error(&e))
}

/// A client for store administration (`SealClient::list`, `head`,
/// `delete`), which needs no key. Its keyring holds one throwaway local key
/// from the system random source because a `SealClient` cannot be built
/// without one; nothing is sealed or opened with it.
pub(crate) async fn admin_client(app: &App) -> Result<SealClient> {
    use ring::rand::SecureRandom;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    ring::rand::SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| CliError::new(Class::Internal, "the system random source failed"))?;
    let key = sealstream_kms::LocalKeyProvider::from_key_bytes(&bytes, "unused admin key")
        .map_err(|e| CliError::kms("preparing an S3 client", &e))?;
    let ring = Keyring::new(vec![std::sync::Arc::new(key)])
        .map_err(|e| CliError::kms("preparing an S3 client", &e))?;
    let sse = sse(&app.cfg.sse.value)?;
    seal_client(
        app,
        client(app).await,
        ring,
        sealstream_format::Suite::Aes256Gcm,
        &sse,
    )
}

/// The CLI error for an S3-crate error.
pub(crate) fn s3_error(e: &sealstream_s3::Error) -> CliError {
    use sealstream_s3::Error as E;
    let msg = e.to_string();
    match e {
        E::NotFound { .. } => CliError::new(Class::NotFound, msg)
            .hint("check the bucket and key (`sealstream ls s3://bucket/prefix`)"),
        E::AccessDenied { .. } => CliError::new(Class::Service, msg)
            .hint("check the AWS credentials, Region and the bucket policy"),
        E::NotSealstream { .. }
        | E::WrongKey { .. }
        | E::ChunkAuthentication { .. }
        | E::Truncated { .. }
        | E::TrailingData { .. }
        | E::ObjectChanged { .. } => CliError::new(Class::Auth, msg)
            .hint("do not trust any output already written; restore the object from another copy"),
        E::NoKey { source, object } | E::Seal { source, object } => CliError::kms(object, source),
        E::Format { source, object } => CliError::format(object, source),
        E::InvalidRange { .. } | E::InvalidArgument(_) => CliError::usage(msg),
        E::SseCustomerKey { .. } => CliError::new(Class::Key, msg)
            .hint("pass the SSE-C key the object was uploaded with: --sse-c-key-file"),
        E::Io { source, .. } => {
            if crate::cancel::is_cancel_error(source) {
                CliError::new(Class::Interrupted, "interrupted")
            } else if source.kind() == std::io::ErrorKind::NotFound {
                CliError::new(Class::NotFound, msg)
            } else {
                CliError::new(Class::Io, msg)
            }
        }
        E::SourceChanged { .. } | E::CannotResume { .. } => CliError::usage(msg),
        E::UploadGone { .. } => CliError::new(Class::NotFound, msg),
        E::Journal { .. } => CliError::new(Class::Io, msg)
            .hint("check the state folder (see docs/CLI.md, `put --resume`), then put again"),
        E::UploadAborted { source, .. } => {
            let inner = s3_error(source);
            CliError::new(inner.class(), msg)
        }
        _ => CliError::new(Class::Service, msg).hint(
            "check the network, the endpoint (--endpoint-url) and the credentials, then retry",
        ),
    }
}

/// The CLI error for a failed SDK call on `object`.
pub(crate) fn sdk_error<E>(
    operation: &str,
    object: &str,
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().unwrap_or("");
    let status = e.raw_response().map(|r| r.status().as_u16());
    let sse_c_object = e.raw_response().is_some_and(|r| {
        r.headers()
            .get("x-amz-server-side-encryption-customer-algorithm")
            .is_some()
    });
    let detail = match (e.message(), status) {
        (Some(m), _) if !code.is_empty() => format!("{code}: {m}"),
        (Some(m), _) => m.to_owned(),
        (None, _) if !code.is_empty() => code.to_owned(),
        (None, Some(st)) => format!("HTTP status {st}"),
        (None, None) => transport_detail(e),
    };
    let message = format!("S3 {operation} on {object} failed: {detail}");
    let mentions_sse_c = e
        .message()
        .is_some_and(|m| m.to_ascii_lowercase().contains("customer"));
    if (sse_c_object && matches!(status, Some(400 | 403))) || mentions_sse_c {
        return CliError::new(Class::Key, message).hint(
            "the object is stored with SSE-C: pass the customer key it was uploaded with \
             (--sse-c-key-file)",
        );
    }
    match (code, status) {
        ("NoSuchKey" | "NoSuchBucket" | "NotFound" | "NoSuchUpload", _) | (_, Some(404)) => {
            CliError::new(Class::NotFound, message)
        }
        ("AccessDenied", _) | (_, Some(403)) => CliError::new(Class::Service, message)
            .hint("check the AWS credentials, the Region and the bucket policy"),
        _ => CliError::new(Class::Service, message).hint(
            "check the network, the endpoint (--endpoint-url), the Region and the credentials",
        ),
    }
}

/// A short description of a transport failure: the SDK's summary and the
/// innermost cause (`connection refused`, `timed out`).
fn transport_detail<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let top = e.to_string();
    let root = inner.to_string();
    // Never the `Debug` dump that `DisplayErrorContext` appends.
    if root == top || top.contains(&root) {
        top
    } else {
        format!("{top}: {root}")
    }
}

/// The one header read of an operation that goes on to unwrap a key
/// (get, cat, share, rewrap): every later request of the operation is
/// checked against it by the S3 crate. No key is used.
pub(crate) async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    sse: &SseKeys,
) -> Result<sealstream_s3::ObjectHead> {
    use sealstream_s3::Error as E;
    let object = format!("s3://{bucket}/{key}");
    match sealstream_s3::ObjectHead::read(s3, bucket, key, &sse.sse).await {
        Ok(h) => Ok(h),
        Err(E::AccessDenied { .. }) if sse.customer.is_some() => Err(CliError::new(
            Class::Key,
            format!("S3 GetObject on {object} was refused (HTTP 403) with the SSE-C key given"),
        )
        .hint(
            "pass the SSE-C key the object was uploaded with (--sse-c-key-file), and check the \
             credentials",
        )),
        Err(e) => Err(s3_error(&e)),
    }
}

/// A header read without any key: the header, its length and the object
/// length.
pub(crate) async fn read_header(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    sse: &SseKeys,
) -> Result<(Header, usize, u64)> {
    let object = format!("s3://{bucket}/{key}");
    let (first, total) = get_range(s3, bucket, key, 0, FIRST_HEADER_FETCH, &object, sse).await?;
    match Header::parse_prefix(&first).map_err(|e| CliError::format(&object, &e))? {
        HeaderParse::Complete { header, len } => Ok((header, len, total)),
        HeaderParse::NeedMore { needed } => {
            if (needed as u64) > total || (first.len() as u64) >= total {
                return Err(CliError::format(
                    &object,
                    &sealstream_format::Error::Truncated {
                        detail: "the object ends inside its header",
                    },
                ));
            }
            let (all, total) = get_range(s3, bucket, key, 0, needed as u64, &object, sse).await?;
            let header = Header::parse(all.get(..needed).unwrap_or(&all))
                .map_err(|e| CliError::format(&object, &e))?;
            Ok((header, needed, total))
        }
    }
}

/// GETs bytes `start..start+len` (clamped to the object); returns them and
/// the object's total length.
pub(crate) async fn get_range(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    start: u64,
    len: u64,
    object: &str,
    sse: &SseKeys,
) -> Result<(Vec<u8>, u64)> {
    let end = start + len.max(1) - 1;
    let req = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(format!("bytes={start}-{end}"));
    let out = sse.apply_get(req).send().await;
    let out = match out {
        Ok(o) => o,
        // An empty object has no satisfiable range.
        Err(e) if e.code() == Some("InvalidRange") => {
            return Err(CliError::format(
                object,
                &sealstream_format::Error::Truncated {
                    detail: "the object is empty",
                },
            ));
        }
        Err(e)
            if sse.customer.is_some()
                && e.raw_response().is_some_and(|r| r.status().as_u16() == 403) =>
        {
            return Err(CliError::new(
                Class::Key,
                format!("S3 GetObject on {object} was refused (HTTP 403) with the SSE-C key given"),
            )
            .hint("pass the SSE-C key the object was uploaded with (--sse-c-key-file), and check the credentials"));
        }
        Err(e) => return Err(sdk_error("GetObject", object, &e)),
    };
    let total = out
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|t| t.parse::<u64>().ok())
        .or_else(|| out.content_length().and_then(|n| u64::try_from(n).ok()))
        .unwrap_or(0);
    let data = out
        .body
        .collect()
        .await
        .map_err(|e| CliError::new(Class::Service, format!("reading {object}: {e}")))?
        .into_bytes()
        .to_vec();
    Ok((data, total))
}

/// One listed S3 object.
#[derive(Debug)]
pub(crate) struct Listed {
    /// Full key.
    pub(crate) key: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Seconds since the Unix epoch.
    pub(crate) modified: Option<u64>,
}

/// Lists every object under `prefix`.
pub(crate) async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>> {
    let shown = format!("s3://{bucket}/{prefix}");
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| sdk_error("ListObjectsV2", &shown, &e))?;
        for o in resp.contents() {
            let Some(key) = o.key() else { continue };
            out.push(Listed {
                key: key.to_owned(),
                size: o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                modified: o.last_modified().and_then(|t| u64::try_from(t.secs()).ok()),
            });
        }
        match resp.next_continuation_token() {
            Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// One in-progress multipart upload.
#[derive(Debug)]
pub(crate) struct PendingUpload {
    /// Object key.
    pub(crate) key: String,
    /// Upload id.
    pub(crate) upload_id: String,
    /// When it was started (seconds since the Unix epoch).
    pub(crate) initiated: Option<u64>,
}

/// Lists the in-progress multipart uploads under `prefix`.
pub(crate) async fn list_uploads(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<PendingUpload>> {
    let shown = format!("s3://{bucket}/{prefix}");
    let mut out = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let resp = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(id_marker.take())
            .send()
            .await
            .map_err(|e| sdk_error("ListMultipartUploads", &shown, &e))?;
        for u in resp.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            out.push(PendingUpload {
                key: key.to_owned(),
                upload_id: id.to_owned(),
                initiated: u.initiated().and_then(|t| u64::try_from(t.secs()).ok()),
            });
        }
        if resp.is_truncated() == Some(true) {
            key_marker = resp.next_key_marker().map(str::to_owned);
            id_marker = resp.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        } else {
            break;
        }
    }
    Ok(out)
}

/// Aborts one multipart upload (an upload already gone counts as done).
pub(crate) async fn abort_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<()> {
    match s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
        Err(e) => Err(sdk_error(
            "AbortMultipartUpload",
            &format!("s3://{bucket}/{key}"),
            &e,
        )),
    }
}

/// After Ctrl-C during a put: aborts the uploads of exactly `key` started
/// since `since` (the S3 crate also aborts on drop, in the background;
/// this makes it certain before the process exits).
pub(crate) async fn abort_uploads_of(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    since: SystemTime,
) -> Result<usize> {
    let since = since
        .checked_sub(Duration::from_secs(60))
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut n = 0;
    for u in list_uploads(s3, bucket, key).await? {
        if u.key == key && u.initiated.is_none_or(|t| t >= since) {
            abort_upload(s3, bucket, key, &u.upload_id).await?;
            n += 1;
        }
    }
    Ok(n)
}
