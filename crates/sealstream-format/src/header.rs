//! The envelope header in front of the C2SP body.
//!
//! ```text
//!  0        8            12                                                              4096
//!  +--------+------------+------------------------------------+-------------+-----------+
//!  | magic  | header_len | bound section                      | key block   | padding   |
//!  | 8 B    | u32 = 4096 | version u8, suite u8, context pairs| name, recs  | zero bytes|
//!  +--------+------------+------------------------------------+-------------+-----------+
//!                        \______ C2SP `context` input ________/
//! ```
//!
//! The bound section is fed to the body's key derivation, so changing the
//! version, the suite or any context pair makes the commitment check fail.
//! The key block (the object's name and the wrapped keys) is outside that
//! binding: re-wrapping or renaming replaces it without touching the body.
//! Every key record binds the bound section, the salt and the name in its
//! wrapping, so a record cannot serve another object or another name
//! (docs/FORMAT.md, "Header", "Key block", "Key records").

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use crate::error::{Error, Result};
use crate::suite::Suite;

/// The eight magic bytes every sealstream object starts with.
pub const MAGIC: [u8; 8] = [0x89, b'S', b'L', b'S', 0x0D, 0x0A, 0x1A, 0x0A];
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 2;
/// Bytes before the bound section: magic and `header_len`.
pub const FIXED_PREFIX_LEN: usize = 12;
/// Bytes a reader needs to check magic, length, version and suite.
pub const PEEK_LEN: usize = FIXED_PREFIX_LEN + 2;
/// The length of every header, in bytes: the fields followed by zero
/// padding. An object is therefore `HEADER_LEN` + its body length.
pub const HEADER_LEN: usize = 4096;
/// Longest object name, in bytes (UTF-8).
pub const MAX_NAME_LEN: usize = 1024;
/// Most context pairs in one header.
pub const MAX_CONTEXT_PAIRS: usize = 64;
/// Longest context key, in bytes.
pub const MAX_CONTEXT_KEY_LEN: usize = 128;
/// Longest context value, in bytes.
pub const MAX_CONTEXT_VALUE_LEN: usize = 1024;
/// Most key records in one header.
pub const MAX_KEY_RECORDS: usize = 32;
/// Longest provider id, in bytes.
pub const MAX_PROVIDER_LEN: usize = 32;
/// Longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 2048;
/// Longest wrapped key, in bytes.
pub const MAX_WRAPPED_LEN: usize = 8192;
/// Context keys starting with this prefix are reserved for sealstream.
pub const RESERVED_PREFIX: &str = "sealstream:";
/// The reserved context key holding a file's permission bits.
pub const MODE_KEY: &str = "sealstream:mode";
/// The reserved context key holding a file's modification time.
pub const MTIME_KEY: &str = "sealstream:mtime";
/// The fewest bytes the header's fields can take: an empty context, an
/// empty name and one record with a one-byte provider id, an empty key id
/// and one wrapped byte. The rest of the [`HEADER_LEN`] bytes is padding.
pub const MIN_FIELDS_LEN: usize = FIXED_PREFIX_LEN + 4 + 2 + 2 + (1 + 1) + 2 + (2 + 1);

