//! Pure length and offset arithmetic (docs/FORMAT.md, "Lengths and offsets").
//!
//! Every header is [`HEADER_LEN`] = 4096 bytes, so the plaintext length
//! follows from the stored object length alone.
//!
//! ```text
//!  object length          = 4096 + body length
//!  body offset of chunk k = 56 + k * 16400
//!  body length            = 56 + k * 16400 + (16 + f)   k full chunks, final chunk of f < 16384 bytes
//!  plaintext byte p       = chunk p / 16384, offset p % 16384
//! ```

use std::ops::Range;

use crate::chunk::{BODY_PREFIX_LEN, CHUNK_SIZE, MAX_CHUNKS, SEALED_CHUNK_SIZE, TAG_LEN};
use crate::error::{Error, Result};
use crate::header::HEADER_LEN;

const CHUNK: u64 = CHUNK_SIZE as u64;
const SEALED: u64 = SEALED_CHUNK_SIZE as u64;
const PREFIX: u64 = BODY_PREFIX_LEN as u64;
const TAG: u64 = TAG_LEN as u64;
const HEADER: u64 = HEADER_LEN as u64;

/// The largest plaintext the format can hold: 2^38 chunks, the last short.
pub const MAX_PLAINTEXT_LEN: u64 = MAX_CHUNKS * CHUNK - 1;

/// The body length (salt, commitment and chunks) of a plaintext of `len`
/// bytes.
pub fn body_len(plaintext_len: u64) -> Result<u64> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge);
    }
    let full = plaintext_len / CHUNK;
    let rem = plaintext_len % CHUNK;
    Ok(PREFIX + full * SEALED + rem + TAG)
}

/// The plaintext length of a body of `body_len` bytes, rejecting lengths
/// that no valid body has (the body was truncated or extended).
pub fn plaintext_len(body_len: u64) -> Result<u64> {
    let chunks_len = body_len.checked_sub(PREFIX).ok_or(Error::Truncated {
        detail: "the body is shorter than its 56-byte salt and commitment",
    })?;
    let full = chunks_len / SEALED;
    let last = chunks_len % SEALED;
    if last < TAG {
        return Err(Error::Truncated {
            detail: if last == 0 {
                "the body ends on a chunk boundary, so the final chunk is missing"
            } else {
                "the final chunk is shorter than its 16-byte tag"
            },
        });
    }
    if full >= MAX_CHUNKS {
        return Err(Error::TooLarge);
    }
    Ok(full * CHUNK + (last - TAG))
}

/// The stored length of an object (header and body) holding a plaintext of
/// `plaintext_len` bytes.
pub fn object_len(plaintext_len: u64) -> Result<u64> {
    // body_len <= 56 + 2^38 * 16400, far below u64::MAX - 4096.
    Ok(HEADER + body_len(plaintext_len)?)
}

/// The plaintext length of an object stored as `object_len` bytes, rejecting
/// lengths that no valid object has. The result is as trustworthy as the
/// length it came from: a reader authenticates it by opening the final
/// chunk (docs/FORMAT.md, "Reading").
pub fn plaintext_len_from_object_len(object_len: u64) -> Result<u64> {
    let body = object_len.checked_sub(HEADER).ok_or(Error::Truncated {
        detail: "the object is shorter than its 4096-byte header",
    })?;
    plaintext_len(body)
}

/// Index of the final chunk of a plaintext of `len` bytes.
pub fn final_chunk_index(plaintext_len: u64) -> u64 {
    plaintext_len / CHUNK
}

/// The body byte range holding chunk `index` of a plaintext of
/// `plaintext_len` bytes. A length above [`MAX_PLAINTEXT_LEN`] is an
/// [`Error::TooLarge`] (its offsets would not fit in a `u64`).
pub fn chunk_body_range(index: u64, plaintext_len: u64) -> Result<Range<u64>> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge);
    }
    let last = final_chunk_index(plaintext_len);
    if index > last {
        return Err(Error::OutOfRange {
            offset: index.saturating_mul(CHUNK),
            len: plaintext_len,
        });
    }
    let start = PREFIX + index * SEALED;
    let len = if index == last {
        plaintext_len % CHUNK + TAG
    } else {
        SEALED
    };
    Ok(start..start + len)
}

