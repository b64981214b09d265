//! Ranged plaintext reads: fetch the header and only the chunks that hold
//! the range (plus the final chunk when the length must be proven),
//! authenticate them, trim.
//!
//! ```text
//!  GET bytes=0-(64 KiB + 56 + 4 chunks)    header, prefix, total length (Content-Range);
//!                                          ranges in the first chunks need nothing more
//!  GET chunks c0..=c1 (If-Match the ETag)  c0 = a / 16384, c1 = (b - 1) / 16384
//!  GET final chunk (in parallel)           whenever the range's resolution depends on
//!                                          the length: b open, at or past the end, a
//!                                          suffix, or a >= length (and c1 is not near
//!                                          the end)
//! ```
//!
//! Semantics follow slices: a range that starts past the end is an error
//! ([`Error::InvalidRange`], naming the length); one that starts exactly at
//! the end is empty (`len..`, `len..len + 9`, and `0..` of an empty
//! object); one that runs past the end is clamped; a suffix (`bytes=-n`) is
//! the last `n` bytes, all of them when there are fewer. An empty range
//! inside the object is empty. The object length is only a claim of the
//! server until the final chunk authenticates: every range whose
//! resolution depends on it is resolved only after that proof, so a
//! truncated object fails ([`Error::ChunkAuthentication`] or
//! [`Error::Truncated`]) instead of giving a short read.

use std::ops::{Bound, RangeBounds};

use bytes::Bytes;
use sealstream_format::{CHUNK_SIZE, SEALED_CHUNK_SIZE, layout};

use crate::client::SealClient;
use crate::download::{Fetcher, Opened};
use crate::error::{Error, Result};
use crate::head::ObjectHead;
use crate::io::Unlock;
use crate::parts::blocking;

/// When the final chunk must be authenticated and is at most this many
/// chunks past the range, the range's GET is extended to it instead of a
/// separate request.
const EXTEND_TO_FINAL: u64 = 8;

/// A plaintext byte range, resolved by [`SealClient::read_range`] against
/// the proven length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlainRange {
    /// Bytes `start..end` (`end` exclusive); `None` runs to the end.
    Span {
        /// First byte.
        start: u64,
        /// One past the last byte, or `None` for the end of the object.
        end: Option<u64>,
    },
    /// The last `n` bytes (HTTP `bytes=-n`); all of them when the
    /// plaintext is shorter.
    Suffix(u64),
}

impl PlainRange {
    /// The range of a Rust range expression (`a..b`, `a..=b`, `a..`, `..b`).
    pub fn from_bounds(range: &impl RangeBounds<u64>) -> Result<Self> {
        let (start, end) = bounds(range)?;
        Ok(PlainRange::Span { start, end })
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> Result<(u64, Option<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(&a) => a,
        Bound::Excluded(&a) => a
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument("range start overflows".into()))?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&b) => Some(
            b.checked_add(1)
                .ok_or_else(|| Error::InvalidArgument("range end overflows".into()))?,
        ),
        Bound::Excluded(&b) => Some(b),
        Bound::Unbounded => None,
    };
    if let Some(e) = end
        && e < start
    {
        return Err(Error::InvalidArgument(format!(
            "range end {e} is before its start {start}"
        )));
    }
    Ok((start, end))
}

/// Opens chunks `first..=last` whose sealed bytes are `run`; returns their
/// plaintext (chunk `first` at offset 0).
async fn open_chunks(
    opened: &Opened,
    object: &str,
    mut run: Vec<u8>,
    first: u64,
    last: u64,
) -> Result<Vec<u8>> {
    let ends_with_final = last == layout::final_chunk_index(opened.plaintext_len);
    let cipher = opened.cipher.clone();
    let (mut run, n) = blocking(move || {
        sealstream_format::codec::open_compact(&cipher, first, &mut run, ends_with_final, 0)
            .map(|n| (run, n))
    })
    .await
    .map_err(|e| Error::io("opening chunks", e))?
    .map_err(|e| Error::format(object, e))?;
    run.truncate(n);
    Ok(run)
}

/// Sealed bytes of chunks `first..=last`: from the first response when it
/// holds them, else with one ranged GET.
async fn chunk_bytes(fetcher: &Fetcher, opened: &Opened, first: u64, last: u64) -> Result<Vec<u8>> {
    let object = &fetcher.object;
    let start = layout::chunk_body_range(first, opened.plaintext_len)
        .map_err(|e| Error::format(object, e))?
        .start;
    let end = layout::chunk_body_range(last, opened.plaintext_len)
        .map_err(|e| Error::format(object, e))?
        .end;
    let (obj_start, obj_end) = (opened.header_len + start, opened.header_len + end);
    let in_first = usize::try_from(obj_start)
        .ok()
        .zip(usize::try_from(obj_end).ok())
        .and_then(|(s, e)| opened.first.get(s..e));
    if let Some(bytes) = in_first {
        return Ok(bytes.to_vec());
    }
    let f = fetcher
        .fetch_pinned(
            &opened.version(),
            obj_start,
            obj_end - 1,
            &format!("chunks {first}..={last}"),
        )
        .await?;
    let want = usize::try_from(end - start).unwrap_or(usize::MAX);
    if f.data.len() != want {
        return Err(Error::Truncated {
            object: object.clone(),
            detail: format!(
                "a ranged GET of chunks {first}..={last} returned {} of {want} bytes",
                f.data.len()
            ),
        });
    }
    Ok(f.data)
}