/// The encryption context: UTF-8 key/value pairs bound to the body.
///
/// Keys are unique and kept sorted (bytewise), which is also their order on
/// the wire. Context is authenticated but **not** encrypted: anyone holding
/// the object can read it. Do not put secrets in it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair, checking the limits of docs/FORMAT.md. A key may be set
    /// only once; keys starting with `sealstream:` are reserved.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Result<()> {
        let key = key.into();
        let value = value.into();
        check_context_key(&key).map_err(|reason| Error::InvalidInput {
            what: "encryption context key",
            reason,
        })?;
        at_most(
            "encryption context value length",
            value.len(),
            MAX_CONTEXT_VALUE_LEN,
        )?;
        if self.0.contains_key(&key) {
            return Err(Error::InvalidInput {
                what: "encryption context",
                reason: "a key was given twice",
            });
        }
        if self.0.len() >= MAX_CONTEXT_PAIRS {
            return Err(Error::LimitExceeded {
                what: "encryption context pair count",
                actual: self.0.len() as u64 + 1,
                limit: MAX_CONTEXT_PAIRS as u64,
            });
        }
        self.0.insert(key, value);
        Ok(())
    }

    /// Builds a context from pairs; fails on the first invalid or repeated key.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut ctx = Self::new();
        for (k, v) in pairs {
            ctx.insert(k, v)?;
        }
        Ok(ctx)
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets the two reserved file-metadata pairs (`sealstream:mode`,
    /// `sealstream:mtime`; docs/FORMAT.md, "File metadata"): a field that is
    /// `Some` is written, one that is `None` removes its pair. They count
    /// towards the 64 pairs like any other. Fails if `mode` has bits above
    /// `0o7777` or `nanos` is above 999 999 999.
    pub fn set_file_metadata(&mut self, meta: FileMetadata) -> Result<()> {
        let mode = match meta.mode {
            Some(m) if m > 0o7777 => {
                return Err(Error::InvalidInput {
                    what: "file mode",
                    reason: "only the permission bits (mode & 0o7777) are stored",
                });
            }
            m => m.map(|m| format!("{m:04o}")),
        };
        let mtime = match meta.mtime {
            Some(t) if t.nanos > MAX_NANOS => {
                return Err(Error::InvalidInput {
                    what: "file modification time",
                    reason: "nanoseconds are at most 999999999",
                });
            }
            t => t.map(|t| format!("{}.{:09}", t.secs, t.nanos)),
        };
        let mut next = self.0.clone();
        for (key, value) in [(MODE_KEY, mode), (MTIME_KEY, mtime)] {
            match value {
                Some(v) => next.insert(key.to_owned(), v),
                None => next.remove(key),
            };
        }
        at_most(
            "encryption context pair count",
            next.len(),
            MAX_CONTEXT_PAIRS,
        )?;
        self.0 = next;
        Ok(())
    }

    /// The file metadata held in the reserved pairs, if any (their values
    /// were validated when the context was built or parsed).
    pub fn file_metadata(&self) -> FileMetadata {
        FileMetadata {
            mode: self.get(MODE_KEY).and_then(parse_mode),
            mtime: self.get(MTIME_KEY).and_then(parse_mtime),
        }
    }

    /// The canonical encoding of the pairs alone (count, then each pair), as
    /// it appears in the bound section.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "insert() bounds keys to 128 bytes"
    )]
    fn encode_into(&self, out: &mut Vec<u8>) {
        put_u16(out, self.0.len());
        for (k, v) in &self.0 {
            out.push(k.len() as u8);
            out.extend_from_slice(k.as_bytes());
            put_u16(out, v.len());
            out.extend_from_slice(v.as_bytes());
        }
    }
}

impl fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

const MAX_NANOS: u32 = 999_999_999;

/// A file's permission bits and modification time, stored in the reserved
/// context pairs `sealstream:mode` and `sealstream:mtime` (docs/FORMAT.md,
/// "File metadata"). Being context, they are authenticated by the body's
/// commitment, and they are public like all context.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileMetadata {
    /// The permission bits, `st_mode & 0o7777`.
    pub mode: Option<u32>,
    /// The modification time.
    pub mtime: Option<FileTime>,
}

/// A point in time as stored in `sealstream:mtime`: `secs` seconds after
/// the Unix epoch (negative before it) plus `nanos` nanoseconds
/// (0..=999 999 999), like a POSIX `timespec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileTime {
    /// Whole seconds since 1970-01-01T00:00:00Z, rounded down.
    pub secs: i64,
    /// Nanoseconds added to `secs`.
    pub nanos: u32,
}

