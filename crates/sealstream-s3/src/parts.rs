//! Sealing and opening runs of chunks held in one buffer, on all cores.
//!
//! A part (upload) or segment (download) buffer holds whole sealed chunks
//! back to back, each at a multiple of 16400 bytes from the start of the
//! run:
//!
//! ```text
//!  run offset 0        16400                  k*16400
//!  +-------------------+-------------------+ ... +-----------------------+
//!  | chunk i   (16400) | chunk i+1 (16400) |     | final chunk (16..16399)|
//!  +-------------------+-------------------+ ... +-----------------------+
//!   plaintext 16384 || tag 16 before sealing: plaintext read straight into
//!   each slot, then sealed in place (no copies)
//! ```
//!
//! Chunks are independent, so a run is split into contiguous groups, one
//! per core, sealed or opened in parallel with scoped threads.

use std::sync::Arc;

use sealstream_format::{CHUNK_SIZE, ChunkCipher, SEALED_CHUNK_SIZE, TAG_LEN};
use zeroize::Zeroize;

/// Below this many chunks a run is processed on one thread.
const MIN_CHUNKS_PER_THREAD: usize = 64;

fn threads_for(chunks: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (chunks / MIN_CHUNKS_PER_THREAD).clamp(1, cores)
}

/// Seals `full` full chunks starting at index `first` held at the start of
/// `run`, then, if `final_len` is `Some(n)`, the final chunk of `n`
/// plaintext bytes right after them. `run` must be exactly
/// `full * 16400 + final_len.map_or(0, |n| n + 16)` bytes.
pub(crate) fn seal_run(
    cipher: &ChunkCipher,
    run: &mut [u8],
    first: u64,
    full: usize,
    final_len: Option<usize>,
) -> sealstream_format::Result<()> {
    let (full_area, rest) = run.split_at_mut(full * SEALED_CHUNK_SIZE);
    let threads = threads_for(full);
    let per = full.div_ceil(threads).max(1);
    let seal_group = |group: &mut [u8], group_first: u64| -> sealstream_format::Result<()> {
        for (j, slot) in group.chunks_exact_mut(SEALED_CHUNK_SIZE).enumerate() {
            cipher.seal_chunk_in_buf(group_first + j as u64, slot, false)?;
        }
        Ok(())
    };
    if threads <= 1 {
        seal_group(full_area, first)?;
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = full_area
                .chunks_mut(per * SEALED_CHUNK_SIZE)
                .enumerate()
                .map(|(t, group)| {
                    let group_first = first + (t * per) as u64;
                    s.spawn(move || seal_group(group, group_first))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(sealstream_format::Error::Random)))
                .collect::<sealstream_format::Result<Vec<()>>>()
        })?;
    }
    if let Some(n) = final_len {
        let slot = rest
            .get_mut(..n + TAG_LEN)
            .ok_or(sealstream_format::Error::InvalidInput {
                what: "part buffer",
                reason: "has no room for the final chunk",
            })?;
        cipher.seal_chunk_in_buf(first + full as u64, slot, true)?;
    }
    Ok(())
}

