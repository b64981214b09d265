//! Sealing and opening runs of consecutive chunks on every core, with the
//! format crate's sans-IO [`ChunkCipher`] (docs/FORMAT.md, "Body").
//!
//! ```text
//!  plaintext run  = chunk i || chunk i+1 || ... (16384 bytes each; the final one shorter)
//!  sealed run     = sealed i || sealed i+1 || ... (16400 bytes each; the final one 16 + f)
//! ```

use std::num::NonZeroUsize;

use sealstream_format::{CHUNK_SIZE, ChunkCipher, Error, SEALED_CHUNK_SIZE, TAG_LEN};

/// Below this many chunks a run is sealed on the calling thread.
const PARALLEL_MIN_CHUNKS: usize = 64;

fn threads(chunks: usize) -> usize {
    if chunks < PARALLEL_MIN_CHUNKS {
        return 1;
    }
    std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1)
        .min(chunks.div_ceil(PARALLEL_MIN_CHUNKS / 2))
        .max(1)
}

/// The sealed length of a run of `plain_len` plaintext bytes (whole chunks
/// unless `last`).
pub(crate) fn sealed_len(plain_len: usize, last: bool) -> usize {
    let full = plain_len / CHUNK_SIZE;
    let rem = plain_len % CHUNK_SIZE;
    full * SEALED_CHUNK_SIZE + if last { rem + TAG_LEN } else { 0 }
}

/// Seals `plain`, chunks `first_index..`, into `out` (exactly
/// [`sealed_len`] bytes). Unless `last`, `plain` must be whole chunks; with
/// `last`, its end is the object's final chunk (possibly empty).
pub(crate) fn seal_into(
    cipher: &ChunkCipher,
    first_index: u64,
    plain: &[u8],
    last: bool,
    out: &mut [u8],
) -> Result<(), Error> {
    if (!last && !plain.len().is_multiple_of(CHUNK_SIZE))
        || out.len() != sealed_len(plain.len(), last)
    {
        return Err(Error::InvalidInput {
            what: "chunk run",
            reason: "a run that does not end the object is whole chunks",
        });
    }
    let full = plain.len() / CHUNK_SIZE;
    let (full_out, final_out) = out.split_at_mut(full * SEALED_CHUNK_SIZE);
    let (full_plain, final_plain) = plain.split_at(full * CHUNK_SIZE);
    let mut slots: Vec<(u64, &[u8], &mut [u8])> = full_plain
        .chunks(CHUNK_SIZE)
        .zip(full_out.chunks_mut(SEALED_CHUNK_SIZE))
        .zip(first_index..)
        .map(|((p, o), i)| (i, p, o))
        .collect();
    let per = full.div_ceil(threads(full)).max(1);
    let seal_slots = |slots: &mut [(u64, &[u8], &mut [u8])]| -> Result<(), Error> {
        for (i, p, o) in slots.iter_mut() {
            let (dst, _) = o.split_at_mut(p.len());
            dst.copy_from_slice(p);
            cipher.seal_chunk_in_buf(*i, o, false)?;
        }
        Ok(())
    };
    if per >= full {
        seal_slots(&mut slots)?;
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = slots
                .chunks_mut(per)
                .map(|group| s.spawn(move || seal_slots(group)))
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or(Err(Error::Random)))
        })?;
    }
    if last {
        let (dst, _) = final_out.split_at_mut(final_plain.len());
        dst.copy_from_slice(final_plain);
        let index = first_index + full as u64;
        cipher.seal_chunk_in_buf(index, final_out, true)?;
    }
    Ok(())
}

/// Opens a sealed run of chunks `first_index..` in place and returns the
/// plaintext length; the plaintext is then `sealed[..len]`. The run ends
/// with the object's final chunk exactly when `ends_object`. Nothing is
/// left in `sealed` unless every chunk of the run authenticated.
pub(crate) fn open_in_place(
    cipher: &ChunkCipher,
    first_index: u64,
    sealed: &mut [u8],
    ends_object: bool,
) -> Result<usize, Error> {
    let full = if ends_object {
        sealed.len().saturating_sub(TAG_LEN) / SEALED_CHUNK_SIZE
    } else {
        sealed.len() / SEALED_CHUNK_SIZE
    };
    let full_len = full * SEALED_CHUNK_SIZE;
    let rest = sealed.len() - full_len;
    if (!ends_object && rest != 0) || (ends_object && rest < TAG_LEN) {
        return Err(Error::Truncated {
            detail: "the store returned fewer bytes than the chunks it was asked for",
        });
    }
    let (full_part, final_part) = sealed.split_at_mut(full_len);
    let per = full.div_ceil(threads(full)).max(1);
    let open_group = |first: u64, group: &mut [u8]| -> Result<(), Error> {
        for (i, c) in (first..).zip(group.chunks_mut(SEALED_CHUNK_SIZE)) {
            cipher.open_chunk(i, c, false)?;
        }
        Ok(())
    };
    let result = if per >= full {
        open_group(first_index, full_part)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = full_part
                .chunks_mut(per * SEALED_CHUNK_SIZE)
                .zip((first_index..).step_by(per))
                .map(|(group, first)| s.spawn(move || open_group(first, group)))
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or(Err(Error::Random)))
        })
    };
    let result = result.and_then(|()| {
        if ends_object {
            cipher
                .open_chunk(first_index + full as u64, final_part, true)
                .map(drop)
        } else {
            Ok(())
        }
    });
    if let Err(e) = result {
        sealed.fill(0);
        return Err(e);
    }
    // Compact: drop the tags.
    let mut w = 0usize;
    let mut r = 0usize;
    while r < sealed.len() {
        let n = (sealed.len() - r).min(SEALED_CHUNK_SIZE);
        let plain = n - TAG_LEN;
        sealed.copy_within(r..r + plain, w);
        w += plain;
        r += n;
    }
    Ok(w)
}