/// `sealstream:mode`: exactly four octal digits.
fn parse_mode(v: &str) -> Option<u32> {
    let ok = v.len() == 4 && v.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if ok {
        u32::from_str_radix(v, 8).ok()
    } else {
        None
    }
}

/// `sealstream:mtime`: `-?(0|[1-9][0-9]*)` fitting an i64 (not `-0`),
/// then `.` and exactly nine digits.
fn parse_mtime(v: &str) -> Option<FileTime> {
    let (secs, nanos) = v.split_once('.')?;
    let digits = secs.strip_prefix('-').unwrap_or(secs);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && secs != "-0";
    if !canonical || nanos.len() != 9 || !nanos.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(FileTime {
        secs: secs.parse().ok()?,
        nanos: nanos.parse().ok()?,
    })
}

/// Checks an object name against docs/FORMAT.md, "Key block": at most 1024
/// bytes of UTF-8 (a `&str` is), no control character (Unicode category
/// Cc: U+0000..U+001F, U+007F..U+009F). The empty name means "not bound to
/// a name". Key providers call it before wrapping anything.
pub fn validate_name(name: &str) -> Result<()> {
    at_most("object name length", name.len(), MAX_NAME_LEN)?;
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput {
            what: "object name",
            reason: "it contains a control character (U+0000..U+001F, U+007F..U+009F)",
        });
    }
    Ok(())
}

/// Fails with [`Error::LimitExceeded`] if `actual` is above `limit`.
fn at_most(what: &'static str, actual: usize, limit: usize) -> Result<()> {
    if actual > limit {
        return Err(Error::LimitExceeded {
            what,
            actual: actual as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

fn check_context_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("a context key must not be empty");
    }
    if key.len() > MAX_CONTEXT_KEY_LEN {
        return Err("a context key is at most 128 bytes");
    }
    if key.starts_with(RESERVED_PREFIX) {
        return Err("keys starting with `sealstream:` are reserved");
    }
    Ok(())
}

/// One wrapped copy of the data key: who wrapped it and the wrapped bytes.
///
/// The format crate does not interpret `wrapped`; the provider named by
/// `provider` (see docs/FORMAT.md, "Key records") does.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    provider: String,
    key_id: String,
    wrapped: Vec<u8>,
}

impl KeyRecord {
    /// A record, checked against the limits of docs/FORMAT.md.
    pub fn new(
        provider: impl Into<String>,
        key_id: impl Into<String>,
        wrapped: Vec<u8>,
    ) -> Result<Self> {
        let provider = provider.into();
        let key_id = key_id.into();
        check_provider(provider.as_bytes()).map_err(|reason| Error::InvalidInput {
            what: "key record provider id",
            reason,
        })?;
        at_most("key id length", key_id.len(), MAX_KEY_ID_LEN)?;
        if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_LEN {
            return Err(Error::LimitExceeded {
                what: "wrapped key length (1 to 8192)",
                actual: wrapped.len() as u64,
                limit: MAX_WRAPPED_LEN as u64,
            });
        }
        Ok(KeyRecord {
            provider,
            key_id,
            wrapped,
        })
    }

    /// The provider id (`aws-kms`, `local`, `x25519`, ...).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The key id: a KMS key ARN, a local key's id, a recipient fingerprint.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The wrapped data key, opaque to this crate.
    pub fn wrapped(&self) -> &[u8] {
        &self.wrapped
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("provider", &self.provider)
            .field("key_id", &self.key_id)
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

fn check_provider(p: &[u8]) -> Result<(), &'static str> {
    if p.is_empty() || p.len() > MAX_PROVIDER_LEN {
        return Err("a provider id is 1 to 32 bytes");
    }
    let ok_first = p.first().is_some_and(u8::is_ascii_lowercase);
    let ok_rest = p
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok_first && ok_rest {
        Ok(())
    } else {
        Err("a provider id is lowercase ASCII letters, digits, '-' and '.', starting with a letter")
    }
}

/// A parsed or freshly built header: suite, context, name and key block.
///
/// The encoding is canonical: [`Header::encode`] of a parsed header gives
/// back exactly the 4096 bytes that were parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    suite: Suite,
    context: EncryptionContext,
    name: String,
    records: Vec<KeyRecord>,
    bound: Vec<u8>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("version", &FORMAT_VERSION)
            .field("suite", &self.suite)
            .field("context", &self.context)
            .field("name", &self.name)
            .field("records", &self.records)
            .finish()
    }
}