/// Opens the sealed chunks in `run` (chunk `first` at offset 0; the last
/// one is the object's final chunk if `ends_with_final`), then compacts
/// their plaintext to the front of `run`. Returns the plaintext length.
///
/// On any failure the whole run is wiped and the error of the
/// lowest-numbered failing chunk is returned, so nothing of it is released.
pub(crate) fn open_run(
    cipher: &ChunkCipher,
    run: &mut [u8],
    first: u64,
    ends_with_final: bool,
) -> sealstream_format::Result<usize> {
    let len = run.len();
    let count = if ends_with_final {
        len / SEALED_CHUNK_SIZE + 1
    } else {
        len / SEALED_CHUNK_SIZE
    };
    let full = if ends_with_final { count - 1 } else { count };
    if (!ends_with_final && !len.is_multiple_of(SEALED_CHUNK_SIZE))
        || (ends_with_final && len % SEALED_CHUNK_SIZE < TAG_LEN)
    {
        run.zeroize();
        return Err(sealstream_format::Error::Truncated {
            detail: "a ranged read returned a length that is not whole chunks",
        });
    }
    let threads = threads_for(count);
    let per = count.div_ceil(threads).max(1);
    let open_group = |group: &mut [u8], group_first: u64| -> sealstream_format::Result<()> {
        let mut off = 0usize;
        let mut index = group_first;
        while off < group.len() {
            let is_final = ends_with_final && index == first + full as u64;
            let end = if is_final {
                group.len()
            } else {
                off + SEALED_CHUNK_SIZE
            };
            let slot = group.get_mut(off..end).unwrap_or(&mut []);
            cipher.open_chunk(index, slot, is_final)?;
            off = end;
            index += 1;
        }
        Ok(())
    };
    let result = if threads <= 1 {
        open_group(run, first)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = run
                .chunks_mut(per * SEALED_CHUNK_SIZE)
                .enumerate()
                .map(|(t, group)| {
                    let group_first = first + (t * per) as u64;
                    s.spawn(move || open_group(group, group_first))
                })
                .collect();
            // Joined in order, so the first error is the lowest chunk's.
            let mut first_err = None;
            for h in handles {
                let r = h.join().unwrap_or(Err(sealstream_format::Error::Random));
                if let (Err(e), None) = (r, &first_err) {
                    first_err = Some(e);
                }
            }
            first_err.map_or(Ok(()), Err)
        })
    };
    if let Err(e) = result {
        run.zeroize();
        return Err(e);
    }
    // Compact: chunk j's plaintext moves from j*16400 to j*16384; the
    // destination never passes the source, so front-to-back is safe.
    let mut plain = 0usize;
    for j in 0..count {
        let src = j * SEALED_CHUNK_SIZE;
        let n = if j < full {
            CHUNK_SIZE
        } else {
            len - src - TAG_LEN
        };
        if src != plain {
            run.copy_within(src..src + n, plain);
        }
        plain += n;
    }
    if let Some(tail) = run.get_mut(plain..) {
        tail.zeroize();
    }
    Ok(plain)
}

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

/// The cipher shared by all sealing tasks of one object.
pub(crate) type SharedCipher = Arc<ChunkCipher>;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;
    use sealstream_format::{DataKey, Salt, Suite};

    fn cipher() -> ChunkCipher {
        let key = DataKey::from_bytes([7u8; 32]);
        ChunkCipher::seal(
            Suite::Aes256Gcm,
            &key,
            Salt::danger_from_bytes([1u8; 24]),
            b"\x02\x01\x00\x00",
        )
        .unwrap()
        .0
    }

    fn sealed_run(plain: &[u8], first: u64, with_final: bool) -> Vec<u8> {
        let c = cipher();
        let full = if with_final {
            plain.len() / CHUNK_SIZE
        } else {
            plain.len().div_ceil(CHUNK_SIZE)
        };
        let mut run = Vec::new();
        for ch in plain.chunks(CHUNK_SIZE).take(full) {
            run.extend_from_slice(ch);
            run.extend_from_slice(&[0u8; TAG_LEN]);
        }
        let final_len = with_final.then(|| plain.len() - full * CHUNK_SIZE);
        if let Some(n) = final_len {
            run.extend_from_slice(&plain[full * CHUNK_SIZE..]);
            run.resize(run.len() + TAG_LEN, 0);
            assert_eq!(n, plain.len() % CHUNK_SIZE);
        }
        seal_run(&c, &mut run, first, full, final_len).unwrap();
        run
    }

    #[test]
    fn seal_then_open_round_trips_in_parallel() {
        let plain: Vec<u8> = (0..300 * CHUNK_SIZE + 77)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut run = sealed_run(&plain, 5, true);
        let n = open_run(&cipher(), &mut run, 5, true).unwrap();
        assert_eq!(&run[..n], &plain[..]);
        // Matches the format crate's one-chunk-at-a-time sealing.
        let c = cipher();
        let mut one = plain[..CHUNK_SIZE].to_vec();
        one.resize(SEALED_CHUNK_SIZE, 0);
        c.seal_chunk_in_buf(5, &mut one, false).unwrap();
        assert_eq!(&sealed_run(&plain, 5, true)[..SEALED_CHUNK_SIZE], &one[..]);
    }

    #[test]
    fn open_reports_lowest_failing_chunk_and_wipes() {
        let plain = vec![9u8; 200 * CHUNK_SIZE];
        let mut run = sealed_run(&plain, 0, false);
        run[150 * SEALED_CHUNK_SIZE + 3] ^= 1;
        run[170 * SEALED_CHUNK_SIZE + 3] ^= 1;
        match open_run(&cipher(), &mut run, 0, false) {
            Err(sealstream_format::Error::ChunkAuthentication { index: 150, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(run.iter().all(|&b| b == 0));
    }

    #[test]
    fn empty_final_chunk() {
        let mut run = sealed_run(&[], 3, true);
        assert_eq!(run.len(), TAG_LEN);
        assert_eq!(open_run(&cipher(), &mut run, 3, true).unwrap(), 0);
    }
}
