//! Tuning knobs: part size, concurrency, suite, server-side encryption.

use sealstream_format::{CHUNK_SIZE, HEADER_LEN, SEALED_CHUNK_SIZE, Suite};
use sealstream_kms::RetryPolicy;

use crate::error::{Error, Result};
use crate::sse::Sse;

const MIB: u64 = 1024 * 1024;
const CHUNK: u64 = CHUNK_SIZE as u64;

/// S3's smallest non-final part (and sealstream's smallest part size).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The default part size, in plaintext bytes.
pub const DEFAULT_PART_SIZE: u64 = 16 * MIB;
/// S3's largest part, in bytes actually sent.
pub const S3_MAX_PART_BYTES: u64 = 5 * 1024 * MIB;
/// The largest part size in plaintext bytes: the largest multiple of 16 KiB
/// whose sealed part, including the largest possible header, body prefix
/// and an empty final chunk, still fits S3's 5 GiB limit.
pub const MAX_PART_SIZE: u64 =
    ((S3_MAX_PART_BYTES - HEADER_LEN as u64 - 56 - 16) / SEALED_CHUNK_SIZE as u64) * CHUNK;
/// S3's limit on parts per multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// Default number of parts (or download segments) in flight.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Default download segment: 512 chunks, a little over 8 MiB of ciphertext.
pub const DEFAULT_SEGMENT_CHUNKS: u64 = 512;

/// How a [`SealClient`](crate::SealClient) seals, uploads and downloads.
///
/// Memory use of an upload stays below
/// `(upload_concurrency + 2) * part_size` plus a small constant, and that
/// of a download below `(download_concurrency + 2) * segment size`,
/// whatever the object size.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The suite new objects are sealed with.
    pub suite: Suite,
    /// Plaintext bytes per multipart part: 5 MiB to 5 GiB, rounded up to a
    /// multiple of 16 KiB and capped at [`MAX_PART_SIZE`]. When the size of
    /// the upload is known the part size grows so that no upload needs
    /// more than 10,000 parts. Objects that fit one part are uploaded with
    /// a single PutObject.
    pub part_size: u64,
    /// Parts sealed and uploading at once (at least 1).
    pub upload_concurrency: usize,
    /// Ranged GETs in flight during a download (1: one streaming GET).
    pub download_concurrency: usize,
    /// Chunks per ranged GET during a parallel download (at least 1).
    pub download_segment_chunks: u64,
    /// Server-side encryption under the sealing.
    pub sse: Sse,
    /// How this crate's own retry loops retry: re-fetches of a response
    /// body cut short, presigned part uploads, multipart aborts. (The AWS
    /// SDK's retries are set on its client; the CLI sets them from the
    /// same values with [`RetryPolicy::sdk_retry_config`].)
    pub retry: RetryPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            suite: Suite::Aes256Gcm,
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_CONCURRENCY,
            download_concurrency: DEFAULT_CONCURRENCY,
            download_segment_chunks: DEFAULT_SEGMENT_CHUNKS,
            sse: Sse::None,
            retry: RetryPolicy::default(),
        }
    }
}

impl Config {
    /// Sets the suite.
    pub fn suite(mut self, suite: Suite) -> Self {
        self.suite = suite;
        self
    }

    /// Sets the part size in plaintext bytes (checked by [`Config::validate`]).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes;
        self
    }

    /// Sets how many parts are in flight during an upload.
    pub fn upload_concurrency(mut self, n: usize) -> Self {
        self.upload_concurrency = n;
        self
    }

    /// Sets how many ranged GETs are in flight during a download.
    pub fn download_concurrency(mut self, n: usize) -> Self {
        self.download_concurrency = n;
        self
    }

    /// Sets the chunks per ranged GET of a parallel download.
    pub fn download_segment_chunks(mut self, n: u64) -> Self {
        self.download_segment_chunks = n;
        self
    }

    /// Sets server-side encryption.
    pub fn sse(mut self, sse: Sse) -> Self {
        self.sse = sse;
        self
    }

    /// Sets the retry policy of this crate's retry loops.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Checks the limits and normalizes the part size (rounded up to a
    /// multiple of 16 KiB, capped at [`MAX_PART_SIZE`]).
    pub fn validate(mut self) -> Result<Self> {
        if self.part_size < MIN_PART_SIZE || self.part_size > S3_MAX_PART_BYTES {
            return Err(Error::InvalidArgument(format!(
                "part size {} is outside S3's limits of 5 MiB to 5 GiB",
                self.part_size
            )));
        }
        self.part_size = self.part_size.div_ceil(CHUNK).saturating_mul(CHUNK);
        self.part_size = self.part_size.min(MAX_PART_SIZE);
        if self.retry.max_attempts == 0 {
            return Err(Error::InvalidArgument(
                "retry max_attempts must be at least 1".into(),
            ));
        }
        if self.upload_concurrency == 0 || self.download_concurrency == 0 {
            return Err(Error::InvalidArgument(
                "concurrency must be at least 1".into(),
            ));
        }
        if self.upload_concurrency > 256 || self.download_concurrency > 256 {
            return Err(Error::InvalidArgument(
                "concurrency above 256 is not supported".into(),
            ));
        }
        if self.download_segment_chunks == 0 || self.download_segment_chunks > 65_536 {
            return Err(Error::InvalidArgument(
                "download segment must be 1 to 65536 chunks".into(),
            ));
        }
        Ok(self)
    }
}

