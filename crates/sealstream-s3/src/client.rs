//! The client: an S3 client, a keyring and a [`Config`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use sealstream_format::{DataKey, EncryptionContext, FORMAT_VERSION, Header, Salt, Suite};
use sealstream_kms::Keyring;
use tokio::io::AsyncRead;

use crate::config::{Config, effective_part_size};
use crate::error::{Error, Result, object_name};
use crate::pipeline::{self, UploadOutcome};
use crate::resume::UploadJournal;
use crate::s3target::S3Target;

/// User metadata (`x-amz-meta-…`) sealstream writes on every object. The
/// object stays self-describing through its header; these are hints for
/// listings and for [`SealClient::share`]. They are not authenticated.
pub mod metadata {
    /// The format version (`1`).
    pub const VERSION: &str = "sealstream-version";
    /// The suite name (`aes-256-gcm`, `xchacha20-poly1305`).
    pub const SUITE: &str = "sealstream-suite";
    /// The plaintext length in bytes, when known at upload time (always
    /// for files and single-request uploads; for a stream of unknown
    /// length it is derived from the object length instead).
    pub const PLAINTEXT_LENGTH: &str = "sealstream-plaintext-length";
}

/// Uploads, downloads, ranged reads and presigned URLs of sealed objects.
///
/// Cheap to clone (the S3 client and keyring are reference-counted).
#[derive(Clone)]
pub struct SealClient {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) keyring: Keyring,
    pub(crate) config: Arc<Config>,
}

impl fmt::Debug for SealClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealClient")
            .field("keyring", &self.keyring)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What to seal an upload with, beyond the client's [`Config`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct UploadOptions {
    /// The encryption context bound to the object (stored in cleartext in
    /// the header and authenticated).
    pub context: EncryptionContext,
    /// The plaintext length, if known: it is checked against what the
    /// source yields, recorded in metadata, and grows the part size so that
    /// the upload needs at most 10,000 parts.
    pub plaintext_len: Option<u64>,
    /// `Content-Type` of the stored object (default
    /// `application/octet-stream`; the bytes are ciphertext either way).
    pub content_type: Option<String>,
    /// The object name the key records are bound to (docs/FORMAT.md, "Key
    /// records"); `None`: the object's key in the bucket, which is what
    /// [`SealClient`] downloads expect.
    pub name: Option<String>,
}

impl UploadOptions {
    /// Sets the encryption context.
    pub fn context(mut self, context: EncryptionContext) -> Self {
        self.context = context;
        self
    }

    /// Sets the known plaintext length.
    pub fn plaintext_len(mut self, len: u64) -> Self {
        self.plaintext_len = Some(len);
        self
    }

    /// Binds the object to `name` instead of its key (`""`: to no name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// An S3 client for `sdk`, the AWS SDK configuration the caller loaded
/// (credentials, Region, HTTP client, endpoint override; this crate loads
/// none). Path-style addressing is used whenever the configuration has an
/// endpoint URL (S3-compatible servers).
pub fn s3_client(sdk: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    s3_client_from(
        aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()),
    )
}

/// An S3 client from `conf` with this crate's tolerance for S3-compatible
/// servers whose SSE response headers the SDK cannot parse (a repeated
/// header is reduced to its first value) on every request, so that calls
/// made directly on [`SealClient::s3`] get it too.
pub fn s3_client_from(conf: aws_sdk_s3::config::Builder) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(conf.interceptor(crate::compat::SseHeaderCompat).build())
}

/// The metadata written on a new object.
pub(crate) fn object_metadata(suite: Suite, plaintext_len: Option<u64>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert(metadata::VERSION.to_owned(), FORMAT_VERSION.to_string());
    m.insert(metadata::SUITE.to_owned(), suite.name().to_owned());
    if let Some(n) = plaintext_len {
        m.insert(metadata::PLAINTEXT_LENGTH.to_owned(), n.to_string());
    }
    m
}

impl SealClient {
    /// A client over an existing S3 client. The keyring's first provider
    /// generates each object's data key; every provider wraps it.
    pub fn new(s3: aws_sdk_s3::Client, keyring: Keyring, config: Config) -> Result<Self> {
        Ok(SealClient {
            s3,
            keyring,
            config: Arc::new(config.validate()?),
        })
    }

