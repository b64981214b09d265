//! The one chunk codec: sealing and opening a run of consecutive chunks
//! held in one buffer, on one thread or several. Every multi-chunk path
//! of the workspace (in-memory objects, the pipeline, S3 parts and
//! segments, object-store runs, `sealstream bench`) goes through here.
//!
//! A run holds whole sealed chunks back to back, chunk `first + j` at
//! offset `j * 16400` ("slots"):
//!
//! ```text
//!  run offset 0        16400                  k*16400
//!  +-------------------+-------------------+ ... +------------------------+
//!  | chunk i   (16400) | chunk i+1 (16400) |     | final chunk (16..16399) |
//!  +-------------------+-------------------+ ... +------------------------+
//!   before sealing each slot is plaintext (16384) || 16 spare bytes
//! ```
//!
//! The final chunk is present exactly when the run ends the object
//! (`ends_object`); it is the run's trailing `len % 16400` bytes, so a run
//! that ends the object is never a multiple of 16400 bytes long.
//!
//! Speed: a chunk is copied at most once, into its final slot, and sealed
//! there at once while it is still in the core's cache ([`seal_into`]);
//! or read straight into its slot by the caller and sealed in place
//! ([`seal_slots`]). Opening is in place ([`open_slots`]).

use std::num::NonZeroUsize;

use zeroize::Zeroize;

use crate::chunk::{CHUNK_SIZE, ChunkOpener, ChunkSealer, SEALED_CHUNK_SIZE, TAG_LEN};
use crate::error::{Error, Result};

/// Below this many chunks per thread a run is processed on one thread (a
/// thread costs more than it saves on a few chunks).
pub const MIN_CHUNKS_PER_THREAD: usize = 64;

/// Threads for a run of `chunks` chunks: at most `max` (0 means every
/// core), and at least [`MIN_CHUNKS_PER_THREAD`] chunks each.
pub fn threads_for(chunks: usize, max: usize) -> usize {
    let max = if max == 0 {
        std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
    } else {
        max
    };
    (chunks / MIN_CHUNKS_PER_THREAD).clamp(1, max)
}

/// Sealed length of a run of `plain_len` plaintext bytes: whole chunks,
/// plus the final chunk when `ends_object`.
pub fn sealed_run_len(plain_len: usize, ends_object: bool) -> Result<usize> {
    let full = plain_len / CHUNK_SIZE;
    let rem = plain_len % CHUNK_SIZE;
    if !ends_object && rem != 0 {
        return Err(not_whole_chunks());
    }
    full.checked_mul(SEALED_CHUNK_SIZE)
        .and_then(|n| n.checked_add(if ends_object { rem + TAG_LEN } else { 0 }))
        .ok_or(Error::TooLarge)
}

/// Number of full chunks in a run of `len` sealed bytes, checking that
/// the length is whole slots (plus a final chunk when `ends_object`).
fn full_chunks(len: usize, ends_object: bool) -> Result<usize> {
    let rest = len % SEALED_CHUNK_SIZE;
    if (!ends_object && rest != 0) || (ends_object && rest < TAG_LEN) {
        return Err(Error::Truncated {
            detail: "a run of chunks is not whole chunks (it was cut short or extended)",
        });
    }
    Ok(len / SEALED_CHUNK_SIZE)
}

fn not_whole_chunks() -> Error {
    Error::InvalidInput {
        what: "chunk run",
        reason: "a run that does not end the object is whole 16384-byte chunks",
    }
}

