//! Buffers and threads for sealing S3 parts and opening segments. The
//! chunks themselves are sealed and opened by the format crate's one codec
//! ([`sealstream_format::codec`]), in place, on all cores.

use std::sync::Arc;

use sealstream_format::ChunkSealer;

/// Runs `f` on the blocking pool (sealing or opening megabytes must not
/// stall the async workers).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| std::io::Error::other(format!("a sealing task failed: {e}")))
}

/// A small pool of part buffers, so that an upload reuses the same few
/// allocations whatever its size.
#[derive(Debug, Default)]
pub(crate) struct BufPool {
    free: Vec<Vec<u8>>,
}

impl BufPool {
    /// A buffer with at least `cap` bytes of capacity. A reused one keeps
    /// its old length and contents (ciphertext), so that filling it again
    /// does not have to zero it first.
    pub(crate) fn take(&mut self, cap: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut b) => {
                b.reserve(cap.saturating_sub(b.len()));
                b
            }
            None => Vec::with_capacity(cap),
        }
    }

    /// Returns a buffer (its contents are ciphertext; no wipe needed).
    pub(crate) fn give(&mut self, b: Vec<u8>) {
        if self.free.len() < 2 {
            self.free.push(b);
        }
    }

    /// Recovers a buffer from `Bytes` once nothing else holds it.
    pub(crate) fn give_bytes(&mut self, b: bytes::Bytes) {
        if let Ok(m) = b.try_into_mut() {
            self.give(Vec::from(m));
        }
    }
}

/// The sealer shared by all sealing tasks of one object.
pub(crate) type SharedSealer = Arc<ChunkSealer>;
