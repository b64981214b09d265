//! The AWS KMS provider (`aws-kms`).
//!
//! - **Seal**: the first KMS provider of a keyring calls `GenerateDataKey`
//!   (`KeySpec = AES_256`); further KMS providers (a second Region, a
//!   disaster-recovery key) wrap the same data key with `Encrypt`.
//! - **Open**: `Decrypt` with `KeyId` pinned to the record's key ARN. In
//!   **strict** mode (the default) a record is only tried if its key id is
//!   the configured key's ARN, decided without a KMS call. The opt-in
//!   **discovery** mode also tries any key ARN of the named AWS accounts.
//! - **Binding**: the KMS encryption context is the object's context pairs
//!   plus `sealstream:version = "2"`, `sealstream:suite = "<suite id in
//!   decimal>"`, `sealstream:salt = "<the body's salt, 48 lowercase hex
//!   digits>"` and, for an object bound to a name, `sealstream:name =
//!   "<name>"` (the context's own `sealstream:` keys are only the file
//!   metadata ones, so these never collide). A record therefore decrypts only
//!   for the object (bound section), body (salt) and name it was made for.
//! - **Record**: `key_id` = the key ARN KMS answers with (`KeyId` of the
//!   response), `wrapped` = the `CiphertextBlob`, unchanged.
//! - **Retries**: throttling, timeouts, unreachable endpoints and KMS
//!   internal errors are retried with exponential backoff and jitter, at
//!   most [`RetryPolicy::max_attempts`] attempts per call. The SDK's own
//!   retries are switched off in clients made by [`KmsProvider::client`],
//!   so the attempt count is exact.
//! - **Secrets**: the plaintext data key goes from `Blob::into_inner()`
//!   straight into zeroizing storage and then into a [`DataKey`]. The SDK's
//!   own HTTP and JSON buffers (and, for `Encrypt`, the request body built
//!   from the data key) are not wiped; that is outside this crate's reach.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};
use aws_types::SdkConfig;
use sealstream_format::{DATA_KEY_LEN, DataKey, KeyRecord};
use zeroize::Zeroizing;

use crate::error::{Error, KmsErrorKind, Result};
use crate::provider::{KeyProvider, WrapContext};
use crate::retry::{GaveUp, RetryPolicy};

mod batch;

#[cfg(fuzzing)]
pub(crate) use batch::ciphertext_blob;

pub use batch::{
    AWS_KMS_BATCH_PROVIDER_ID, BATCH_RECORD_VERSION, BatchLimits, KMS_CONTEXT_BATCH_VALUE,
    KMS_CONTEXT_KEY_KEY, OPEN_CACHE_ENTRIES, OPEN_CACHE_TTL,
};

/// The provider id of AWS KMS records.
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";
/// Reserved KMS encryption context key: the format version (`"2"`).
pub const KMS_CONTEXT_VERSION_KEY: &str = "sealstream:version";
/// Reserved KMS encryption context key: the suite id in decimal (`"1"`, `"2"`).
pub const KMS_CONTEXT_SUITE_KEY: &str = "sealstream:suite";
/// Reserved KMS encryption context key: the body's salt, 48 lowercase hex
/// digits.
pub const KMS_CONTEXT_SALT_KEY: &str = "sealstream:salt";
/// Reserved KMS encryption context key: the object name (absent for an
/// object bound to no name).
pub const KMS_CONTEXT_NAME_KEY: &str = "sealstream:name";

/// Opt-in discovery: open records of any KMS key in these accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsDiscovery {
    /// The AWS account ids (12 digits) whose keys may be tried.
    pub accounts: Vec<String>,
    /// The ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
}

/// Configuration of one [`KmsProvider`].
#[derive(Clone, PartialEq, Eq)]
pub struct KmsConfig {
    /// The key to seal with (key ARN, key id, alias name or alias ARN), and
    /// in strict mode the only key whose records are opened. Records are
    /// matched against its ARN, so an alias or bare key id needs
    /// [`KmsProvider::connect`] (one `DescribeKey` call) before it can open
    /// anything. `None` makes an open-only discovery provider.
    pub key_id: Option<String>,
    /// Discovery mode; `None` is strict mode.
    pub discovery: Option<KmsDiscovery>,
    /// Grant tokens sent with every call.
    pub grant_tokens: Vec<String>,
    /// Retries and per-attempt timeout.
    pub retry: RetryPolicy,
    /// Opt-in batch sealing ([`KmsConfig::with_batch`]); `None` (the
    /// default) makes one `aws-kms` record, one `GenerateDataKey`, per
    /// object.
    pub batch: Option<BatchLimits>,
}