impl SealClient {
    /// Reads the plaintext bytes `range` of `s3://bucket/key`, fetching
    /// only the header and the chunks that hold the range (usually two
    /// requests, one for small objects or ranges near the start).
    ///
    /// Every byte returned is authenticated. When the range is open-ended,
    /// reaches the end or runs past it, the final chunk is authenticated
    /// too, so the clamping relies on a proven length (a truncated object
    /// fails). A range starting exactly at the end is empty; one starting
    /// past the end fails with [`Error::InvalidRange`], which names the
    /// length.
    pub async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: impl RangeBounds<u64>,
    ) -> Result<Bytes> {
        let range = PlainRange::from_bounds(&range)?;
        let head = self.head(bucket, key).await?;
        self.read_range(&head, range).await
    }

    /// Reads the plaintext bytes `range` of the object version `head` read,
    /// like [`SealClient::get_range`]: the data key is unwrapped from
    /// `head`'s own header and body prefix (the bytes the caller checked),
    /// and every further GET is pinned to its ETag and length (a different
    /// answer is [`Error::ObjectChanged`]).
    ///
    /// A range whose resolution depends on the plaintext length (open at
    /// the end, ending at or past the end, a suffix, or starting at or
    /// past the end) is resolved only after the final chunk authenticated,
    /// which proves the length.
    pub async fn read_range(&self, head: &ObjectHead, range: PlainRange) -> Result<Bytes> {
        let fetcher = head.fetcher(&self.s3, &self.config);
        let object = fetcher.object.clone();
        let opened = Opened::from_head(head, Unlock::Keyring(&self.keyring)).await?;
        let len = opened.plaintext_len;
        let final_index = layout::final_chunk_index(len);
        let (a, b, suffix) = match range {
            PlainRange::Span { start, end } => (start, end, false),
            PlainRange::Suffix(n) => (len.saturating_sub(n), Some(len), true),
        };
        if !suffix && b == Some(a) && a < len {
            return Ok(Bytes::new());
        }
        if a >= len {
            // The length is about to be reported: prove it first.
            let run = chunk_bytes(&fetcher, &opened, final_index, final_index).await?;
            open_chunks(&opened, &object, run, final_index, final_index).await?;
            // A range starting at the very end is empty, like `v[len..]`
            // (and `tail -c +N` one past the end); only a start past the
            // end is an error.
            if a == len {
                return Ok(Bytes::new());
            }
            return Err(Error::InvalidRange {
                object,
                start: a,
                len,
            });
        }
        // The end is the claimed end: only the final chunk proves it.
        let need_final = suffix || b.is_none_or(|b| b >= len);
        let end = b.unwrap_or(len).min(len);
        let plan = layout::plan_range(a..end, len).map_err(|e| Error::format(&object, e))?;
        let (c0, mut c1) = (plan.first_chunk, plan.last_chunk);
        let mut separate_final = false;
        if need_final && c1 != final_index {
            if final_index - c1 <= EXTEND_TO_FINAL {
                c1 = final_index;
            } else {
                separate_final = true;
            }
        }
        let span = async {
            let run = chunk_bytes(&fetcher, &opened, c0, c1).await?;
            open_chunks(&opened, &object, run, c0, c1).await
        };
        let fin = async {
            if separate_final {
                let run = chunk_bytes(&fetcher, &opened, final_index, final_index).await?;
                open_chunks(&opened, &object, run, final_index, final_index).await?;
            }
            Ok::<(), Error>(())
        };
        let (plain, ()) = tokio::try_join!(span, fin)?;
        let skip = usize::try_from(plan.skip).unwrap_or(usize::MAX);
        let take = usize::try_from(plan.len).unwrap_or(usize::MAX);
        let out = plain
            .get(skip..skip + take)
            .ok_or_else(|| Error::Truncated {
                object: object.clone(),
                detail: "the chunks of the range hold fewer bytes than its length says".into(),
            })?;
        Ok(Bytes::copy_from_slice(out))
    }
}

// Keep the constants honest: a full chunk is 16 KiB of plaintext.
const _: () = assert!(SEALED_CHUNK_SIZE == CHUNK_SIZE + 16);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_rust_ranges() {
        assert_eq!(bounds(&(5..10)).unwrap(), (5, Some(10)));
        assert_eq!(bounds(&(5..=10)).unwrap(), (5, Some(11)));
        assert_eq!(bounds(&(5..)).unwrap(), (5, None));
        assert_eq!(bounds(&(..7)).unwrap(), (0, Some(7)));
        assert!(bounds(&(Bound::Included(9u64), Bound::Excluded(3u64))).is_err());
    }
}