/// The outcome of [`Header::parse_prefix`] on a buffer that may hold only
/// the start of an object.
#[derive(Debug)]
pub enum HeaderParse {
    /// The header is complete; the body starts at `len`.
    Complete {
        /// The header.
        header: Header,
        /// Its encoded length (the body's offset in the object).
        len: usize,
    },
    /// The buffer is a valid prefix so far; at least `needed` bytes in total
    /// are required to go on.
    NeedMore {
        /// The total number of bytes needed (not the number missing).
        needed: usize,
    },
}

impl Header {
    /// A header for a new object, bound to `name` (`""`: bound to no
    /// name). Fails if the name is invalid ([`validate_name`]), the key
    /// block is empty or has more than 32 records, or the fields need more
    /// than [`HEADER_LEN`] bytes.
    ///
    /// Every record must have been wrapped for exactly this suite, context,
    /// name and the salt the body will be sealed with (docs/FORMAT.md, "Key
    /// records"); the format crate cannot check that, the key provider does.
    pub fn new(
        suite: Suite,
        context: EncryptionContext,
        name: &str,
        records: Vec<KeyRecord>,
    ) -> Result<Self> {
        validate_name(name)?;
        if records.is_empty() {
            return Err(Error::InvalidInput {
                what: "key block",
                reason: "at least one wrapped key record is required",
            });
        }
        at_most("key record count", records.len(), MAX_KEY_RECORDS)?;
        let bound = encode_bound(suite, &context);
        let header = Header {
            suite,
            context,
            name: name.to_owned(),
            records,
            bound,
        };
        at_most(
            "header size in bytes (the context, name and key records must fit in 4096 bytes: \
             use fewer key records or a smaller context)",
            header.fields_len(),
            HEADER_LEN,
        )?;
        Ok(header)
    }

    /// The same header with another key block (re-wrapping). The bound
    /// section, and therefore the body, stay valid; the records must be
    /// wrapped for this header's name.
    pub fn with_records(&self, records: Vec<KeyRecord>) -> Result<Self> {
        Header::new(self.suite, self.context.clone(), &self.name, records)
    }

    /// The same header under another name with a key block wrapped for it
    /// (renaming without re-encrypting the body).
    pub fn with_name_and_records(&self, name: &str, records: Vec<KeyRecord>) -> Result<Self> {
        Header::new(self.suite, self.context.clone(), name, records)
    }

    /// The bound section a header with `suite` and `context` has: version,
    /// suite and context pairs. Key providers bind it before the header
    /// exists (docs/FORMAT.md, "Key records").
    pub fn bound_section_for(suite: Suite, context: &EncryptionContext) -> Vec<u8> {
        encode_bound(suite, context)
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The format version (always 2 in this build).
    pub fn version(&self) -> u8 {
        FORMAT_VERSION
    }

    /// The encryption context.
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The object name the key records are bound to; empty if the object
    /// is bound to no name. It is cleartext and, on its own, unauthenticated:
    /// it is authenticated only by unwrapping a record (docs/FORMAT.md,
    /// "Reading").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fails with [`Error::NameMismatch`] unless this header is bound to
    /// `expected` exactly (bytewise; an unbound header matches only `""`).
    pub fn check_name(&self, expected: &str) -> Result<()> {
        if self.name == expected {
            Ok(())
        } else {
            Err(Error::NameMismatch {
                expected: expected.to_owned(),
                found: self.name.clone(),
            })
        }
    }

    /// The key block's records, in header order.
    pub fn records(&self) -> &[KeyRecord] {
        &self.records
    }

    /// The bound section: the exact bytes fed to the body's key derivation
    /// as the C2SP `context`.
    pub fn bound_section(&self) -> &[u8] {
        &self.bound
    }

    /// The bytes the header's fields take before the padding (at most
    /// [`HEADER_LEN`]).
    pub fn fields_len(&self) -> usize {
        FIXED_PREFIX_LEN
            + self.bound.len()
            + 2
            + self.name.len()
            + 2
            + self
                .records
                .iter()
                .map(|r| 1 + r.provider.len() + 2 + r.key_id.len() + 2 + r.wrapped.len())
                .sum::<usize>()
    }

    /// The length of [`Header::encode`]'s output: always [`HEADER_LEN`].
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
    }

