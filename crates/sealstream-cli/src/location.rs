//! Stores and object references as written on the command line.
//!
//! ```text
//! store    ./backups | /srv/vault | file:///srv/vault | s3://bucket/prefix
//! target   s3://bucket/key          an S3 object
//!          https://...#k=...        a share link (or any presigned GET URL)
//!          /abs, ./rel, file:///p   a local sealed file
//!          NAME                     an object in the store (--store or the default)
//! ```

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{CliError, Result};
use crate::redact::redact;

/// Where objects are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// A local folder; object names are relative paths inside it.
    Local(PathBuf),
    /// An S3 bucket and key prefix (empty, or ending in `/`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, empty or ending in `/`.
        prefix: String,
    },
}

impl Store {
    /// Parses a store location.
    pub(crate) fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = split_s3(rest, s)?;
            let prefix = if key.is_empty() || key.ends_with('/') {
                key.to_owned()
            } else {
                format!("{key}/")
            };
            if !prefix.is_empty() {
                s3_key_segments(prefix.trim_end_matches('/'), s)?;
            }
            return Ok(Store::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if let Some(path) = s.strip_prefix("file://") {
            return Ok(Store::Local(file_url_path(path, s)?));
        }
        if crate::util::is_url(s) {
            return Err(CliError::usage(format!(
                "store {s:?}: unsupported scheme; use a folder, file:///path or s3://bucket/prefix"
            )));
        }
        Ok(Store::Local(crate::util::absolute(
            &crate::util::expand_tilde(Path::new(s)),
        )))
    }

    /// The reference to object `name` in this store.
    pub(crate) fn object(&self, name: &str) -> Result<Target> {
        match self {
            Store::Local(root) => {
                let rel = local_name(name)?;
                Ok(Target::Local(root.join(rel)))
            }
            Store::S3 { bucket, prefix } => {
                s3_key_segments(name, name)?;
                Ok(Target::S3 {
                    bucket: bucket.clone(),
                    key: format!("{prefix}{name}"),
                })
            }
        }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::Local(p) => write!(f, "{}", p.display()),
            Store::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// One object: a local file, an S3 object or a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A local sealed file (possibly inside a local store).
    Local(PathBuf),
    /// An S3 object.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// An `http(s)://` URL: a share link or a presigned GET URL.
    Link(String),
}

impl Target {
    /// Parses an object reference; plain names are looked up in `store`.
    /// With `prefer_existing_file`, a plain name that is an existing local
    /// path is that file (for `inspect` and `rewrap`).
    pub(crate) fn parse(s: &str, store: &Store, prefer_existing_file: bool) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = split_s3(rest, s)?;
            if key.is_empty() || key.ends_with('/') {
                return Err(CliError::usage(format!(
                    "{s}: names a prefix, not an object; add the object's key"
                )));
            }
            s3_key_segments(key, s)?;
            return Ok(Target::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        if s.starts_with("https://") || s.starts_with("http://") {
            return Ok(Target::Link(s.to_owned()));
        }
        if let Some(path) = s.strip_prefix("file://") {
            return Ok(Target::Local(file_url_path(path, s)?));
        }
        if crate::util::is_url(s) {
            return Err(CliError::usage(format!(
                "{}: unsupported scheme; use s3://bucket/key, https://..., file:///path or a name",
                redact(s)
            )));
        }
        let p = Path::new(s);
        let local = || Target::Local(crate::util::absolute(&crate::util::expand_tilde(p)));
        if is_explicit_path(s) {
            return Ok(local());
        }
        if prefer_existing_file && p.is_file() {
            // A name that is both a local file and an object of a local
            // store means the store object, as for every other verb.
            let in_store = store.object(s).ok().filter(|t| match t {
                Target::Local(o) => o.is_file(),
                _ => false,
            });
            return Ok(in_store.unwrap_or_else(local));
        }
        if prefer_existing_file && p.is_dir() {
            // A local folder where a sealed file is expected is a usage
            // error (exit 2), unless the store holds an object of that name.
            let held = match store.object(s) {
                Ok(Target::Local(o)) => o.is_file(),
                _ => true,
            };
            if !held {
                return Err(crate::util::folder_error(
                    p,
                    "a sealed file or an object name",
                ));
            }
        }
        store.object(s)
    }

    /// The last path segment of the object, decoded, as a local file name
    /// (for default output names); refused unless it is one plain file-name
    /// component ([`crate::util::safe_file_name`]).
    pub(crate) fn base_name(&self) -> Result<String> {
        let name = match self {
            Target::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Target::S3 { key, .. } => key.rsplit('/').next().unwrap_or_default().to_owned(),
            Target::Link(url) => {
                let path = url.split(['?', '#']).next().unwrap_or_default();
                percent_decode(path.rsplit('/').next().unwrap_or_default())
            }
        };
        match crate::util::safe_file_name(&name) {
            Ok(_) => Ok(name),
            Err(why) => Err(CliError::usage(format!(
                "cannot use the name of {self} as a file name: {why} ({})",
                crate::output::escape(&name)
            ))
            .hint("name the output: sealstream get OBJECT FILE (or - for stdout)")),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local(p) => write!(f, "{}", p.display()),
            Target::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Target::Link(url) => f.write_str(&redact(url)),
        }
    }
}

/// Whether `s` is written as a path (`/x`, `./x`, `../x`, `~/x`).
pub(crate) fn is_explicit_path(s: &str) -> bool {
    s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with("~/")
        || s == "."
        || s == ".."
}

fn split_s3<'a>(rest: &'a str, whole: &str) -> Result<(&'a str, &'a str)> {
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(CliError::usage(format!(
            "{whole}: no bucket; expected s3://bucket/key"
        )));
    }
    Ok((bucket, key))
}