/// Runs `f(first_chunk_of_group, group)` over `run`, `full` chunks of
/// `stride` bytes each (whole slots, or whole plaintext chunks), split into
/// up to `threads` groups; returns the lowest group's error.
fn in_groups<F>(
    run: &mut [u8],
    stride: usize,
    first: u64,
    full: usize,
    threads: usize,
    f: F,
) -> Result<()>
where
    F: Fn(u64, &mut [u8]) -> Result<()> + Sync,
{
    let threads = threads_for(full, threads.max(1));
    if threads <= 1 {
        return f(first, run);
    }
    let per = full.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = run
            .chunks_mut(per * stride)
            .zip((first..).step_by(per))
            .map(|(group, group_first)| s.spawn(move || f(group_first, group)))
            .collect();
        // Joined in order, so the first error is the lowest chunk's.
        let mut first_err = None;
        for h in handles {
            let r = h.join().unwrap_or_else(|_| {
                Err(Error::Io(std::io::Error::other(
                    "a chunk codec thread panicked",
                )))
            });
            if let (Err(e), None) = (r, &first_err) {
                first_err = Some(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    })
}

/// Seals the run in `run` (see the module docs for the layout) on this
/// thread, slot after slot: `fill(j, plaintext)` first writes chunk
/// `first + j`'s plaintext into its slot, which is then sealed at once,
/// while it is in cache. Ends with the object's final chunk when
/// `ends_object`. Returns the first error of `fill` or of sealing.
pub fn seal_each<F>(
    sealer: &ChunkSealer,
    first: u64,
    run: &mut [u8],
    ends_object: bool,
    mut fill: F,
) -> Result<()>
where
    F: FnMut(usize, &mut [u8]) -> Result<()>,
{
    full_chunks(run.len(), ends_object).map_err(|_| not_whole_chunks())?;
    for (j, slot) in run.chunks_mut(SEALED_CHUNK_SIZE).enumerate() {
        // Only the final chunk's slot is short (checked above).
        let last = slot.len() < SEALED_CHUNK_SIZE;
        let (plain, tag) = slot.split_at_mut(slot.len() - TAG_LEN);
        fill(j, plain)?;
        let t = sealer.seal_chunk(first + j as u64, plain, last)?;
        tag.copy_from_slice(&t);
    }
    Ok(())
}

/// Seals, in place, the run in `run` (see the module docs for the
/// layout): chunks `first..`, plaintext already in each slot, ending with
/// the object's final chunk when `ends_object`. Uses up to `threads`
/// threads (0: every core).
pub fn seal_slots(
    sealer: &ChunkSealer,
    first: u64,
    run: &mut [u8],
    ends_object: bool,
    threads: usize,
) -> Result<()> {
    let full = full_chunks(run.len(), ends_object).map_err(|_| not_whole_chunks())?;
    let (full_area, final_slot) = run.split_at_mut(full * SEALED_CHUNK_SIZE);
    in_groups(
        full_area,
        SEALED_CHUNK_SIZE,
        first,
        full,
        threads,
        |group_first, group| seal_each(sealer, group_first, group, false, |_, _| Ok(())),
    )?;
    if ends_object {
        seal_each(sealer, first + full as u64, final_slot, true, |_, _| Ok(()))?;
    }
    Ok(())
}

/// Seals `plain` as chunks `first..` into `out`, which must be exactly
/// [`sealed_run_len`]`(plain.len(), ends_object)` bytes: each chunk is
/// copied into its slot and sealed there at once, while it is in cache.
/// Unless `ends_object`, `plain` must be whole chunks.
pub fn seal_into(
    sealer: &ChunkSealer,
    first: u64,
    plain: &[u8],
    ends_object: bool,
    out: &mut [u8],
    threads: usize,
) -> Result<()> {
    if out.len() != sealed_run_len(plain.len(), ends_object)? {
        return Err(Error::InvalidInput {
            what: "chunk run output",
            reason: "it is not the sealed length of the plaintext",
        });
    }
    let full = plain.len() / CHUNK_SIZE;
    let (full_out, final_out) = out.split_at_mut(full * SEALED_CHUNK_SIZE);
    let (full_plain, final_plain) = plain.split_at(full * CHUNK_SIZE);
    fn copy_from(src: &[u8]) -> impl Fn(usize, &mut [u8]) -> Result<(), Error> + Sync + '_ {
        move |j: usize, dst: &mut [u8]| {
            let s = src
                .get(j * CHUNK_SIZE..j * CHUNK_SIZE + dst.len())
                .ok_or(Error::Internal("a chunk slot is outside its source"))?;
            dst.copy_from_slice(s);
            Ok(())
        }
    }
    in_groups(
        full_out,
        SEALED_CHUNK_SIZE,
        first,
        full,
        threads,
        |group_first, group| {
            let offset = usize::try_from(group_first - first).map_err(|_| Error::TooLarge)?;
            let src = full_plain
                .get(offset * CHUNK_SIZE..)
                .ok_or(Error::Internal("a chunk group is outside its source"))?;
            seal_each(sealer, group_first, group, false, copy_from(src))
        },
    )?;
    if ends_object {
        seal_each(
            sealer,
            first + full as u64,
            final_out,
            true,
            copy_from(final_plain),
        )?;
    }
    Ok(())
}