    /// The canonical encoding: the fields, then zero padding to
    /// [`HEADER_LEN`] bytes.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "Header::new and KeyRecord::new bound every length"
    )]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&(HEADER_LEN as u32).to_be_bytes());
        out.extend_from_slice(&self.bound);
        put_u16(&mut out, self.name.len());
        out.extend_from_slice(self.name.as_bytes());
        put_u16(&mut out, self.records.len());
        for r in &self.records {
            out.push(r.provider.len() as u8);
            out.extend_from_slice(r.provider.as_bytes());
            put_u16(&mut out, r.key_id.len());
            out.extend_from_slice(r.key_id.as_bytes());
            put_u16(&mut out, r.wrapped.len());
            out.extend_from_slice(&r.wrapped);
        }
        debug_assert_eq!(out.len(), self.fields_len());
        // Header::new checked fields_len() <= HEADER_LEN.
        out.resize(HEADER_LEN, 0);
        out
    }

    /// The total header length declared by the first [`PEEK_LEN`] bytes of
    /// an object, after checking the magic, version, suite and that the
    /// length is [`HEADER_LEN`] (so it is always `HEADER_LEN`). `Ok(None)`
    /// if fewer than 12 bytes are given (and those match the magic so far).
    pub fn peek_len(prefix: &[u8]) -> Result<Option<usize>> {
        let magic_part = prefix.get(..MAGIC.len().min(prefix.len())).unwrap_or(&[]);
        if magic_part != MAGIC.get(..magic_part.len()).unwrap_or(&[]) {
            return Err(Error::NotSealstream);
        }
        // Version and suite come before the length check so that another
        // version (version 1 had a variable header_len) is reported as such.
        if let Some(&version) = prefix.get(FIXED_PREFIX_LEN)
            && version != FORMAT_VERSION
        {
            return Err(Error::UnsupportedVersion(version));
        }
        if let Some(&suite) = prefix.get(FIXED_PREFIX_LEN + 1) {
            Suite::from_id(suite)?;
        }
        let Some(len_bytes) = prefix.get(8..12) else {
            return Ok(None);
        };
        let mut be = [0u8; 4];
        be.copy_from_slice(len_bytes);
        if usize::try_from(u32::from_be_bytes(be)) != Ok(HEADER_LEN) {
            return Err(Error::malformed(
                "header_len",
                "is not 4096 (every version-2 header is exactly 4096 bytes)",
            ));
        }
        Ok(Some(HEADER_LEN))
    }

    /// Parses a header at the start of `bytes`, telling a valid but
    /// incomplete prefix apart from malformed input.
    pub fn parse_prefix(bytes: &[u8]) -> Result<HeaderParse> {
        let Some(len) = Header::peek_len(bytes)? else {
            return Ok(HeaderParse::NeedMore {
                needed: FIXED_PREFIX_LEN,
            });
        };
        match bytes.get(..len) {
            None => Ok(HeaderParse::NeedMore { needed: len }),
            Some(h) => Ok(HeaderParse::Complete {
                header: parse_exact(h, len)?,
                len,
            }),
        }
    }

    /// Parses exactly one header; `bytes` must hold the header and nothing
    /// else.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match Header::parse_prefix(bytes)? {
            HeaderParse::Complete { header, len } if len == bytes.len() => Ok(header),
            HeaderParse::Complete { .. } => Err(Error::malformed(
                "header_len",
                "is shorter than the bytes given (trailing bytes after the header)",
            )),
            HeaderParse::NeedMore { .. } => Err(Error::Truncated {
                detail: "the header is incomplete",
            }),
        }
    }

    /// Reads one header from a stream, consuming exactly its bytes.
    /// Returns the header and its encoded length.
    pub fn read_from<R: Read + ?Sized>(reader: &mut R) -> Result<(Self, usize)> {
        let mut buf = vec![0u8; PEEK_LEN];
        let got = read_full(reader, &mut buf)?;
        let prefix = buf.get(..got).unwrap_or(&[]);
        let Some(len) = Header::peek_len(prefix)? else {
            return Err(if got == 0 {
                Error::Truncated {
                    detail: "the object is empty",
                }
            } else {
                Error::Truncated {
                    detail: "the header is incomplete",
                }
            });
        };
        if got < PEEK_LEN {
            return Err(Error::Truncated {
                detail: "the header is incomplete",
            });
        }
        buf.resize(len, 0);
        let rest = buf.get_mut(PEEK_LEN..).unwrap_or(&mut []);
        let want = rest.len();
        if read_full(reader, rest)? != want {
            return Err(Error::Truncated {
                detail: "the header is incomplete",
            });
        }
        Ok((parse_exact(&buf, len)?, len))
    }
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(filled)
}