impl fmt::Debug for KmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsConfig")
            .field("key_id", &self.key_id)
            .field("discovery", &self.discovery)
            .field("grant_tokens", &self.grant_tokens.len())
            .field("retry", &self.retry)
            .field("batch", &self.batch)
            .finish()
    }
}

impl KmsConfig {
    /// Strict mode with one key: seals with it, opens only its records.
    pub fn strict(key_id: impl Into<String>) -> Self {
        KmsConfig {
            key_id: Some(key_id.into()),
            discovery: None,
            grant_tokens: Vec::new(),
            retry: RetryPolicy::default(),
            batch: None,
        }
    }

    /// Open-only discovery: tries records of any key ARN in `accounts`
    /// (partition `aws`). Cannot seal.
    pub fn discovery<S: Into<String>>(accounts: impl IntoIterator<Item = S>) -> Self {
        KmsConfig {
            key_id: None,
            discovery: Some(KmsDiscovery {
                accounts: accounts.into_iter().map(Into::into).collect(),
                partition: "aws".into(),
            }),
            grant_tokens: Vec::new(),
            retry: RetryPolicy::default(),
            batch: None,
        }
    }

    /// Adds discovery of `accounts` to a strict configuration.
    #[must_use]
    pub fn with_discovery<S: Into<String>>(
        mut self,
        accounts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.discovery = Some(KmsDiscovery {
            accounts: accounts.into_iter().map(Into::into).collect(),
            partition: "aws".into(),
        });
        self
    }

    /// Sets the grant tokens.
    #[must_use]
    pub fn with_grant_tokens<S: Into<String>>(
        mut self,
        tokens: impl IntoIterator<Item = S>,
    ) -> Self {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Seals `aws-kms-batch` records: one `GenerateDataKey` makes a batch
    /// key for up to `limits.max_objects` objects with the same user pairs,
    /// for up to `limits.max_age`, and each object's data key is derived
    /// from it, bound to the object (docs/FORMAT.md, "`aws-kms-batch`").
    /// [`KeyProvider::wrap`] (further keys, rewrap) still makes `aws-kms`
    /// records. Opening accepts both kinds whatever this setting.
    #[must_use]
    pub fn with_batch(mut self, limits: BatchLimits) -> Self {
        self.batch = Some(limits);
        self
    }
}

/// The parts of `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`.
#[derive(Debug, PartialEq, Eq)]
struct KeyArn<'a> {
    partition: &'a str,
    account: &'a str,
}