/// Seals `plain` as chunks `first..` on this thread and appends the sealed
/// run to `out`: each chunk is appended once into its slot and sealed there
/// at once, while it is in cache, so the output is written once and never
/// zero-filled first. `out` grows by exactly
/// [`sealed_run_len`]`(plain.len(), ends_object)` bytes (reserved once).
/// Unless `ends_object`, `plain` must be whole chunks. On failure `out` is
/// left as it was.
pub fn seal_append(
    sealer: &ChunkSealer,
    first: u64,
    plain: &[u8],
    ends_object: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    out.reserve_exact(sealed_run_len(plain.len(), ends_object)?);
    let full = plain.len() / CHUNK_SIZE;
    let (full_plain, final_plain) = plain.split_at(full * CHUNK_SIZE);
    let mut one = |i: u64, chunk: &[u8], last: bool| -> Result<()> {
        let at = out.len();
        out.extend_from_slice(chunk);
        let tag = sealer.seal_chunk(i, out.get_mut(at..).unwrap_or(&mut []), last)?;
        out.extend_from_slice(&tag);
        Ok(())
    };
    let result = (|| {
        for (i, chunk) in (first..).zip(full_plain.chunks_exact(CHUNK_SIZE)) {
            one(i, chunk, false)?;
        }
        if ends_object {
            one(first + full as u64, final_plain, true)?;
        }
        Ok(())
    })();
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Seals, in place on this thread, chunks `first..` whose plaintext lies
/// back to back in `data` (16384 bytes each, the last one shorter and the
/// object's final chunk when `ends_object`), writing chunk `j`'s tag to
/// `tags[j]`: the layout of a batch read straight from a file, written out
/// with vectored writes so that no byte is copied. Returns the number of
/// chunks sealed. `tags` must have room for every chunk.
pub fn seal_detached(
    sealer: &ChunkSealer,
    first: u64,
    data: &mut [u8],
    ends_object: bool,
    tags: &mut [[u8; TAG_LEN]],
) -> Result<usize> {
    let full = data.len() / CHUNK_SIZE;
    let rest = data.len() % CHUNK_SIZE;
    if !ends_object && rest != 0 {
        return Err(not_whole_chunks());
    }
    let count = full + usize::from(ends_object);
    let tags = tags.get_mut(..count).ok_or(Error::InvalidInput {
        what: "chunk tags",
        reason: "there is no room for every chunk's tag",
    })?;
    let (full_data, final_data) = data.split_at_mut(full * CHUNK_SIZE);
    let mut tags = tags.iter_mut();
    for ((i, plain), tag) in (first..)
        .zip(full_data.chunks_exact_mut(CHUNK_SIZE))
        .zip(&mut tags)
    {
        *tag = sealer.seal_chunk(i, plain, false)?;
    }
    if let Some(tag) = tags.next() {
        *tag = sealer.seal_chunk(first + full as u64, final_data, true)?;
    }
    Ok(count)
}

/// How far [`open_prefix`] got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opened {
    /// Chunks that authenticated, from the start of the run.
    pub chunks: usize,
    /// Plaintext bytes in them.
    pub plaintext: u64,
}