/// The part size to use for an upload: the configured one, grown (in 16 KiB
/// steps) when a known plaintext length would otherwise need more than
/// 10,000 parts.
pub(crate) fn effective_part_size(configured: u64, plaintext_len: Option<u64>) -> Result<u64> {
    let Some(len) = plaintext_len else {
        return Ok(configured);
    };
    if len.div_ceil(configured) <= MAX_PARTS {
        return Ok(configured);
    }
    let grown = len.div_ceil(MAX_PARTS).div_ceil(CHUNK) * CHUNK;
    if grown > MAX_PART_SIZE {
        return Err(Error::InvalidArgument(format!(
            "{len} bytes do not fit in 10,000 parts of at most {MAX_PART_SIZE} bytes"
        )));
    }
    Ok(grown)
}

/// The number of parts an upload of `len` plaintext bytes takes with
/// `part_size` (the empty final chunk of a length that is a multiple of the
/// part size rides in the last part).
pub(crate) fn part_count(len: u64, part_size: u64) -> u64 {
    len.div_ceil(part_size).max(1)
}

/// Checks a part size recorded earlier (an upload journal) against the
/// same rules [`effective_part_size`] follows: a multiple of 16 KiB from
/// 5 MiB to [`MAX_PART_SIZE`], and at most 10,000 parts for `len` bytes.
/// Returns the number of parts, or what is wrong.
pub(crate) fn check_part_size(part_size: u64, len: u64) -> std::result::Result<u64, String> {
    if !part_size.is_multiple_of(CHUNK) || !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        return Err(format!(
            "the part size {part_size} is not a multiple of 16 KiB from 5 MiB to {MAX_PART_SIZE}"
        ));
    }
    let parts = part_count(len, part_size);
    if parts > MAX_PARTS {
        return Err(format!(
            "{len} bytes in parts of {part_size} bytes need more than 10,000 parts"
        ));
    }
    Ok(parts)
}

/// For a stream of unknown length the part size doubles after every this
/// many parts (16 MiB parts: 16 GiB in the first 1,000 parts, about 16 TiB
/// in 10,000), up to [`MAX_PART_SIZE`]. Memory stays below
/// `(concurrency + 2)` times the part size in use.
const GROW_EVERY: i32 = 1000;
// 327,356 chunks: fits any usize of 32 bits or more.
#[allow(clippy::cast_possible_truncation)]
const MAX_CHUNKS_PER_PART: usize = (MAX_PART_SIZE / CHUNK) as usize;

/// The chunks per part after part `number` of an upload of unknown length
/// that used `chunks` per part so far.
pub(crate) fn grown_part_chunks(chunks: usize, number: i32) -> usize {
    if number > 0 && number % GROW_EVERY == 0 {
        chunks.saturating_mul(2).min(MAX_CHUNKS_PER_PART)
    } else {
        chunks
    }
}

