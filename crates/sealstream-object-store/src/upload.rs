//! Sealed multipart uploads: whatever sizes the caller passes to
//! `put_part`, the inner upload gets parts of whole chunk runs.
//!
//! ```text
//!  caller parts   | 3 MB |  7 MB  | 2 B | ... complete
//!  inner parts    | header+prefix+run(0..P) | run(P..2P) | ... | run(..end)+final chunk |
//! ```
//!
//! `P` is the store's part size (whole chunks). At most about one part of
//! plaintext is held; each part is sealed on every core before it is handed
//! to the inner upload, in call order (which fixes the chunk indices).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::try_join_all;
use object_store::{MultipartUpload, PutPayload, PutResult, UploadPart};
use sealstream_format::{CHUNK_SIZE, ChunkSealer, codec};

use crate::error::{Error, Result};

/// A multipart upload through a [`SealedStore`](crate::SealedStore).
///
/// **Call `complete`**: only it seals the final chunk and produces a valid
/// object. An upload that fails in `complete` is aborted before the error is
/// returned; one dropped unfinished is aborted on the Tokio runtime.
pub(crate) struct SealedUpload {
    path: String,
    inner: Option<Box<dyn MultipartUpload>>,
    cipher: Arc<ChunkSealer>,
    /// The header and body prefix, until the first part takes them.
    start: Option<Vec<u8>>,
    carry: Vec<u8>,
    next_index: u64,
    part_size: usize,
}

impl std::fmt::Debug for SealedUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedUpload")
            .field("path", &self.path)
            .field("next_index", &self.next_index)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

impl SealedUpload {
    pub(crate) fn new(
        path: String,
        inner: Box<dyn MultipartUpload>,
        cipher: ChunkSealer,
        start: Vec<u8>,
        part_size: usize,
    ) -> Self {
        SealedUpload {
            path,
            inner: Some(inner),
            cipher: Arc::new(cipher),
            start: Some(start),
            carry: Vec::new(),
            next_index: 0,
            part_size,
        }
    }

    /// Seals `plain` (whole chunks unless `last`) as the next run.
    fn seal(&mut self, plain: &[u8], last: bool) -> Result<Bytes> {
        let start = self.start.take().unwrap_or_default();
        let sealed_len =
            codec::sealed_run_len(plain.len(), last).map_err(|e| Error::format(&self.path, e))?;
        let mut out = Vec::with_capacity(start.len() + sealed_len);
        out.extend_from_slice(&start);
        out.resize(start.len() + sealed_len, 0);
        let (_, body) = out.split_at_mut(start.len());
        codec::seal_into(&self.cipher, self.next_index, plain, last, body, 0)
            .map_err(|e| Error::format(&self.path, e))?;
        self.next_index += (plain.len() / CHUNK_SIZE) as u64;
        Ok(Bytes::from(out))
    }

    fn inner(&mut self) -> Result<&mut Box<dyn MultipartUpload>> {
        self.inner.as_mut().ok_or_else(|| {
            Error::Upload {
                path: self.path.clone(),
                reason: "the upload was already completed or aborted".into(),
            }
            .into()
        })
    }
}

#[async_trait]
impl MultipartUpload for SealedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        for b in data.iter() {
            self.carry.extend_from_slice(b);
        }
        let mut parts = Vec::new();
        while self.carry.len() >= self.part_size {
            let rest = self.carry.split_off(self.part_size);
            let plain = std::mem::replace(&mut self.carry, rest);
            let sealed = match self.seal(&plain, false) {
                Ok(s) => s,
                Err(e) => return async move { Err(e) }.boxed(),
            };
            match self.inner() {
                Ok(inner) => parts.push(inner.put_part(sealed.into())),
                Err(e) => return async move { Err(e) }.boxed(),
            }
        }
        async move { try_join_all(parts).await.map(drop) }.boxed()
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let plain = std::mem::take(&mut self.carry);
        let result = async {
            let sealed = self.seal(&plain, true)?;
            let inner = self.inner()?;
            inner.put_part(sealed.into()).await?;
            inner.complete().await
        }
        .await;
        match result {
            Ok(r) => {
                self.inner = None;
                Ok(r)
            }
            Err(e) => {
                if let Some(mut inner) = self.inner.take() {
                    // The upload's own error is the one to report.
                    let _ = inner.abort().await;
                }
                Err(e)
            }
        }
    }

    async fn abort(&mut self) -> Result<()> {
        self.carry.clear();
        match self.inner.take() {
            Some(mut inner) => inner.abort().await,
            None => Ok(()),
        }
    }
}

impl Drop for SealedUpload {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = inner.abort().await;
            });
        }
    }
}