/// Opens the run in place on this thread, chunk after chunk, stopping at
/// the first that fails (which is wiped; later chunks stay ciphertext).
/// Returns how far it got and the error that stopped it, so that a
/// streaming caller can release the plaintext of the chunks before a
/// failure, in order, as a streaming reader would have.
pub fn open_prefix(
    opener: &ChunkOpener,
    first: u64,
    run: &mut [u8],
    ends_object: bool,
) -> (Opened, Result<()>) {
    let mut done = Opened::default();
    let full = run.len() / SEALED_CHUNK_SIZE;
    let rest = run.len() % SEALED_CHUNK_SIZE;
    for (j, sealed) in run.chunks_mut(SEALED_CHUNK_SIZE).enumerate() {
        let last = ends_object && j == full;
        match opener.open_chunk(first + j as u64, sealed, last) {
            Ok(p) => {
                done.chunks += 1;
                done.plaintext += p.len() as u64;
            }
            Err(e) => return (done, Err(e)),
        }
    }
    if ends_object && rest == 0 {
        return (
            done,
            Err(Error::Truncated {
                detail: "the object ends on a chunk boundary: the final chunk is missing",
            }),
        );
    }
    (done, Ok(()))
}

/// Opens every chunk of the run in place on up to `threads` threads (0:
/// every core) and returns the plaintext length; chunk `j`'s plaintext is
/// left in its slot (use [`compact`] to close the gaps). On any failure the
/// whole run is wiped and the error of the lowest-numbered failing chunk is
/// returned, so nothing of the run is released.
pub fn open_slots(
    opener: &ChunkOpener,
    first: u64,
    run: &mut [u8],
    ends_object: bool,
    threads: usize,
) -> Result<u64> {
    let result = (|| {
        let full = full_chunks(run.len(), ends_object)?;
        let len = run.len();
        let (full_area, final_slot) = run.split_at_mut(full * SEALED_CHUNK_SIZE);
        in_groups(
            full_area,
            SEALED_CHUNK_SIZE,
            first,
            full,
            threads,
            |group_first, group| {
                for (i, slot) in (group_first..).zip(group.chunks_exact_mut(SEALED_CHUNK_SIZE)) {
                    opener.open_chunk(i, slot, false)?;
                }
                Ok(())
            },
        )?;
        if ends_object {
            opener.open_chunk(first + full as u64, final_slot, true)?;
        }
        Ok((len - (full + usize::from(ends_object)) * TAG_LEN) as u64)
    })();
    if result.is_err() {
        run.zeroize();
    }
    result
}

/// Moves the plaintext of an opened run (chunk `j` at `j * 16400`) to the
/// front (chunk `j` at `j * 16384`), wipes the rest, and returns the
/// plaintext length.
pub fn compact(run: &mut [u8], ends_object: bool) -> usize {
    let len = run.len();
    let full = len / SEALED_CHUNK_SIZE;
    let count = full + usize::from(ends_object && len % SEALED_CHUNK_SIZE >= TAG_LEN);
    // The destination never passes the source, so front-to-back is safe.
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
    plain
}

/// Opens every chunk of the run in place ([`open_slots`]) and moves the
/// plaintext to the front ([`compact`]); returns the plaintext length. On
/// any failure the whole run is wiped and nothing of it is released.
pub fn open_compact(
    opener: &ChunkOpener,
    first: u64,
    run: &mut [u8],
    ends_object: bool,
    threads: usize,
) -> Result<usize> {
    open_slots(opener, first, run, ends_object, threads)?;
    Ok(compact(run, ends_object))
}

