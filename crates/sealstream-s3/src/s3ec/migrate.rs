//! Converting an S3EC object into a sealstream object, streaming.
//!
//! The S3EC plaintext flows straight into the sealing upload; it is sealed
//! before it leaves this process. The plaintext stream withholds its last
//! piece until the GCM tag verified and fails instead of ending otherwise,
//! so the upload (a PutObject after the whole source was read, or a
//! multipart upload completed only at the end of its input) is completed
//! only for an authentic source, and aborted for a tampered one.

use sealstream_format::EncryptionContext;
use tokio_util::io::StreamReader;

use super::keys::S3ecKeys;
use super::object::{S3ecObject, take_failure};
use super::{Error, Result};
use crate::client::{SealClient, UploadOptions};
use crate::pipeline::UploadOutcome;

/// What [`SealClient::migrate_s3ec`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MigrateOutcome {
    /// The sealstream upload.
    pub upload: UploadOutcome,
    /// The encryption context carried over (the S3EC context without its
    /// reserved `aws:x-amz-cek-alg`).
    pub context: EncryptionContext,
}

impl SealClient {
    /// Re-encrypts the S3EC object `source` into a sealstream object at
    /// `s3://bucket/key`, sealed with this client's keyring, carrying its
    /// encryption context over. Memory stays bounded (about the upload's
    /// part buffers) whatever the size; the new object is completed only
    /// after the source's tag verified, and on any failure nothing is
    /// written (the multipart upload is aborted). The source is not
    /// changed (unless `key` names it: then it is replaced, atomically, at
    /// completion).
    pub async fn migrate_s3ec(
        &self,
        source: &S3ecObject,
        keys: &S3ecKeys,
        bucket: &str,
        key: &str,
    ) -> Result<MigrateOutcome> {
        let object = source.name();
        let mut context = EncryptionContext::new();
        for (k, v) in source.envelope().user_context() {
            context.insert(k.clone(), v).map_err(|e| Error::Refused {
                object: object.clone(),
                detail: format!(
                    "its encryption context pair {k:?} cannot be carried into a sealstream \
                     object: {e}"
                ),
            })?;
        }
        let (stream, slot) = source.plaintext_stream(self.s3(), keys, None).await?;
        let reader = StreamReader::new(Box::pin(stream.map_err_io()));
        let opts = UploadOptions::default().context(context.clone());
        match self.upload_reader(bucket, key, reader, opts).await {
            Ok(upload) => Ok(MigrateOutcome { upload, context }),
            Err(e) => Err(take_failure(&slot).unwrap_or(Error::S3(e))),
        }
    }
}

trait MapErrIo {
    fn map_err_io(self) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send;
}

impl<S> MapErrIo for S
where
    S: futures_util::Stream<Item = crate::Result<bytes::Bytes>> + Send,
{
    fn map_err_io(self) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
        use futures_util::StreamExt;
        self.map(|r| r.map_err(std::io::Error::from))
    }
}