/// What to fetch to read a plaintext range: the chunks that hold it, their
/// body byte range, and where the wanted bytes sit in the chunks' plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangePlan {
    /// First chunk index holding the range.
    pub first_chunk: u64,
    /// Last chunk index holding the range (inclusive).
    pub last_chunk: u64,
    /// Body byte range covering those chunks (add the header length for an
    /// object offset).
    pub body_range: Range<u64>,
    /// Offset of the range's first byte in the first chunk's plaintext.
    pub skip: u64,
    /// Length of the range in bytes (after clamping to the plaintext).
    pub len: u64,
}

impl RangePlan {
    /// The object byte range covering the planned chunks (the body range
    /// shifted by the 4096-byte header). A reader also needs object bytes
    /// `0..4096 + 56` (header, salt, commitment).
    pub fn object_range(&self) -> Range<u64> {
        HEADER + self.body_range.start..HEADER + self.body_range.end
    }
}

/// Maps a plaintext byte range to the chunks and body bytes that hold it.
///
/// The range is clamped to `plaintext_len`, like an HTTP range: a range
/// that starts at or past the end is an [`Error::OutOfRange`], except that
/// an empty range at the very end is allowed (and maps to the final chunk,
/// so the length is still authenticated). The caller must authenticate the
/// final chunk whenever `plaintext_len` came from an unauthenticated object
/// length and the plan does not include it.
pub fn plan_range(range: Range<u64>, plaintext_len: u64) -> Result<RangePlan> {
    if range.start > plaintext_len || (range.start == plaintext_len && range.end > range.start) {
        return Err(Error::OutOfRange {
            offset: range.start,
            len: plaintext_len,
        });
    }
    let end = range.end.min(plaintext_len).max(range.start);
    let first = range.start / CHUNK;
    let last = if end > range.start {
        (end - 1) / CHUNK
    } else {
        first
    };
    let start_byte = chunk_body_range(first, plaintext_len)?.start;
    let end_byte = chunk_body_range(last, plaintext_len)?.end;
    Ok(RangePlan {
        first_chunk: first,
        last_chunk: last,
        body_range: start_byte..end_byte,
        skip: range.start % CHUNK,
        len: end - range.start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for n in [
            0u64,
            1,
            16383,
            16384,
            16385,
            3 * 16384,
            3 * 16384 + 7,
            1 << 30,
        ] {
            assert_eq!(plaintext_len(body_len(n).unwrap()).unwrap(), n, "len {n}");
        }
    }

    #[test]
    fn impossible_lengths_are_rejected() {
        for bad in [
            0u64,
            55,
            56,
            71,
            56 + 16400,
            56 + 16400 + 15,
            56 + 2 * 16400,
        ] {
            assert!(plaintext_len(bad).is_err(), "{bad} accepted");
        }
        assert!(body_len(MAX_PLAINTEXT_LEN + 1).is_err());
        assert_eq!(
            plaintext_len(body_len(MAX_PLAINTEXT_LEN).unwrap()).unwrap(),
            MAX_PLAINTEXT_LEN
        );
    }

    #[test]
    fn plan_covers_exactly_the_range() {
        let len = 5 * 16384 + 100;
        let p = plan_range(16380..16390, len).unwrap();
        assert_eq!(
            (p.first_chunk, p.last_chunk, p.skip, p.len),
            (0, 1, 16380, 10)
        );
        assert_eq!(p.body_range, 56..56 + 2 * 16400);
        let p = plan_range(len - 1..len + 100, len).unwrap();
        assert_eq!((p.first_chunk, p.last_chunk, p.len), (5, 5, 1));
        assert_eq!(p.body_range.end, body_len(len).unwrap());
        assert!(plan_range(len + 1..len + 2, len).is_err());
        assert!(plan_range(len..len + 1, len).is_err());
        assert_eq!(plan_range(len..len, len).unwrap().len, 0);
    }

    #[test]
    fn object_lengths_round_trip() {
        for n in [0u64, 1, 16383, 16384, 16385, 5 * 16384 + 100] {
            let o = object_len(n).unwrap();
            assert_eq!(o, 4096 + body_len(n).unwrap());
            assert_eq!(plaintext_len_from_object_len(o).unwrap(), n);
        }
        for bad in [0u64, 4095, 4096, 4096 + 71, 4096 + 56 + 16400] {
            assert!(
                plaintext_len_from_object_len(bad).is_err(),
                "{bad} accepted"
            );
        }
        let p = plan_range(5..6, 100).unwrap();
        assert_eq!(p.object_range(), 4096 + 56..4096 + 56 + 116);
    }
}