/// Opens `sealed` (chunks `first..`, ending with the final chunk when
/// `ends_object`) into `out`, which must be exactly the plaintext length:
/// each chunk's ciphertext is copied straight into its final place and
/// opened there with its tag held apart. On failure `out` is wiped.
pub fn open_into(
    opener: &ChunkOpener,
    first: u64,
    sealed: &[u8],
    ends_object: bool,
    out: &mut [u8],
    threads: usize,
) -> Result<()> {
    let result = (|| {
        let full = full_chunks(sealed.len(), ends_object)?;
        let final_plain = sealed.len() - full * SEALED_CHUNK_SIZE;
        let final_plain = if ends_object {
            final_plain - TAG_LEN
        } else {
            0
        };
        if out.len() != full * CHUNK_SIZE + final_plain {
            return Err(Error::InvalidInput {
                what: "chunk run output",
                reason: "it is not the plaintext length of the sealed run",
            });
        }
        let (full_out, final_out) = out.split_at_mut(full * CHUNK_SIZE);
        let (full_in, final_in) = sealed.split_at(full * SEALED_CHUNK_SIZE);
        let open_one = |i: u64, dst: &mut [u8], src: &[u8], last: bool| -> Result<()> {
            let (ct, tag) = src.split_at(src.len() - TAG_LEN);
            let mut t = [0u8; TAG_LEN];
            t.copy_from_slice(tag);
            dst.copy_from_slice(ct);
            opener.open_chunk_detached(i, dst, &t, last)
        };
        in_groups(
            full_out,
            CHUNK_SIZE,
            first,
            full,
            threads,
            |group_first, dst| {
                let offset = usize::try_from(group_first - first).map_err(|_| Error::TooLarge)?;
                let src = full_in
                    .get(offset * SEALED_CHUNK_SIZE..)
                    .ok_or(Error::Internal("a chunk group is outside its source"))?;
                for ((i, d), s) in (group_first..)
                    .zip(dst.chunks_exact_mut(CHUNK_SIZE))
                    .zip(src.chunks_exact(SEALED_CHUNK_SIZE))
                {
                    open_one(i, d, s, false)?;
                }
                Ok(())
            },
        )?;
        if ends_object {
            open_one(first + full as u64, final_out, final_in, true)?;
        }
        Ok(())
    })();
    if result.is_err() {
        out.zeroize();
    }
    result
}

/// Opens `sealed` (chunks `first..`, ending with the final chunk when
/// `ends_object`) on this thread and appends the plaintext to `out`: each
/// chunk's ciphertext is appended once into its final place and opened
/// there, so the output is written once and never zero-filled first. On
/// failure everything appended is wiped and removed, and `out` is left as
/// it was: nothing of the run is released.
pub fn open_append(
    opener: &ChunkOpener,
    first: u64,
    sealed: &[u8],
    ends_object: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    let full = full_chunks(sealed.len(), ends_object)?;
    let (full_in, final_in) = sealed.split_at(full * SEALED_CHUNK_SIZE);
    let final_plain = final_in.len().saturating_sub(TAG_LEN);
    out.reserve_exact(full * CHUNK_SIZE + final_plain);
    let mut one = |i: u64, src: &[u8], last: bool| -> Result<()> {
        let (ct, tag) = src
            .split_at_checked(src.len().saturating_sub(TAG_LEN))
            .ok_or(Error::Internal("a sealed chunk is shorter than its tag"))?;
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        let at = out.len();
        out.extend_from_slice(ct);
        opener.open_chunk_detached(i, out.get_mut(at..).unwrap_or(&mut []), &t, last)
    };
    let result = (|| {
        for (i, src) in (first..).zip(full_in.chunks_exact(SEALED_CHUNK_SIZE)) {
            one(i, src, false)?;
        }
        if ends_object {
            one(first + full as u64, final_in, true)?;
        }
        Ok(())
    })();
    if result.is_err() {
        if let Some(appended) = out.get_mut(start..) {
            appended.zeroize();
        }
        out.truncate(start);
    }
    result
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic
)]
mod tests {
    use super::*;
    use crate::chunk::BodyPrefix;
    use crate::{DataKey, Salt, Suite};

