//! Secret and public key files: atomic creation with mode 0600, reading
//! with a permission check, and the small text codecs they use.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use ring::digest;
use sealstream_atomic::{AtomicFile, Mode, Publish};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Key files are tiny; anything larger is not one of ours (and is not read
/// into memory).
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Whether creating a key file may replace an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail if the file exists (the default: losing a key loses data).
    Never,
    /// Replace an existing file. The old key is gone afterwards: objects
    /// sealed only with it cannot be opened any more.
    DangerReplaceExisting,
}

/// Whether a file holds a secret (mode 0600, checked on read) or a public
/// key (mode 0644).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    Secret,
    Public,
}

fn key_file_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Writes `contents` to `path` atomically through the workspace's one
/// writer ([`sealstream_atomic::AtomicFile`]: a temporary file in the same
/// directory created new, mode 0600 for secrets, synced, then renamed into
/// place, never over an existing file unless `overwrite` says so).
pub(crate) fn write_key_file(
    path: &Path,
    contents: &[u8],
    secrecy: Secrecy,
    overwrite: Overwrite,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.file_name().is_none() {
        return Err(key_file_error(path, "the path does not name a file"));
    }
    if overwrite == Overwrite::Never && path.symlink_metadata().is_ok() {
        return Err(already_exists(path));
    }
    let mode = match secrecy {
        Secrecy::Secret => Mode::Private,
        Secrecy::Public => Mode::Public,
    };
    let mut tmp = AtomicFile::create(path, mode).map_err(|e| {
        key_file_error(
            path,
            format!("cannot create a file in {}: {e}", dir.display()),
        )
    })?;
    tmp.write_all(contents)
        .map_err(|e| key_file_error(path, format!("cannot write: {e}")))?;
    tmp.commit(match overwrite {
        Overwrite::DangerReplaceExisting => Publish::Replace,
        Overwrite::Never => Publish::CreateNew,
    })
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            already_exists(path)
        } else {
            key_file_error(path, format!("cannot create: {e}"))
        }
    })
}

fn already_exists(path: &Path) -> Error {
    key_file_error(
        path,
        "the file already exists; refusing to overwrite a key (move it away first, or ask \
         explicitly to replace it: objects sealed only with the old key would become unreadable)",
    )
}

/// The prefixes of public key text, recognised in a file given as a secret
/// key (x25519.rs holds the same constant; a unit test there keeps them equal).
pub(crate) const PUBLIC_KEY_PREFIXES: &[&str] = &["sealstream-x25519-pub1:"];

/// Reads a key file (docs/FORMAT.md, "Key files"), in this order:
///
/// 1. opens it without blocking (`O_NONBLOCK`: a FIFO would otherwise block
///    `open(2)` until some writer appears) and `fstat`s the opened file, so
///    every check below is about the file that is read, not about whatever
///    the path names a moment later;
/// 2. refuses anything but a regular file (FIFO, socket, device, directory)
///    and a file over 4096 bytes, before reading a byte of it;
/// 3. reads it into zeroizing storage;
/// 4. for secrets: refuses a public key given in place of a secret one
///    (recognised from the content, so the message says what is wrong instead
///    of complaining about its world-readable mode), then refuses a file that
///    group or others may read or write.
///
/// A symbolic link is followed (a key file linked from a configuration
/// folder is ordinary); the file it leads to is what is checked.
pub(crate) fn read_key_file(path: &Path, secrecy: Secrecy) -> Result<Zeroizing<Vec<u8>>> {
    read_checked(path, secrecy, true)
}

/// Reads a small secret file that is not a sealstream key file (a share
/// link, an SSE-C key) with the same checks as a secret key file: opened
/// without blocking and `fstat`ed; refused unless it is a regular file of
/// at most 4096 bytes that neither group nor others may read or write;
/// read into zeroizing storage. Errors are [`Error::KeyFile`] naming the
/// path and what to do.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    read_checked(path, Secrecy::Secret, false)
}

