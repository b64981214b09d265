//! S3 glue: clients from the configuration, SSE options, and the CLI's
//! reporting of S3 errors. The S3 work itself (header reads, listings,
//! aborts, error classification) is sealstream-s3's.

use std::path::Path;

use crate::aws::{AwsOptions, load_sdk_config};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use sealstream_format::Header;
use sealstream_kms::Keyring;
use sealstream_s3::{SealClient, Sse, SseCustomerKey};

use crate::app::App;
use crate::config::Sse as SseSetting;
use crate::error::{Class, CliError, Result};

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
/// endpoint is given; with the S3 crate's tolerance for servers that repeat
/// SSE response headers.
pub(crate) async fn client(app: &App) -> aws_sdk_s3::Client {
    let opts = s3_options(app);
    let sdk = load_sdk_config(&opts).await;
    let path_style = app.cfg.path_style.value || opts.endpoint_url.is_some();
    sealstream_s3::s3_client_from(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            // The SDK's own retries, from the same `[retry]` values.
            .retry_config(app.cfg.retry.value.sdk_retry_config()),
    )
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
        .sse(sse.sse.clone())
        .retry(app.cfg.retry.value.clone());
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
    let sse = sse(&app.cfg.sse.value)?;
    admin_client_for(app, client(app).await, &sse)
}

/// An administration client (see [`admin_client`]) over `s3` with the SSE
/// options `sse` (a verb's own `--sse-c-key-file`).
pub(crate) fn admin_client_for(
    app: &App,
    s3: aws_sdk_s3::Client,
    sse: &SseKeys,
) -> Result<SealClient> {
    use ring::rand::SecureRandom;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    ring::rand::SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| CliError::new(Class::Internal, "the system random source failed"))?;
    let key = sealstream_kms::LocalKeyProvider::from_key_bytes(&bytes, "unused admin key")
        .map_err(|e| CliError::kms("preparing an S3 client", &e))?;
    let ring = Keyring::new(vec![std::sync::Arc::new(key)])
        .map_err(|e| CliError::kms("preparing an S3 client", &e))?;
    seal_client(app, s3, ring, sealstream_format::Suite::Aes256Gcm, sse)
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

/// The CLI error for a failed SDK call on `object`, classified by the S3
/// crate ([`sealstream_s3::Error::from_sdk`]).
pub(crate) fn sdk_error<E>(
    operation: &'static str,
    object: &str,
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    s3_error(&sealstream_s3::Error::from_sdk(operation, object, e))
}

/// The CLI error for a failed read of `object`: an access refusal while an
/// SSE-C key was given most likely means the key is not the object's.
fn read_error(e: &sealstream_s3::Error, sse: &Sse) -> CliError {
    match e {
        sealstream_s3::Error::AccessDenied { object, .. } if matches!(sse, Sse::Customer(_)) => {
            CliError::new(
                Class::Key,
                format!("S3 GetObject on {object} was refused (HTTP 403) with the SSE-C key given"),
            )
            .hint(
                "pass the SSE-C key the object was uploaded with (--sse-c-key-file), and check \
                 the credentials",
            )
        }
        other => s3_error(other),
    }
}

/// `e` (a failed read of `s3://bucket/key`) reworded when the object does
/// not exist: "no object NAME in store s3://BUCKET/PREFIX", exit 3, with
/// the verb that lists what is there; the local store's wording
/// ([`crate::local::not_in_store`]). NAME is relative to the configured
/// store when the key lies in it, else the key in the bucket.
pub(crate) fn not_in_store(
    e: CliError,
    store: Option<&crate::location::Store>,
    bucket: &str,
    key: &str,
) -> CliError {
    if e.class() != Class::NotFound {
        return e;
    }
    let (prefix, name) = match store {
        Some(crate::location::Store::S3 { bucket: b, prefix })
            if b == bucket && key.len() > prefix.len() && key.starts_with(prefix.as_str()) =>
        {
            (prefix.as_str(), &key[prefix.len()..])
        }
        _ => ("", key),
    };
    CliError::new(
        Class::NotFound,
        format!(
            "no object {} in store s3://{bucket}/{}",
            crate::output::escape(name),
            crate::output::escape(prefix)
        ),
    )
    .hint("see `sealstream ls` for the objects it holds")
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
    sealstream_s3::ObjectHead::read(s3, bucket, key, &sse.sse)
        .await
        .map_err(|e| read_error(&e, &sse.sse))
}

/// A header read without any key ([`SealClient::read_header`] with the
/// client's SSE options): the header, its length and the object length.
pub(crate) async fn read_header(
    client: &SealClient,
    bucket: &str,
    key: &str,
) -> Result<(Header, usize, u64)> {
    let h = client
        .read_header(bucket, key)
        .await
        .map_err(|e| read_error(&e, &client.config().sse))?;
    let len = usize::try_from(h.header_len).unwrap_or(usize::MAX);
    Ok((h.header, len, h.object_len))
}