    /// A client for the AWS SDK configuration `sdk` (see [`s3_client`]).
    pub fn from_sdk_config(
        sdk: &aws_types::SdkConfig,
        keyring: Keyring,
        config: Config,
    ) -> Result<Self> {
        SealClient::new(s3_client(sdk), keyring, config)
    }

    /// The same client with another configuration.
    pub fn with_config(&self, config: Config) -> Result<Self> {
        Ok(SealClient {
            s3: self.s3.clone(),
            keyring: self.keyring.clone(),
            config: Arc::new(config.validate()?),
        })
    }

    /// The underlying S3 client.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Seals everything `reader` yields into `s3://bucket/key`.
    ///
    /// Objects that fit one part go up in one PutObject; larger ones in a
    /// multipart upload whose parts are whole runs of sealed chunks, sealed
    /// on all cores with up to `upload_concurrency` parts in flight, each
    /// carrying a CRC32 the server verifies. On any failure, and when the
    /// returned future is dropped before it completes, the multipart upload
    /// is aborted: nothing appears under the key unless the upload
    /// completed.
    pub async fn upload_reader<R>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        opts: UploadOptions,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        self.upload_reader_with(bucket, key, reader, opts, None)
            .await
    }

    /// [`SealClient::upload_reader`], optionally reporting to a journal.
    pub(crate) async fn upload_reader_with<R>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        opts: UploadOptions,
        journal: Option<Arc<dyn UploadJournal>>,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        let object = object_name(bucket, key);
        let name = opts.name.as_deref().unwrap_or(key);
        let seal = self
            .keyring
            .seal_key(self.config.suite, opts.context, name)
            .await
            .map_err(|source| Error::Seal {
                object: object.clone(),
                source,
            })?;
        let target = S3Target {
            s3: self.s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object,
            sse: self.config.sse.clone(),
            retry: self.config.retry.clone(),
            metadata: object_metadata(self.config.suite, opts.plaintext_len),
            content_type: opts.content_type,
        };
        self.upload_sealed(
            reader,
            &target,
            &seal.header,
            &seal.key,
            seal.salt,
            opts.plaintext_len,
            journal,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn upload_sealed<R, T>(
        &self,
        reader: R,
        target: &T,
        header: &Header,
        key: &DataKey,
        salt: Salt,
        plaintext_len: Option<u64>,
        journal: Option<Arc<dyn UploadJournal>>,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
        T: pipeline::Target,
    {
        let part_size = effective_part_size(self.config.part_size, plaintext_len)?;
        pipeline::upload_with(
            reader,
            target,
            header,
            key,
            part_size,
            self.config.upload_concurrency,
            plaintext_len,
            salt,
            journal,
        )
        .await
    }

    /// Seals a stream of plaintext [`Bytes`] into `s3://bucket/key` (see
    /// [`SealClient::upload_reader`]).
    pub async fn upload_stream<S, E>(
        &self,
        bucket: &str,
        key: &str,
        stream: S,
        opts: UploadOptions,
    ) -> Result<UploadOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let reader = tokio_util::io::StreamReader::new(stream.map_err(std::io::Error::other));
        self.upload_reader(bucket, key, reader, opts).await
    }

    /// Seals the file at `path` into `s3://bucket/key` (see
    /// [`SealClient::upload_reader`]); its length sizes the parts and is
    /// recorded in metadata. The file must not change during the upload.
    pub async fn upload_file(
        &self,
        bucket: &str,
        key: &str,
        path: impl AsRef<Path>,
        mut opts: UploadOptions,
    ) -> Result<UploadOutcome> {
        let (reader, len) = open_source_file(path.as_ref()).await?;
        opts.plaintext_len = Some(len);
        self.upload_reader(bucket, key, reader, opts).await
    }
}

/// Opens the file an upload seals: a reader of it and its length.
pub(crate) async fn open_source_file(
    path: &Path,
) -> Result<(tokio::io::BufReader<tokio::fs::File>, u64)> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?
        .len();
    // Large reads from the file, copied into chunk slots: tokio's file
    // reads each go to the blocking pool, so they should be big.
    Ok((tokio::io::BufReader::with_capacity(2 << 20, file), len))
}