fn parse_key_arn(s: &str) -> Option<KeyArn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let id = resource.strip_prefix("key/")?;
    let ok = arn == "arn"
        && !partition.is_empty()
        && service == "kms"
        && !region.is_empty()
        && is_account_id(account)
        && !id.is_empty()
        && !id.contains(['/', ':']);
    ok.then_some(KeyArn { partition, account })
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A data-key provider backed by one AWS KMS key (or, in discovery mode,
/// the keys of some accounts).
pub struct KmsProvider {
    client: Client,
    config: KmsConfig,
    key_arn: Option<String>,
    seal_batch: Option<batch::SealState>,
    open_cache: batch::OpenCache,
}

impl fmt::Debug for KmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsProvider")
            .field("key_arn", &self.key_arn)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KmsProvider {
    /// A KMS client for `sdk` (region, credentials, endpoint override, as
    /// the caller loaded them) with the SDK's own retries turned
    /// off: the provider retries by its [`RetryPolicy`].
    pub fn client(sdk: &SdkConfig) -> Client {
        let conf = aws_sdk_kms::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(conf)
    }

    /// A provider over `client`, without any KMS call. A `key_id` that is
    /// not a key ARN can seal but cannot open in strict mode until resolved;
    /// use [`KmsProvider::connect`] for aliases. Pass a client whose SDK
    /// retries are off ([`KmsProvider::client`]), or attempts multiply.
    pub fn new(client: Client, config: KmsConfig) -> Result<Self> {
        if let Some(k) = &config.key_id
            && k.trim().is_empty()
        {
            return Err(Error::Config("the KMS key id is empty".into()));
        }
        match &config.discovery {
            None if config.key_id.is_none() => {
                return Err(Error::Config(
                    "a KMS provider needs a key id, or discovery mode with account ids".into(),
                ));
            }
            Some(d) => {
                if d.accounts.is_empty() {
                    return Err(Error::Config(
                        "KMS discovery mode needs at least one AWS account id (discovery of \
                         every account is not offered)"
                            .into(),
                    ));
                }
                if let Some(bad) = d.accounts.iter().find(|a| !is_account_id(a)) {
                    return Err(Error::Config(format!(
                        "KMS discovery account id {bad:?} is not 12 digits"
                    )));
                }
            }
            None => {}
        }
        if let Some(limits) = &config.batch {
            limits.validate()?;
        }
        if config.retry.max_attempts == 0 {
            return Err(Error::Config(
                "KMS retry max_attempts must be at least 1".into(),
            ));
        }
        let key_arn = config
            .key_id
            .as_deref()
            .filter(|k| parse_key_arn(k).is_some())
            .map(str::to_owned);
        let seal_batch = config.batch.map(batch::SealState::new);
        Ok(KmsProvider {
            client,
            config,
            key_arn,
            seal_batch,
            open_cache: batch::OpenCache::default(),
        })
    }

    /// A provider with a client made by [`KmsProvider::client`]; resolves
    /// an alias or bare key id to its key ARN with one `DescribeKey` call,
    /// so that strict mode can open its records.
    pub async fn connect(sdk: &SdkConfig, config: KmsConfig) -> Result<Self> {
        let mut p = Self::new(Self::client(sdk), config)?;
        p.resolve_key_arn().await?;
        Ok(p)
    }

    /// Resolves the configured key to its ARN (`DescribeKey`) if it is not
    /// one already.
    pub async fn resolve_key_arn(&mut self) -> Result<()> {
        let Some(key) = self.config.key_id.clone() else {
            return Ok(());
        };
        if self.key_arn.is_some() {
            return Ok(());
        }
        let out = self
            .call(&key, "DescribeKey", || {
                self.client
                    .describe_key()
                    .key_id(&key)
                    .set_grant_tokens(self.grant_tokens())
                    .send()
            })
            .await?;
        let arn = out
            .key_metadata()
            .and_then(|m| m.arn())
            .filter(|a| parse_key_arn(a).is_some())
            .ok_or_else(|| {
                kms_error(
                    &key,
                    KmsErrorKind::Other,
                    "DescribeKey returned no key ARN".into(),
                    false,
                )
            })?;
        self.key_arn = Some(arn.to_owned());
        Ok(())
    }

    /// The configured key's ARN, once known.
    pub fn key_arn(&self) -> Option<&str> {
        self.key_arn.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> &KmsConfig {
        &self.config
    }

    fn grant_tokens(&self) -> Option<Vec<String>> {
        (!self.config.grant_tokens.is_empty()).then(|| self.config.grant_tokens.clone())
    }

    fn seal_key_id(&self) -> Result<&str> {
        self.config.key_id.as_deref().ok_or_else(|| {
            Error::Config(
                "this AWS KMS provider is open-only (discovery without a key id); configure a \
                 key to seal with"
                    .into(),
            )
        })
    }

    /// One KMS operation with bounded, jittered retries of transient errors.
    async fn call<T, E, F, Fut>(&self, key: &str, op: &'static str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let policy = &self.config.retry;
        let timeout = policy.attempt_timeout;
        let outcome = policy
            .run(
                |_| {
                    let fut = f();
                    async move {
                        match tokio::time::timeout(timeout, fut).await {
                            Ok(Ok(v)) => Ok(v),
                            Ok(Err(e)) => Err(classify(op, &e)),
                            Err(_) => Err(Failure {
                                kind: KmsErrorKind::Unreachable,
                                detail: format!("{op} got no answer within {timeout:?}"),
                            }),
                        }
                    }
                },
                |failure: &Failure| {
                    matches!(
                        failure.kind,
                        KmsErrorKind::Throttled
                            | KmsErrorKind::Unreachable
                            | KmsErrorKind::ServiceUnavailable
                    )
                },
            )
            .await;
        match outcome {
            Ok(v) => Ok(v),
            Err(GaveUp {
                error: failure,
                attempts,
                transient,
            }) => {
                let reason = if transient {
                    format!(
                        "{} (gave up after {attempts} attempt{})",
                        failure.detail,
                        if attempts == 1 { "" } else { "s" }
                    )
                } else {
                    failure.detail
                };
                Err(kms_error(key, failure.kind, reason, transient))
            }
        }
    }
}

fn kms_error(key: &str, kind: KmsErrorKind, reason: String, retryable: bool) -> Error {
    Error::Kms {
        key_id: key.to_owned(),
        reason,
        retryable,
        kind,
    }
}

struct Failure {
    kind: KmsErrorKind,
    detail: String,
}

/// At most this much of a server's error message is quoted.
const MAX_QUOTED: usize = 300;

fn quoted(msg: Option<&str>) -> String {
    match msg {
        Some(m) if !m.is_empty() => {
            let mut end = m.len().min(MAX_QUOTED);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            format!(": {}", m.get(..end).unwrap_or_default())
        }
        _ => String::new(),
    }
}

fn classify<E>(op: &'static str, err: &SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use KmsErrorKind as K;
    match err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("");
            let msg = quoted(err.message());
            let status = err.raw_response().map(|r| r.status().as_u16());
            let (kind, detail) = match code {
                "ThrottlingException"
                | "Throttling"
                | "ThrottledException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException" => (
                    K::Throttled,
                    format!(
                        "{op} was throttled ({code}{msg}): lower the request rate or raise the \
                         KMS request quota"
                    ),
                ),
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "InvalidClientTokenId" => (
                    K::AccessDenied,
                    if op == "Decrypt" {
                        format!(
                            "{op} was denied ({code}{msg}): the credentials in use may not call \
                             kms:Decrypt on this key (check the key policy, IAM policies and \
                             grants), or the record was wrapped under another key"
                        )
                    } else {
                        format!(
                            "{op} was denied ({code}{msg}): the credentials in use may not call \
                             kms:{op} on this key (check the key policy, IAM policies and grants)"
                        )
                    },
                ),
                "DisabledException" | "KMSInvalidStateException" => (
                    K::Disabled,
                    format!(
                        "the key cannot be used now ({code}{msg}): it is disabled, pending \
                         deletion or pending import; enable it (or cancel its deletion)"
                    ),
                ),
                "NotFoundException" => (
                    K::NotFound,
                    format!(
                        "the key was not found ({code}{msg}): check the key ARN, the Region \
                         and the account"
                    ),
                ),
                "InvalidCiphertextException" => (
                    K::InvalidCiphertext,
                    format!(
                        "the wrapped data key does not decrypt under this key and encryption \
                         context ({code}{msg}): the object's encryption context was changed, or \
                         its key record was modified or copied from another object"
                    ),
                ),
                "IncorrectKeyException" => (
                    K::IncorrectKey,
                    format!("the record was wrapped under a different KMS key ({code}{msg})"),
                ),
                "InvalidKeyUsageException"
                | "InvalidGrantTokenException"
                | "ValidationException"
                | "InvalidParameterException"
                | "UnsupportedOperationException" => (
                    K::InvalidRequest,
                    format!(
                        "{op} was rejected ({code}{msg}): the key must be a symmetric \
                         ENCRYPT_DECRYPT key and the grant tokens valid"
                    ),
                ),
                "KMSInternalException"
                | "DependencyTimeoutException"
                | "KeyUnavailableException"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "InternalServerError" => (
                    K::ServiceUnavailable,
                    format!("KMS failed ({code}{msg}); retry later"),
                ),
                _ if status.is_some_and(|s| s >= 500) => (
                    K::ServiceUnavailable,
                    format!(
                        "KMS failed (HTTP {}{}{msg}); retry later",
                        status.unwrap_or(500),
                        if code.is_empty() {
                            String::new()
                        } else {
                            format!(" {code}")
                        }
                    ),
                ),
                _ => (
                    K::Other,
                    format!(
                        "{op} failed ({}{msg})",
                        if code.is_empty() {
                            "unknown error"
                        } else {
                            code
                        }
                    ),
                ),
            };
            Failure { kind, detail }
        }
        SdkError::DispatchFailure(d) if d.is_user() => Failure {
            kind: K::Other,
            detail: format!("{op} could not be sent: {}", ErrorCause(err)),
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Failure {
            kind: K::Unreachable,
            detail: format!(
                "KMS could not be reached ({}): check the network, the endpoint URL and the \
                 Region",
                ErrorCause(err)
            ),
        },
        SdkError::ResponseError(_) => Failure {
            kind: K::ServiceUnavailable,
            detail: format!(
                "KMS sent an unreadable answer to {op} ({})",
                ErrorCause(err)
            ),
        },
        _ => Failure {
            kind: K::Other,
            detail: format!("{op} failed: {}", ErrorCause(err)),
        },
    }
}

/// An SDK error as one line: its own message and its root cause
/// (`dispatch failure: Connection refused (os error 111)`), never the
/// `Debug` dump that `DisplayErrorContext` appends.
struct ErrorCause<'a, E: std::error::Error + 'static>(&'a E);

impl<E: std::error::Error + 'static> fmt::Display for ErrorCause<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let top = self.0.to_string();
        let mut root: &dyn std::error::Error = self.0;
        while let Some(next) = root.source() {
            root = next;
        }
        let root = root.to_string();
        if root == top || top.contains(&root) {
            f.write_str(&top)
        } else {
            write!(f, "{top}: {root}")
        }
    }
}