    fn keys(suite: Suite) -> (ChunkSealer, ChunkOpener) {
        let key = DataKey::from_bytes([7u8; 32]);
        let (s, prefix): (ChunkSealer, BodyPrefix) =
            ChunkSealer::new(suite, &key, Salt::danger_from_bytes([1u8; 24]), b"ctx").unwrap();
        let o = ChunkOpener::new(suite, &key, &prefix, b"ctx").unwrap();
        (s, o)
    }

    fn plain(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Chunk by chunk with the per-chunk call: what every codec path must
    /// produce byte for byte.
    fn reference(s: &ChunkSealer, first: u64, p: &[u8], ends: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let full = p.len() / CHUNK_SIZE;
        for (j, c) in p.chunks(CHUNK_SIZE).take(full).enumerate() {
            let mut c = c.to_vec();
            let tag = s.seal_chunk(first + j as u64, &mut c, false).unwrap();
            out.extend_from_slice(&c);
            out.extend_from_slice(&tag);
        }
        if ends {
            let mut c = p[full * CHUNK_SIZE..].to_vec();
            let tag = s.seal_chunk(first + full as u64, &mut c, true).unwrap();
            out.extend_from_slice(&c);
            out.extend_from_slice(&tag);
        }
        out
    }

    const LENS: [usize; 7] = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        3 * CHUNK_SIZE + 5,
        200 * CHUNK_SIZE,
        300 * CHUNK_SIZE + 77,
    ];

    #[test]
    fn every_path_seals_the_reference_bytes_on_any_thread_count() {
        for suite in Suite::ALL {
            let (s, o) = keys(suite);
            for len in LENS {
                for ends in [true, false] {
                    if !ends && len % CHUNK_SIZE != 0 {
                        assert!(sealed_run_len(len, ends).is_err());
                        continue;
                    }
                    let p = plain(len);
                    let want = reference(&s, 5, &p, ends);
                    assert_eq!(sealed_run_len(len, ends).unwrap(), want.len());
                    for threads in [1, 3, 0] {
                        let mut out = vec![0u8; want.len()];
                        seal_into(&s, 5, &p, ends, &mut out, threads).unwrap();
                        assert!(out == want, "{suite} seal_into {len} {ends} {threads}");

                        // Plaintext placed in slots, sealed in place.
                        let mut slots = vec![0u8; want.len()];
                        for (j, slot) in slots.chunks_mut(SEALED_CHUNK_SIZE).enumerate() {
                            let n = slot.len() - TAG_LEN;
                            slot[..n].copy_from_slice(&p[j * CHUNK_SIZE..j * CHUNK_SIZE + n]);
                        }
                        seal_slots(&s, 5, &mut slots, ends, threads).unwrap();
                        assert!(slots == want, "{suite} seal_slots {len} {ends} {threads}");

                        let mut run = want.clone();
                        let n = open_compact(&o, 5, &mut run, ends, threads).unwrap();
                        assert!(run[..n] == p[..], "{suite} open_compact {len} {ends}");

                        let mut back = vec![0u8; len];
                        open_into(&o, 5, &want, ends, &mut back, threads).unwrap();
                        assert!(back == p, "{suite} open_into {len} {ends} {threads}");

                        let mut app = vec![9u8; 3];
                        seal_append(&s, 5, &p, ends, &mut app).unwrap();
                        assert!(app[..3] == [9; 3] && app[3..] == want[..], "seal_append");
                        let mut back = vec![9u8; 3];
                        open_append(&o, 5, &want, ends, &mut back).unwrap();
                        assert!(back[..3] == [9; 3] && back[3..] == p[..], "open_append");
                    }
                    let mut run = want.clone();
                    let (done, r) = open_prefix(&o, 5, &mut run, ends);
                    r.unwrap();
                    assert_eq!(done.plaintext, len as u64);
                }
            }
        }
    }

