//! The client: an S3 client, a keyring and a [`Config`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use sealstream_format::{DataKey, EncryptionContext, Header, Salt};
use sealstream_kms::Keyring;
use tokio::io::AsyncRead;

use crate::config::{Config, effective_part_size};
use crate::error::{Error, Result, object_name};
use crate::pipeline::{self, PartHook, UploadOutcome};
use crate::resume::{self, PartGate, ResumeOutcome, ResumeState, UploadJournal};
use crate::s3target::{S3Target, Target, object_metadata};

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
        let hook = journal.map(|j| PartGate::fresh(j, &object) as Arc<dyn PartHook>);
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
            hook,
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
        hook: Option<Arc<dyn PartHook>>,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
        T: Target,
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
            hook,
        )
        .await
    }

    /// [`SealClient::upload_reader`], reporting to `journal` so that the
    /// upload can be resumed with [`SealClient::resume_reader`] if the
    /// process dies. `opts.plaintext_len` is required (a resumed upload
    /// must read the very same bytes again). An object that fits one part
    /// goes up in one PutObject and the journal hears nothing.
    ///
    /// Failures still abort the upload, as in `upload_reader`: only a
    /// process that dies (or a machine that stops) leaves it resumable.
    pub async fn upload_reader_journaled<R>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        opts: UploadOptions,
        journal: Arc<dyn UploadJournal>,
    ) -> Result<UploadOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        if opts.plaintext_len.is_none() {
            return Err(Error::InvalidArgument(format!(
                "a journaled upload of {} needs the plaintext length",
                object_name(bucket, key)
            )));
        }
        self.upload_reader_with(bucket, key, reader, opts, Some(journal))
            .await
    }

    /// Continues the interrupted multipart upload that `state` describes,
    /// reading the whole plaintext from `reader` again (it must yield
    /// exactly `state.plaintext_len` bytes, the same as the first time).
    ///
    /// The data key is unwrapped from the journaled header with this
    /// client's keyring and checked against the journaled commitment; the
    /// cipher is derived from the journaled salt, so each chunk gets the
    /// nonce it had before. Parts the server holds are checked (plaintext
    /// SHA-256 against the journal, re-sealed CRC32 against the server)
    /// and kept; the others are sealed and sent, and the upload completed.
    ///
    /// A part whose plaintext no longer matches its recorded intent fails
    /// with [`Error::SourceChanged`] inside [`Error::UploadAborted`]:
    /// nothing of it is sent and the upload is aborted. Any other failure
    /// after the upload was found aborts it too. Failures before that
    /// ([`Error::UploadGone`], [`Error::NoKey`], a transport error on
    /// ListParts, an invalid `state`) leave the upload as it was.
    pub async fn resume_reader<R>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        state: &ResumeState,
        journal: Arc<dyn UploadJournal>,
    ) -> Result<ResumeOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        let job = resume::Resume {
            s3: &self.s3,
            keyring: &self.keyring,
            config: &self.config,
            at: (bucket, key),
            state,
            journal,
        };
        resume::resume_upload(job, reader).await
    }

    /// [`SealClient::resume_reader`] from the file at `path`, which must
    /// still be `state.plaintext_len` bytes long.
    pub async fn resume_file(
        &self,
        bucket: &str,
        key: &str,
        path: impl AsRef<Path>,
        state: &ResumeState,
        journal: Arc<dyn UploadJournal>,
    ) -> Result<ResumeOutcome> {
        let path = path.as_ref();
        let (reader, len) = open_source_file(path).await?;
        if len != state.plaintext_len {
            return Err(Error::SourceChanged {
                object: object_name(bucket, key),
                detail: format!(
                    "{} is {len} bytes long, the upload was started for {}",
                    path.display(),
                    state.plaintext_len
                ),
            });
        }
        self.resume_reader(bucket, key, reader, state, journal)
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