/// The KMS encryption context: the object's pairs plus the reserved ones
/// (see the module docs).
pub(crate) fn kms_context(ctx: WrapContext<'_>) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = ctx
        .context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    map.insert(
        KMS_CONTEXT_VERSION_KEY.into(),
        sealstream_format::FORMAT_VERSION.to_string(),
    );
    map.insert(KMS_CONTEXT_SUITE_KEY.into(), ctx.suite.id().to_string());
    map.insert(
        KMS_CONTEXT_SALT_KEY.into(),
        crate::keyfile::hex_lower(ctx.salt),
    );
    if !ctx.name.is_empty() {
        map.insert(KMS_CONTEXT_NAME_KEY.into(), ctx.name.to_owned());
    }
    map
}

/// Moves 32 bytes of KMS plaintext into zeroizing storage, wiping the
/// SDK's vector.
fn secret_from_blob(
    blob: Option<Blob>,
    key: &str,
    op: &str,
) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
    let plain = Zeroizing::new(blob.map(Blob::into_inner).unwrap_or_default());
    let mut out = Zeroizing::new([0u8; DATA_KEY_LEN]);
    if plain.len() != DATA_KEY_LEN {
        return Err(kms_error(
            key,
            KmsErrorKind::Other,
            format!(
                "{op} returned a {}-byte data key; sealstream data keys are {DATA_KEY_LEN} bytes",
                plain.len()
            ),
            false,
        ));
    }
    out.copy_from_slice(&plain);
    Ok(out)
}