    #[test]
    fn a_tampered_run_reports_its_lowest_bad_chunk_and_releases_nothing() {
        let (s, o) = keys(Suite::Aes256Gcm);
        let p = plain(200 * CHUNK_SIZE);
        let mut sealed = vec![0u8; sealed_run_len(p.len(), false).unwrap()];
        seal_into(&s, 0, &p, false, &mut sealed, 0).unwrap();
        sealed[150 * SEALED_CHUNK_SIZE + 3] ^= 1;
        sealed[170 * SEALED_CHUNK_SIZE + 3] ^= 1;
        for threads in [1, 4] {
            let mut run = sealed.clone();
            match open_compact(&o, 0, &mut run, false, threads) {
                Err(Error::ChunkAuthentication { index: 150, .. }) => {}
                other => panic!("{other:?}"),
            }
            assert!(run.iter().all(|&b| b == 0), "the run was not wiped");
            let mut out = vec![1u8; p.len()];
            match open_into(&o, 0, &sealed, false, &mut out, threads) {
                Err(Error::ChunkAuthentication { index: 150, .. }) => {}
                other => panic!("{other:?}"),
            }
            assert!(out.iter().all(|&b| b == 0), "the output was not wiped");
            let mut out = vec![1u8; 2];
            match open_append(&o, 0, &sealed, false, &mut out) {
                Err(Error::ChunkAuthentication { index: 150, .. }) => {}
                other => panic!("{other:?}"),
            }
            assert_eq!(out, [1u8; 2], "open_append released or kept bytes");
        }
        // Chunk by chunk, the 150 chunks before the damage are released.
        let mut run = sealed.clone();
        let (done, r) = open_prefix(&o, 0, &mut run, false);
        assert!(matches!(
            r,
            Err(Error::ChunkAuthentication { index: 150, .. })
        ));
        assert_eq!(done.chunks, 150);
        for j in [0, 149] {
            let slot = &run[j * SEALED_CHUNK_SIZE..][..CHUNK_SIZE];
            assert!(slot == &p[j * CHUNK_SIZE..][..CHUNK_SIZE], "chunk {j}");
        }
    }

    #[test]
    fn runs_of_the_wrong_shape_are_refused() {
        let (s, o) = keys(Suite::XChaCha20Poly1305);
        // A run that does not end the object is whole slots.
        let mut bad = vec![0u8; SEALED_CHUNK_SIZE + 5];
        assert!(seal_slots(&s, 0, &mut bad, false, 1).is_err());
        assert!(matches!(
            open_compact(&o, 0, &mut bad, false, 1),
            Err(Error::Truncated { .. })
        ));
        // A run that ends the object cannot end on a slot boundary: its
        // final chunk is missing.
        let mut whole = vec![0u8; 2 * SEALED_CHUNK_SIZE];
        assert!(matches!(
            open_compact(&o, 0, &mut whole, true, 1),
            Err(Error::Truncated { .. })
        ));
        let (_, r) = open_prefix(&o, 0, &mut whole.clone(), true);
        assert!(r.is_err());
        // Output buffers must be exactly the right length.
        let p = plain(CHUNK_SIZE + 1);
        let mut short = vec![0u8; sealed_run_len(p.len(), true).unwrap() - 1];
        assert!(seal_into(&s, 0, &p, true, &mut short, 1).is_err());
        let mut sealed = vec![0u8; sealed_run_len(p.len(), true).unwrap()];
        seal_into(&s, 0, &p, true, &mut sealed, 1).unwrap();
        let mut out = vec![0u8; p.len() + 1];
        assert!(open_into(&o, 0, &sealed, true, &mut out, 1).is_err());
        // The final chunk opens only as the final chunk, at its index.
        assert!(open_compact(&o, 1, &mut sealed.clone(), true, 1).is_err());
        assert!(open_compact(&o, 0, &mut sealed.clone(), true, 1).is_ok());
    }
}