/// [`read_key_file`]'s steps; `key_file`: the public-key content check and
/// the key-file wording.
fn read_checked(path: &Path, secrecy: Secrecy, key_file: bool) -> Result<Zeroizing<Vec<u8>>> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // No effect on a regular file; makes open(2) of a FIFO return at once
        // so that the type check refuses it.
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts
        .open(path)
        .map_err(|e| key_file_error(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| key_file_error(path, format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Err(key_file_error(
            path,
            format!(
                "not a regular file (it is {}); pass the path of the {} itself",
                file_kind(&meta),
                if key_file { "key file" } else { "file" }
            ),
        ));
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(too_large(path));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(|e| key_file_error(path, format!("cannot read: {e}")))?;
    if buf.len() as u64 > MAX_KEY_FILE_LEN {
        // It grew between the fstat and the read.
        return Err(too_large(path));
    }
    if secrecy == Secrecy::Secret {
        if key_file && holds_public_key(&buf) {
            return Err(key_file_error(
                path,
                "this is a public key; pass the secret key file (the one `sealstream keygen` \
                 wrote with mode 0600)",
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                let why = if key_file {
                    "the key file is accessible by group or others (mode {mode}); anyone \
                     who can read it can open every object sealed with it"
                } else {
                    "the file holds a secret and is accessible by group or others (mode \
                     {mode}); anyone who can read it can use that secret"
                };
                return Err(key_file_error(
                    path,
                    format!(
                        "{}. Restrict it with `chmod 600 {}` (and consider whether the secret \
                         has leaked)",
                        why.replace("{mode}", &format!("{mode:04o}")),
                        path.display()
                    ),
                ));
            }
        }
    }
    Ok(buf)
}

fn too_large(path: &Path) -> Error {
    key_file_error(
        path,
        format!("too large to be a sealstream key file (over {MAX_KEY_FILE_LEN} bytes)"),
    )
}

fn file_kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    "not a regular file"
}

/// Whether a non-comment line of `bytes` is public key text. Lenient on
/// purpose (leading whitespace allowed): it only chooses the message.
fn holds_public_key(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let found = text.lines().any(|l| {
        let l = l.trim_start();
        PUBLIC_KEY_PREFIXES.iter().any(|p| l.starts_with(p))
    });
    if let std::borrow::Cow::Owned(s) = text {
        drop(Zeroizing::new(s));
    }
    found
}

/// The content lines of a key file, with their 1-based line numbers
/// (docs/FORMAT.md, "Key files"):
///
/// - the text is split into lines at LF; a CR immediately before an LF is
///   part of the line end (CRLF); the last line may end without LF;
/// - an empty line, and a line whose first character is `#`, is a comment
///   (ignored, whatever follows the `#`);
/// - every other line is a content line and MUST NOT begin or end with
///   whitespace (space, tab, a CR that is not part of CRLF, or any other
///   Unicode white space): such a line is an error naming its number.
///
/// The error is a reason for [`Error::KeyFile`].
pub(crate) fn content_lines(text: &str) -> std::result::Result<Vec<(usize, &str)>, String> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let n = i + 1;
        // Only a CR followed by LF ends a line; the last piece has no LF
        // after it, so a CR there is trailing white space.
        let line = if lines.peek().is_some() {
            raw.strip_suffix('\r').unwrap_or(raw)
        } else {
            raw
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) || line.ends_with(char::is_whitespace) {
            return Err(format!(
                "line {n} begins or ends with white space (space, tab or a stray CR); key file \
                 lines must be exact: remove it"
            ));
        }
        out.push((n, line));
    }
    Ok(out)
}

/// Lowercase hex of public bytes (ids, fingerprints). Not for secrets.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(ct_hex_digit(b >> 4)));
        s.push(char::from(ct_hex_digit(b & 0x0f)));
    }
    s
}

/// Lowercase hex of a secret, without data-dependent branches or table
/// look-ups, into zeroizing storage.
pub(crate) fn hex_encode_secret(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 2));
    for &b in bytes {
        out.push(char::from(ct_hex_digit(b >> 4)));
        out.push(char::from(ct_hex_digit(b & 0x0f)));
    }
    out
}