fn record_from(key: &str, op: &str, arn: Option<String>, blob: Option<Blob>) -> Result<KeyRecord> {
    let (arn, wrapped) = answer_parts(key, op, arn, blob)?;
    Ok(KeyRecord::new(AWS_KMS_PROVIDER_ID, arn, wrapped)?)
}

/// The key ARN and `CiphertextBlob` of a `GenerateDataKey` or `Encrypt`
/// answer, both required.
fn answer_parts(
    key: &str,
    op: &str,
    arn: Option<String>,
    blob: Option<Blob>,
) -> Result<(String, Vec<u8>)> {
    let arn = arn.filter(|a| parse_key_arn(a).is_some()).ok_or_else(|| {
        kms_error(
            key,
            KmsErrorKind::Other,
            format!("{op} returned no key ARN"),
            false,
        )
    })?;
    let wrapped = blob.map(Blob::into_inner).unwrap_or_default();
    if wrapped.is_empty() {
        return Err(kms_error(
            key,
            KmsErrorKind::Other,
            format!("{op} returned no ciphertext"),
            false,
        ));
    }
    Ok((arn, wrapped))
}

#[async_trait]
impl KeyProvider for KmsProvider {
    fn provider_id(&self) -> &'static str {
        AWS_KMS_PROVIDER_ID
    }

    fn describe(&self) -> String {
        let key = self
            .key_arn
            .as_deref()
            .or(self.config.key_id.as_deref())
            .unwrap_or("(none)");
        let unresolved = if self.key_arn.is_none() && self.config.key_id.is_some() {
            " (not a key ARN and not resolved: it seals, but opens nothing in strict mode; use \
             KmsProvider::connect or configure the key ARN)"
        } else {
            ""
        };
        match &self.config.discovery {
            None => format!("AWS KMS key {key} (strict){unresolved}"),
            Some(d) => format!(
                "AWS KMS key {key}, discovery of accounts {}",
                d.accounts.join(", ")
            ),
        }
    }

    async fn generate(&self, ctx: WrapContext<'_>) -> Result<(DataKey, KeyRecord)> {
        if let Some(state) = &self.seal_batch {
            return self.generate_batched(state, ctx).await;
        }
        let key = self.seal_key_id()?;
        let (secret, arn, wrapped) = self.generate_data_key(key, kms_context(ctx)).await?;
        let record = KeyRecord::new(AWS_KMS_PROVIDER_ID, arn, wrapped)?;
        Ok((DataKey::from_bytes(*secret), record))
    }

    async fn wrap(&self, data_key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        let key = self.seal_key_id()?;
        let ec = kms_context(ctx);
        let mut out = self
            .call(key, "Encrypt", || {
                self.client
                    .encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(data_key.expose_secret().to_vec()))
                    .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
                    .set_encryption_context(Some(ec.clone()))
                    .set_grant_tokens(self.grant_tokens())
                    .send()
            })
            .await?;
        record_from(
            key,
            "Encrypt",
            out.key_id.take(),
            out.ciphertext_blob.take(),
        )
    }

    fn accepts(&self, record: &KeyRecord) -> bool {
        if record.provider() != AWS_KMS_PROVIDER_ID
            && record.provider() != AWS_KMS_BATCH_PROVIDER_ID
        {
            return false;
        }
        let id = record.key_id();
        if self.key_arn.as_deref() == Some(id) {
            return true;
        }
        match (&self.config.discovery, parse_key_arn(id)) {
            (Some(d), Some(arn)) => {
                arn.partition == d.partition && d.accounts.iter().any(|a| a == arn.account)
            }
            _ => false,
        }
    }

    async fn unwrap_unverified(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        let key = record.key_id();
        if record.provider() == AWS_KMS_BATCH_PROVIDER_ID {
            return self.unwrap_batched(record, ctx).await;
        }
        let ec = kms_context(ctx);
        let plain = self.decrypt(key, record.wrapped(), ec).await?;
        Ok(DataKey::from_bytes(*plain))
    }
}