fn encode_bound(suite: Suite, context: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(FORMAT_VERSION);
    out.push(suite.id());
    context.encode_into(&mut out);
    out
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "every length passed here was checked against a limit below 2^16"
)]
fn put_u16(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u16).to_be_bytes());
}

/// A bounded cursor over header bytes.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(Error::malformed(
            field,
            "runs past the end of the 4096-byte header",
        ))?;
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8> {
        let b = self.take(1, field)?;
        Ok(b.first().copied().unwrap_or(0))
    }

    fn u16(&mut self, field: &'static str) -> Result<usize> {
        let b = self.take(2, field)?;
        let mut be = [0u8; 2];
        be.copy_from_slice(b);
        Ok(usize::from(u16::from_be_bytes(be)))
    }

    fn utf8(&mut self, n: usize, field: &'static str) -> Result<&'a str> {
        let b = self.take(n, field)?;
        std::str::from_utf8(b).map_err(|_| Error::malformed(field, "is not valid UTF-8"))
    }
}

fn parse_exact(bytes: &[u8], len: usize) -> Result<Header> {
    let body = bytes
        .get(FIXED_PREFIX_LEN..len)
        .ok_or(Error::malformed("header_len", "is not 4096"))?;
    let mut c = Cursor { rest: body };

    let version = c.u8("version")?;
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    let suite = Suite::from_id(c.u8("suite")?)?;

    let count = c.u16("context_count")?;
    at_most("encryption context pair count", count, MAX_CONTEXT_PAIRS)?;
    let mut context = BTreeMap::new();
    let mut previous: Option<&str> = None;
    for _ in 0..count {
        let klen = usize::from(c.u8("key_len")?);
        if klen == 0 {
            return Err(Error::malformed(
                "context key",
                "is empty (key_len is zero)",
            ));
        }
        at_most("encryption context key length", klen, MAX_CONTEXT_KEY_LEN)?;
        let key = c.utf8(klen, "context key")?;
        if key.starts_with(RESERVED_PREFIX) && key != MODE_KEY && key != MTIME_KEY {
            return Err(Error::malformed(
                "context key",
                "uses the reserved `sealstream:` namespace with a key version 2 does not define",
            ));
        }
        if previous.is_some_and(|p| p.as_bytes() >= key.as_bytes()) {
            return Err(Error::malformed(
                "context key",
                "is out of order or repeated (keys must be unique and sorted)",
            ));
        }
        previous = Some(key);
        let vlen = c.u16("value_len")?;
        at_most(
            "encryption context value length",
            vlen,
            MAX_CONTEXT_VALUE_LEN,
        )?;
        let value = c.utf8(vlen, "context value")?;
        if key == MODE_KEY && parse_mode(value).is_none() {
            return Err(Error::malformed(
                MODE_KEY,
                "is not exactly four octal digits",
            ));
        }
        if key == MTIME_KEY && parse_mtime(value).is_none() {
            return Err(Error::malformed(
                MTIME_KEY,
                "is not canonical seconds since the epoch, '.', and nine digits of nanoseconds",
            ));
        }
        context.insert(key.to_owned(), value.to_owned());
    }
    let bound_len = body.len() - c.rest.len();
    let bound = body.get(..bound_len).unwrap_or(&[]).to_vec();

    let name_len = c.u16("name_len")?;
    at_most("object name length", name_len, MAX_NAME_LEN)?;
    let name = c.utf8(name_len, "name")?;
    if name.chars().any(char::is_control) {
        return Err(Error::malformed(
            "name",
            "contains a control character (U+0000..U+001F, U+007F..U+009F)",
        ));
    }

    let nrec = c.u16("record_count")?;
    if nrec == 0 {
        return Err(Error::malformed(
            "record_count",
            "is zero (an object needs at least one wrapped key)",
        ));
    }
    at_most("key record count", nrec, MAX_KEY_RECORDS)?;
    let mut records = Vec::with_capacity(nrec);
    for _ in 0..nrec {
        let plen = usize::from(c.u8("provider_len")?);
        at_most("provider id length", plen, MAX_PROVIDER_LEN)?;
        let provider = c.take(plen, "provider")?;
        check_provider(provider).map_err(|reason| Error::malformed("provider", reason))?;
        let klen = c.u16("key_id_len")?;
        at_most("key id length", klen, MAX_KEY_ID_LEN)?;
        let key_id = c.utf8(klen, "key_id")?;
        let wlen = c.u16("wrapped_len")?;
        if wlen == 0 {
            return Err(Error::malformed(
                "wrapped",
                "is empty (wrapped_len is zero)",
            ));
        }
        at_most("wrapped key length", wlen, MAX_WRAPPED_LEN)?;
        let wrapped = c.take(wlen, "wrapped")?;
        records.push(KeyRecord {
            // check_provider admitted only ASCII.
            provider: String::from_utf8_lossy(provider).into_owned(),
            key_id: key_id.to_owned(),
            wrapped: wrapped.to_vec(),
        });
    }
    if c.rest.iter().any(|&b| b != 0) {
        return Err(Error::malformed(
            "padding",
            "holds a non-zero byte (the bytes after the last key record must be zero)",
        ));
    }
    Ok(Header {
        suite,
        context: EncryptionContext(context),
        name: name.to_owned(),
        records,
        bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        let ctx = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
        let rec = KeyRecord::new("local", "k1", vec![0xAA; 60]).unwrap();
        Header::new(Suite::Aes256Gcm, ctx, "backups/db.tar", vec![rec]).unwrap()
    }

    #[test]
    fn round_trip_is_canonical() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert!(bytes[h.fields_len()..].iter().all(|&b| b == 0));
        let parsed = Header::parse(&bytes).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(parsed.name(), "backups/db.tar");
        assert_eq!(parsed.encode(), bytes);
    }

    #[test]
    fn minimum_fields_parse() {
        let rec = KeyRecord::new("a", "", vec![1]).unwrap();
        let h = Header::new(Suite::Aes256Gcm, EncryptionContext::new(), "", vec![rec]).unwrap();
        assert_eq!(h.fields_len(), MIN_FIELDS_LEN);
        Header::parse(&h.encode()).unwrap();
    }

    #[test]
    fn every_strict_prefix_needs_more() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            match Header::parse_prefix(&bytes[..n]).unwrap() {
                HeaderParse::NeedMore { needed } => assert!(needed > n),
                HeaderParse::Complete { .. } => panic!("prefix {n} parsed as complete"),
            }
        }
    }

    #[test]
    fn reserved_and_duplicate_keys_are_refused() {
        let mut ctx = EncryptionContext::new();
        assert!(ctx.insert("sealstream:x", "1").is_err());
        assert!(ctx.insert(MODE_KEY, "0644").is_err());
        ctx.insert("a", "1").unwrap();
        assert!(ctx.insert("a", "2").is_err());
        assert!(ctx.insert("", "2").is_err());
    }

    #[test]
    fn names_are_checked_and_compared() {
        let rec = || vec![KeyRecord::new("a", "", vec![1]).unwrap()];
        let ctx = EncryptionContext::new;
        for bad in ["a\nb", "\u{7f}", "\u{9b}x", "tab\t"] {
            assert!(
                Header::new(Suite::Aes256Gcm, ctx(), bad, rec()).is_err(),
                "{bad:?}"
            );
        }
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert!(Header::new(Suite::Aes256Gcm, ctx(), &long, rec()).is_err());
        let h = Header::new(Suite::Aes256Gcm, ctx(), &long[1..], rec()).unwrap();
        assert_eq!(Header::parse(&h.encode()).unwrap().name(), &long[1..]);
        let h = sample();
        h.check_name("backups/db.tar").unwrap();
        assert!(matches!(
            h.check_name("backups/other.tar"),
            Err(Error::NameMismatch { expected, found })
                if expected == "backups/other.tar" && found == "backups/db.tar"
        ));
        // The message names both, with control characters escaped.
        let e = h.check_name("evil\u{1b}[2J").unwrap_err().to_string();
        assert!(
            e.contains("\"backups/db.tar\"") && e.contains("\\u{1b}"),
            "{e}"
        );
        assert!(!e.contains('\u{1b}'), "{e}");
        let unbound = Header::new(Suite::Aes256Gcm, ctx(), "", rec()).unwrap();
        let e = unbound.check_name("a").unwrap_err().to_string();
        assert!(e.contains("bound to no name"), "{e}");
        let moved = h.with_name_and_records("x", rec()).unwrap();
        assert_eq!(
            (moved.name(), moved.bound_section()),
            ("x", h.bound_section())
        );
    }

    #[test]
    fn file_metadata_round_trips_and_is_validated() {
        let mut ctx = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
        let meta = FileMetadata {
            mode: Some(0o644),
            mtime: Some(FileTime { secs: -1, nanos: 5 }),
        };
        ctx.set_file_metadata(meta).unwrap();
        assert_eq!(ctx.get(MODE_KEY), Some("0644"));
        assert_eq!(ctx.get(MTIME_KEY), Some("-1.000000005"));
        let rec = vec![KeyRecord::new("a", "", vec![1]).unwrap()];
        let h = Header::new(Suite::Aes256Gcm, ctx, "", rec).unwrap();
        assert_eq!(
            Header::parse(&h.encode())
                .unwrap()
                .context()
                .file_metadata(),
            meta
        );
        let mut ctx = EncryptionContext::new();
        assert!(
            ctx.set_file_metadata(FileMetadata {
                mode: Some(0o10000),
                mtime: None
            })
            .is_err()
        );
        for good in ["0.000000000", "1733150000.123456789", "-5.999999999"] {
            assert!(parse_mtime(good).is_some(), "{good}");
        }
        for bad in [
            "-0.000000000",
            "01.000000000",
            "1.12345678",
            "1.1234567890",
            "1",
            "+1.000000000",
            ".000000000",
            "99999999999999999999.000000000",
        ] {
            assert!(parse_mtime(bad).is_none(), "{bad}");
        }
        for bad in ["644", "00644", "0648", "064a"] {
            assert!(parse_mode(bad).is_none(), "{bad}");
        }
    }
}