fn file_url_path(path: &str, whole: &str) -> Result<PathBuf> {
    // file:///srv/vault (empty host) or file://localhost/srv/vault.
    let path = path.strip_prefix("localhost").unwrap_or(path);
    if !path.starts_with('/') {
        return Err(CliError::usage(format!(
            "{whole}: a file URL needs an absolute path (file:///srv/vault)"
        )));
    }
    Ok(PathBuf::from(percent_decode(path)))
}

/// Checks an S3 key (or a store name that becomes one) as local names are
/// checked: not empty, no empty, `.` or `..` segments (`a//b`, `/a`,
/// `a/./b`, `a/../b`), no NUL or control characters. S3 itself would
/// store such keys, but HTTP clients, proxies and other tools normalise
/// `.` and `..` in paths, so such a key can name another object than the
/// one the user meant (issue 10 item 16). `shown` is what the user wrote.
fn s3_key_segments(key: &str, shown: &str) -> Result<()> {
    let bad = |why: &str| {
        CliError::usage(format!(
            "S3 object name {}: {why}",
            crate::output::escape(&redact(shown))
        ))
        .hint("name objects with plain segments separated by single `/`")
    };
    if key.is_empty() {
        return Err(bad("must not be empty"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("must not contain NUL or control characters"));
    }
    for seg in key.split('/') {
        match seg {
            "" => return Err(bad("must not have empty segments (`//`, or a leading `/`)")),
            "." | ".." => return Err(bad("must not have `.` or `..` segments")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a local object name: relative, no `..`, no empty parts.
fn local_name(name: &str) -> Result<PathBuf> {
    let bad = |why: &str| CliError::usage(format!("object name {name:?}: {why}"));
    if name.is_empty() {
        return Err(bad("must not be empty"));
    }
    if name.contains('\0') || name.contains('\\') {
        return Err(bad("must not contain NUL or backslash"));
    }
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return Err(bad("must be a relative path without `..`")),
        }
    }
    if out.as_os_str().is_empty() || name.ends_with('/') {
        return Err(bad("names a folder, not an object"));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            // Two hex digits make a value below 256.
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores() {
        assert_eq!(
            Store::parse("s3://b/pre").ok(),
            Some(Store::S3 {
                bucket: "b".into(),
                prefix: "pre/".into()
            })
        );
        assert_eq!(
            Store::parse("s3://b").ok(),
            Some(Store::S3 {
                bucket: "b".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            Store::parse("file:///srv/vault").ok(),
            Some(Store::Local("/srv/vault".into()))
        );
        assert!(Store::parse("ftp://x").is_err());
        assert!(Store::parse("s3:///x").is_err());
    }

    #[test]
    fn s3_names_with_dot_or_empty_segments_are_refused() {
        let store = Store::parse("s3://b/p").unwrap_or_else(|_| Store::Local("/".into()));
        for bad in [
            "..", "a/../b", "../x", "a/./b", ".", "a//b", "/a", "a/..", "x\u{0}y", "x\ny",
        ] {
            assert!(store.object(bad).is_err(), "{bad:?}");
            assert!(
                Target::parse(&format!("s3://b/{bad}"), &store, false).is_err(),
                "{bad:?}"
            );
        }
        for bad in ["s3://b/a/../p", "s3://b//p", "s3://b/./p/"] {
            assert!(Store::parse(bad).is_err(), "{bad}");
        }
        for good in ["a", "a/b.tar", "a..b", ".hidden", "a/.x/..y"] {
            assert!(store.object(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn targets() {
        let store = Store::Local("/st".into());
        assert_eq!(
            Target::parse("a/b.tar", &store, false).ok(),
            Some(Target::Local("/st/a/b.tar".into()))
        );
        assert!(matches!(
            Target::parse("./x.tar", &store, false),
            Ok(Target::Local(_))
        ));
        assert!(Target::parse("a/../../x", &store, false).is_err());
        assert_eq!(
            Target::parse("s3://b/k/x", &store, false).ok(),
            Some(Target::S3 {
                bucket: "b".into(),
                key: "k/x".into()
            })
        );
        assert!(Target::parse("s3://b/k/", &store, false).is_err());
        let s3 = Store::parse("s3://b/p").ok();
        assert_eq!(
            s3.and_then(|s| Target::parse("x.tar", &s, false).ok()),
            Some(Target::S3 {
                bucket: "b".into(),
                key: "p/x.tar".into()
            })
        );
        let link = Target::Link("https://h/b/my%20file.tar?X-Amz-Signature=abc#k=zz".into());
        assert_eq!(link.base_name().ok().as_deref(), Some("my file.tar"));
        for hostile in [
            "..%2F..%2Fx",
            "%2Fhome%2Fu%2F.bashrc",
            "a%5Cb",
            "..",
            "%2E%2E",
            "x%00y",
            "x%1B%5B31m",
            "",
        ] {
            let link = Target::Link(format!("https://h/b/{hostile}?X-Amz-Signature=abc#k=zz"));
            assert!(link.base_name().is_err(), "{hostile}");
        }
        assert!(!link.to_string().contains("abc"));
    }
}