impl KmsProvider {
    /// One `GenerateDataKey` (AES-256) under `key` with encryption context
    /// `ec`: the plaintext key (zeroizing), the key ARN KMS answered with and
    /// the `CiphertextBlob`, all checked.
    async fn generate_data_key(
        &self,
        key: &str,
        ec: HashMap<String, String>,
    ) -> Result<(Zeroizing<[u8; DATA_KEY_LEN]>, String, Vec<u8>)> {
        let mut out = self
            .call(key, "GenerateDataKey", || {
                self.client
                    .generate_data_key()
                    .key_id(key)
                    .key_spec(DataKeySpec::Aes256)
                    .set_encryption_context(Some(ec.clone()))
                    .set_grant_tokens(self.grant_tokens())
                    .send()
            })
            .await?;
        let secret = secret_from_blob(out.plaintext.take(), key, "GenerateDataKey")?;
        let (arn, wrapped) = answer_parts(
            key,
            "GenerateDataKey",
            out.key_id.take(),
            out.ciphertext_blob.take(),
        )?;
        Ok((secret, arn, wrapped))
    }

    /// `generate` with batching on: the object's data key derived from the
    /// current batch key, which is made (one `GenerateDataKey`) when there
    /// is none, the object's user pairs differ, or a limit is reached.
    async fn generate_batched(
        &self,
        state: &batch::SealState,
        ctx: WrapContext<'_>,
    ) -> Result<(DataKey, KeyRecord)> {
        let key = self.seal_key_id()?;
        let context = batch::batch_context(ctx);
        // Held across GenerateDataKey: parallel jobs wait for one call.
        let mut current = state.current.lock().await;
        if !current
            .as_ref()
            .is_some_and(|b| b.usable(&state.limits, &context))
        {
            // The old batch key is wiped here, before the call.
            *current = None;
            let (batch_key, key_arn, blob) = self
                .generate_data_key(key, context.clone().into_iter().collect())
                .await?;
            let mut wrapped = Vec::with_capacity(1 + blob.len());
            wrapped.push(BATCH_RECORD_VERSION);
            wrapped.extend_from_slice(&blob);
            *current = Some(batch::SealBatch {
                key: batch_key,
                key_arn,
                wrapped,
                context,
                created: tokio::time::Instant::now(),
                used: 0,
            });
        }
        let b = current.as_mut().ok_or_else(|| {
            Error::Config("internal error: no KMS batch after GenerateDataKey".into())
        })?;
        let record = KeyRecord::new(
            AWS_KMS_BATCH_PROVIDER_ID,
            b.key_arn.clone(),
            b.wrapped.clone(),
        )?;
        let data_key = batch::derive(&b.key, &b.key_arn, ctx)?;
        b.used += 1;
        Ok((data_key, record))
    }