fn ct_hex_digit(n: u8) -> u8 {
    // n in 0..16: '0' + n, plus 39 more ('a' - '0' - 10) when n > 9, computed
    // with a mask instead of a branch.
    let gt9 = 0u8.wrapping_sub((9u8.wrapping_sub(n)) >> 7);
    b'0' + n + (gt9 & 39)
}

/// Decodes exactly `N` bytes of lowercase hex without data-dependent
/// branches on the digits (only the final validity flag is branched on).
pub(crate) fn hex_decode_secret<const N: usize>(s: &str) -> Option<Zeroizing<[u8; N]>> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = Zeroizing::new([0u8; N]);
    let mut bad = 0u8;
    for (dst, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, hi_bad) = ct_hex_value(pair.first().copied().unwrap_or(0));
        let (lo, lo_bad) = ct_hex_value(pair.get(1).copied().unwrap_or(0));
        bad |= hi_bad | lo_bad;
        *dst = (hi << 4) | lo;
    }
    (bad == 0).then_some(out)
}

/// Value of one lowercase hex digit and a flag (0xff if invalid), computed
/// with masks.
fn ct_hex_value(c: u8) -> (u8, u8) {
    // in_range(c, lo, hi) = 0xff if lo <= c <= hi, else 0.
    fn in_range(c: u8, lo: u8, hi: u8) -> u8 {
        let below = (u16::from(c).wrapping_sub(u16::from(lo)) >> 8) as u8;
        let above = (u16::from(hi).wrapping_sub(u16::from(c)) >> 8) as u8;
        !(below | above)
    }
    let digit = in_range(c, b'0', b'9');
    let letter = in_range(c, b'a', b'f');
    let value = (digit & c.wrapping_sub(b'0')) | (letter & c.wrapping_sub(b'a' - 10));
    (value, !(digit | letter))
}

/// The first 8 bytes of SHA-256(parts...), in lowercase hex: a short name
/// for a key that does not reveal it.
pub(crate) fn short_id(parts: &[&[u8]]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    hex_lower(d.as_ref().get(..8).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Key files used to be written as `.NAME.tmp-<16 hex>`, a name no sweep
    /// knew. A writer killed mid-write now leaves the one name, which the
    /// next write of the same key file removes once stale.
    #[test]
    fn an_abandoned_key_file_temp_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.secret");
        let left = dir.path().join(".k.secret.Ab12Cd.sealstream-tmp");
        fs::write(&left, b"half a key").unwrap();
        let two_days = std::time::SystemTime::now() - sealstream_atomic::STALE_AFTER * 2;
        let aged = fs::File::options().write(true).open(&left);
        aged.and_then(|f| f.set_modified(two_days)).unwrap();
        write_key_file(&path, b"key", Secrecy::Secret, Overwrite::Never).unwrap();
        assert!(!left.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn hex_round_trip_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let mut chunk = [0u8; 32];
        for c in all.chunks(32) {
            chunk.copy_from_slice(c);
            let s = hex_encode_secret(&chunk);
            assert_eq!(*s, hex_lower(&chunk));
            assert_eq!(*hex_decode_secret::<32>(&s).unwrap(), chunk);
        }
    }

    #[test]
    fn hex_rejects_bad_digits() {
        let good = "00".repeat(32);
        assert!(hex_decode_secret::<32>(&good).is_some());
        for bad in ['g', 'A', 'F', ' ', '/', ':', '`', 'G', '\u{7f}'] {
            let mut s = good.clone();
            s.replace_range(10..11, &bad.to_string());
            assert!(hex_decode_secret::<32>(&s).is_none(), "{bad:?}");
        }
        assert!(hex_decode_secret::<32>(&good[..62]).is_none());
        assert!(hex_decode_secret::<32>("é".repeat(32).as_str()).is_none());
    }
}