/// The size of the copied pieces after part 1 when `rest` stored bytes are
/// copied server-side (UploadPartCopy; stored bytes, so no chunk alignment):
/// the configured part size, grown to fit the 9,999 parts left, at most
/// S3's 5 GiB.
pub(crate) fn copy_part_size(rest: u64, configured: u64) -> u64 {
    rest.div_ceil(MAX_PARTS - 1)
        .max(configured)
        .min(S3_MAX_PART_BYTES)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    #[test]
    fn max_part_fits_s3_limit() {
        let sealed = MAX_PART_SIZE / CHUNK * SEALED_CHUNK_SIZE as u64;
        assert!(sealed + HEADER_LEN as u64 + 56 + 16 <= S3_MAX_PART_BYTES);
        assert!(sealed + SEALED_CHUNK_SIZE as u64 + HEADER_LEN as u64 + 72 > S3_MAX_PART_BYTES);
    }

    #[test]
    fn part_size_grows_to_stay_within_10000_parts() {
        assert_eq!(
            effective_part_size(MIN_PART_SIZE, None).unwrap(),
            MIN_PART_SIZE
        );
        let len = 100 * 1024 * MIB;
        let p = effective_part_size(MIN_PART_SIZE, Some(len)).unwrap();
        assert!(p.is_multiple_of(CHUNK) && p >= MIN_PART_SIZE);
        assert!(part_count(len, p) <= MAX_PARTS);
        let p = effective_part_size(DEFAULT_PART_SIZE, Some(len)).unwrap();
        assert_eq!(p, DEFAULT_PART_SIZE);
        assert!(effective_part_size(DEFAULT_PART_SIZE, Some(MAX_PART_SIZE * 10_001)).is_err());
    }

    #[test]
    fn validate_rounds_and_checks() {
        let c = Config::default()
            .part_size(MIN_PART_SIZE + 1)
            .validate()
            .unwrap();
        assert_eq!(c.part_size, MIN_PART_SIZE + CHUNK);
        assert!(
            Config::default()
                .part_size(MIN_PART_SIZE - 1)
                .validate()
                .is_err()
        );
        let c = Config::default()
            .part_size(S3_MAX_PART_BYTES)
            .validate()
            .unwrap();
        assert_eq!(c.part_size, MAX_PART_SIZE);
        assert!(Config::default().upload_concurrency(0).validate().is_err());
    }

    #[test]
    fn part_size_policy_at_the_edges() {
        const GIB: u64 = 1024 * MIB;
        // Unknown length: the configured size, grown only while streaming.
        assert_eq!(
            effective_part_size(DEFAULT_PART_SIZE, None).unwrap(),
            DEFAULT_PART_SIZE
        );
        let start = (DEFAULT_PART_SIZE / CHUNK) as usize;
        assert_eq!(grown_part_chunks(start, 999), start);
        assert_eq!(grown_part_chunks(start, 1000), 2 * start);
        assert_eq!(
            grown_part_chunks(MAX_CHUNKS_PER_PART, 1000),
            MAX_CHUNKS_PER_PART
        );
        // 0 bytes: one (single-request) part.
        assert_eq!(
            effective_part_size(MIN_PART_SIZE, Some(0)).unwrap(),
            MIN_PART_SIZE
        );
        assert_eq!(part_count(0, MIN_PART_SIZE), 1);
        assert_eq!(check_part_size(MIN_PART_SIZE, 0), Ok(1));
        // 5 GiB: 1,024 parts of 5 MiB.
        let p = effective_part_size(MIN_PART_SIZE, Some(5 * GIB)).unwrap();
        assert_eq!((p, part_count(5 * GIB, p)), (MIN_PART_SIZE, 1024));
        // 5 TiB (S3's largest object): grown, chunk-aligned, within 10,000.
        let len = 5 * 1024 * GIB;
        let p = effective_part_size(MIN_PART_SIZE, Some(len)).unwrap();
        assert!(p.is_multiple_of(CHUNK) && p > MIN_PART_SIZE && p <= MAX_PART_SIZE);
        assert!(part_count(len, p) <= MAX_PARTS);
        assert!(
            part_count(len, p - CHUNK) > MAX_PARTS,
            "the smallest size that fits"
        );
        assert_eq!(check_part_size(p, len), Ok(part_count(len, p)));
        // Recorded sizes outside the rules are refused.
        assert!(check_part_size(MIN_PART_SIZE, len).is_err());
        assert!(check_part_size(MIN_PART_SIZE + 1, 0).is_err());
        assert!(check_part_size(MIN_PART_SIZE - CHUNK, 0).is_err());
        assert!(check_part_size(MAX_PART_SIZE + CHUNK, 0).is_err());
        // Copies: the configured size, grown to fit, capped at 5 GiB.
        assert_eq!(copy_part_size(0, DEFAULT_PART_SIZE), DEFAULT_PART_SIZE);
        assert!(copy_part_size(len, DEFAULT_PART_SIZE).saturating_mul(MAX_PARTS - 1) >= len);
        assert_eq!(
            copy_part_size(u64::MAX, DEFAULT_PART_SIZE),
            S3_MAX_PART_BYTES
        );
    }
}