    /// `unwrap_unverified` of an `aws-kms-batch` record: the batch key (cached, or one
    /// `Decrypt`), then the object's derivation.
    async fn unwrap_batched(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        let key = record.key_id();
        let blob = batch::ciphertext_blob(key, record.wrapped())?;
        let context = batch::batch_context(ctx);
        let batch_key = self
            .open_cache
            .get_or_decrypt(key, blob, &context, || {
                self.decrypt(key, blob, context.clone().into_iter().collect())
            })
            .await?;
        batch::derive(&batch_key, key, ctx)
    }

    /// `Decrypt` with `KeyId` pinned to `key` and the answer checked
    /// (32 bytes, the same key named).
    async fn decrypt(
        &self,
        key: &str,
        blob: &[u8],
        ec: HashMap<String, String>,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
        let mut out = self
            .call(key, "Decrypt", || {
                self.client
                    .decrypt()
                    .key_id(key)
                    .ciphertext_blob(Blob::new(blob.to_vec()))
                    .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
                    .set_encryption_context(Some(ec.clone()))
                    .set_grant_tokens(self.grant_tokens())
                    .send()
            })
            .await?;
        let plain = secret_from_blob(out.plaintext.take(), key, "Decrypt")?;
        // docs/FORMAT.md, "Key records", aws-kms: the answer must name the
        // key the record names. An answer that names none is not evidence of
        // which key decrypted it, so it is refused as well.
        match out.key_id.as_deref() {
            Some(answered) if answered == key => {}
            Some(answered) => {
                return Err(kms_error(
                    key,
                    KmsErrorKind::IncorrectKey,
                    format!(
                        "Decrypt answered for another key ({answered}); the result is discarded"
                    ),
                    false,
                ));
            }
            None => {
                return Err(kms_error(
                    key,
                    KmsErrorKind::Other,
                    "Decrypt answered without naming the key (no KeyId); the result is \
                     discarded: a KMS-compatible server must return the key ARN it used"
                        .into(),
                    false,
                ));
            }
        }
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_vectors::{Vectors, unhex};
    use sealstream_format::{EncryptionContext, Header, Suite};

    fn rendered(map: &HashMap<String, String>) -> String {
        let mut pairs: Vec<_> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort();
        pairs.join(";")
    }

    /// The encryption context against tests/vectors/records.txt.
    #[test]
    fn kms_context_matches_the_vector() {
        let v = Vectors::load();
        let context = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
        let salt: [u8; 24] = unhex(v.get("salt")).try_into().unwrap();
        for (suite, name, vector) in [
            (Suite::Aes256Gcm, v.get("name"), "kms_context_suite1"),
            (Suite::XChaCha20Poly1305, "", "kms_context_suite2_unnamed"),
        ] {
            let bound = Header::bound_section_for(suite, &context);
            let ctx = WrapContext {
                suite,
                context: &context,
                bound: &bound,
                salt: &salt,
                name,
            };
            assert_eq!(rendered(&kms_context(ctx)), v.get(vector), "{vector}");
        }
    }

    /// The aws-kms-batch derivation and context against
    /// tests/vectors/records.txt (pyca's HKDFExpand).
    #[test]
    fn batch_derivation_matches_the_vector() {
        let v = Vectors::load();
        let salt: [u8; 24] = unhex(v.get("salt")).try_into().unwrap();
        let batch_key: [u8; 32] = unhex(v.get("batch_key")).try_into().unwrap();
        let arn = v.get("batch_arn");
        let context = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
        for (suite, name, vector) in [
            (Suite::Aes256Gcm, v.get("name"), "batch_data_key_suite1"),
            (
                Suite::XChaCha20Poly1305,
                "",
                "batch_data_key_suite2_unnamed",
            ),
        ] {
            let bound = Header::bound_section_for(suite, &context);
            let ctx = WrapContext {
                suite,
                context: &context,
                bound: &bound,
                salt: &salt,
                name,
            };
            let key = batch::derive(&batch_key, arn, ctx).unwrap();
            assert_eq!(
                key.expose_secret().to_vec(),
                unhex(v.get(vector)),
                "{vector}"
            );
            let moved = WrapContext {
                name: "other",
                ..ctx
            };
            let other = batch::derive(&batch_key, arn, moved).unwrap();
            assert_ne!(other.expose_secret(), key.expose_secret(), "{vector}");
        }
        let bound = Header::bound_section_for(Suite::Aes256Gcm, &context);
        let ctx = WrapContext {
            suite: Suite::Aes256Gcm,
            context: &context,
            bound: &bound,
            salt: &salt,
            name: "",
        };
        let ec: HashMap<String, String> = batch::batch_context(ctx).into_iter().collect();
        assert_eq!(rendered(&ec), v.get("batch_kms_context"));
    }

    /// `aws-kms-batch` `wrapped` layouts against tests/vectors/records.txt:
    /// `batch_wrapped_*` give their blob, `batch_invalid_*` are malformed.
    #[test]
    fn batch_wrapped_vectors() {
        let v = Vectors::load();
        let arn = v.get("batch_arn");
        let valid = v.starting_with("batch_wrapped_");
        assert_eq!(valid.len(), 2);
        for (name, hex) in valid {
            let wrapped = unhex(hex);
            assert_eq!(
                batch::ciphertext_blob(arn, &wrapped).unwrap(),
                &wrapped[1..],
                "{name}"
            );
        }
        let invalid = v.starting_with("batch_invalid_");
        assert!(invalid.len() >= 5);
        for (name, hex) in invalid {
            match batch::ciphertext_blob(arn, &unhex(hex)) {
                Err(Error::MalformedRecord { provider, reason }) => {
                    assert_eq!(provider, AWS_KMS_BATCH_PROVIDER_ID);
                    assert!(reason.contains(arn), "{name}: {reason}");
                }
                r => panic!("{name}: {r:?}"),
            }
        }
        assert!(batch::ciphertext_blob(arn, &[]).is_err());
    }

    #[test]
    fn key_arns() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            parse_key_arn(arn),
            Some(KeyArn {
                partition: "aws",
                account: "123456789012"
            })
        );
        for bad in [
            "arn:aws:kms:us-east-1:123456789012:alias/x",
            "arn:aws:kms:us-east-1:12345678901:key/x",
            "arn:aws:kms:us-east-1:123456789012:key/",
            "arn:aws:kms:us-east-1:123456789012:key/a:b",
            "arn:aws:s3:us-east-1:123456789012:key/x",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/x",
            "",
        ] {
            assert_eq!(parse_key_arn(bad), None, "{bad}");
        }
    }
}
