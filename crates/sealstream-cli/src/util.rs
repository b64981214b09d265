//! Small parsers and path helpers: sizes, durations, ranges, context
//! pairs, `~` expansion.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sealstream_format::EncryptionContext;

use crate::error::{CliError, Result};
use crate::output::{escape, shell_quote};

/// `~/x` → `$HOME/x`; anything else unchanged.
pub(crate) fn expand_tilde(p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
    {
        return PathBuf::from(home).join(rest);
    }
    p.to_path_buf()
}

/// A local file name from untrusted text (an object's or a share link's
/// name): exactly one plain path component, or why it is not one.
///
/// Every local name derived from an object or a link goes through here, so
/// that no name chosen by whoever wrote the object or the link can reach
/// outside the folder the user named.
pub(crate) fn safe_file_name(name: &str) -> std::result::Result<&str, &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name == "." || name == ".." {
        return Err("it is `.` or `..`");
    }
    if name.contains(['/', '\\']) {
        return Err("it contains `/` or `\\`");
    }
    if name.chars().any(char::is_control) {
        return Err("it contains NUL or control characters");
    }
    Ok(name)
}

/// `p` made absolute against the current folder (without touching the
/// file system beyond reading the current folder).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A path from the config file: `~` expanded, relative paths resolved
/// against the config file's folder.
pub(crate) fn resolve_in(base: &Path, s: &str) -> PathBuf {
    let p = expand_tilde(Path::new(s));
    if p.is_absolute() { p } else { base.join(p) }
}

/// Whether `s` is a URL (`scheme://...`) rather than a path.
pub(crate) fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    })
}

/// Parses a byte size: `1048576`, `64KiB`, `16MiB`, `1GiB`, `10MB`, `1.5GiB`.
pub(crate) fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => {
            return Err(CliError::usage(format!(
                "size {s:?}: unknown unit; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)"
            )));
        }
    };
    let bad = || {
        CliError::usage(format!(
            "size {s:?}: expected a number with an optional unit"
        ))
    };
    if let Some((int, frac)) = num.split_once('.') {
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let digits = u32::try_from(frac.len()).map_err(|_| bad())?;
        let frac_v: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let scale = 10u64.checked_pow(digits).ok_or_else(bad)?;
        let whole = int.checked_mul(mult).ok_or_else(bad)?;
        let part = u128::from(frac_v) * u128::from(mult) / u128::from(scale);
        whole
            .checked_add(u64::try_from(part).map_err(|_| bad())?)
            .ok_or_else(bad)
    } else {
        num.parse::<u64>()
            .map_err(|_| bad())?
            .checked_mul(mult)
            .ok_or_else(bad)
    }
}

/// Parses a duration: `90` (seconds), `30s`, `15m`, `12h`, `7d`, `1w`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        CliError::usage(format!(
            "duration {s:?}: expected a whole number with an optional unit (s, m, h, d, w)"
        ))
    })?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(CliError::usage(format!(
                "duration {s:?}: unknown unit {unit:?}; use s, m, h, d or w"
            )));
        }
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| CliError::usage(format!("duration {s:?} is too long")))
}

/// A plaintext byte range from `--range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// `START-END`, inclusive; `START-` has `end = None`.
    From {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: Option<u64>,
    },
    /// `-N`: the last N bytes.
    Last(u64),
}

impl ByteRange {
    /// Parses `START-END` (inclusive), `START-` or `-N`.
    pub(crate) fn parse(s: &str) -> Result<Self> {
        let bad = || {
            CliError::usage(format!(
                "--range {s:?}: expected START-END (inclusive byte positions), START- or -LAST_N"
            ))
        };
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let num = |x: &str| x.trim().parse::<u64>().map_err(|_| bad());
        match (a.trim().is_empty(), b.trim().is_empty()) {
            (true, true) => Err(bad()),
            (true, false) => Ok(ByteRange::Last(num(b)?)),
            (false, true) => Ok(ByteRange::From {
                start: num(a)?,
                end: None,
            }),
            (false, false) => {
                let (start, end) = (num(a)?, num(b)?);
                if end < start {
                    return Err(CliError::usage(format!(
                        "--range {s:?}: END is before START"
                    )));
                }
                Ok(ByteRange::From {
                    start,
                    end: Some(end),
                })
            }
        }
    }

    /// The half-open range over a plaintext of `len` (authenticated) bytes
    /// of `shown`, clamped to the end. A start exactly at the end is empty
    /// (like `tail -c +N` one past the end); a start past it is an error
    /// ([`range_past_end`]). Local files and S3 objects both follow this.
    pub(crate) fn resolve(self, shown: &str, len: u64) -> Result<std::ops::Range<u64>> {
        match self {
            ByteRange::Last(n) => Ok(len.saturating_sub(n)..len),
            ByteRange::From { start, end } => {
                if start > len {
                    return Err(range_past_end(shown, self, start, len));
                }
                let stop = end.map_or(len, |e| e.saturating_add(1).min(len));
                Ok(start..stop.max(start))
            }
        }
    }
}

impl std::fmt::Display for ByteRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ByteRange::From { start, end: None } => write!(f, "{start}-"),
            ByteRange::From {
                start,
                end: Some(end),
            } => write!(f, "{start}-{end}"),
            ByteRange::Last(n) => write!(f, "-{n}"),
        }
    }
}

/// A `--range` starting at byte `start`, past the end of `shown`, whose
/// authenticated plaintext is `len` bytes (exit 2).
pub(crate) fn range_past_end(shown: &str, range: ByteRange, start: u64, len: u64) -> CliError {
    CliError::usage(format!(
        "--range {range}: starts at byte {start}, past the end of {shown}, whose authenticated \
         plaintext is {len} bytes"
    ))
    .hint(format!(
        "give a START of at most {len} (START {len} prints nothing), or -N for the last N bytes"
    ))
}

/// Parses `--encryption-context` pairs (`KEY=VALUE`).
pub(crate) fn parse_context(pairs: &[String]) -> Result<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    for p in pairs {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            CliError::usage(format!("--encryption-context {p:?}: expected KEY=VALUE"))
        })?;
        if ctx.get(k).is_some() {
            return Err(CliError::usage(format!(
                "--encryption-context: key {k:?} is given twice"
            )));
        }
        ctx.insert(k, v)
            .map_err(|e| CliError::usage(format!("--encryption-context {p:?}: {e}")))?;
    }
    Ok(ctx)
}

/// Formats a context as `k=v, k2=v2` (or `(none)`).
pub(crate) fn context_display(ctx: &EncryptionContext) -> String {
    if ctx.is_empty() {
        return "(none)".to_owned();
    }
    ctx.iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that an object's context is exactly the one asked for. The
/// file-metadata pairs (`sealstream:mode`, `sealstream:mtime`, docs/FORMAT.md
/// "File metadata") describe the file, not the object's purpose: they are
/// not compared.
pub(crate) fn check_context(
    object: &str,
    found: &EncryptionContext,
    wanted: &EncryptionContext,
) -> Result<()> {
    let mut user = found.clone();
    // Removing pairs never exceeds a limit.
    let _ = user.set_file_metadata(sealstream_format::FileMetadata::default());
    let found = &user;
    if found == wanted {
        return Ok(());
    }
    let hint = if found.is_empty() {
        "the object has no encryption context; drop the --encryption-context options".to_owned()
    } else if found
        .iter()
        .any(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
    {
        // No command to copy: a quoted newline is still a newline on screen.
        "the object's context holds control characters (shown escaped above); if you \
         expected this object, pass exactly those pairs with --encryption-context"
            .to_owned()
    } else {
        let flags = found
            .iter()
            .map(|(k, v)| format!("--encryption-context {}", shell_quote(&format!("{k}={v}"))))
            .collect::<Vec<_>>()
            .join(" ");
        format!("if you expected this object, open it with {flags}")
    };
    Err(CliError::new(
        crate::error::Class::Auth,
        format!(
            "{}: encryption context mismatch: the object was sealed with {{{}}}, \
             but {{{}}} was required",
            escape(object),
            context_display(found),
            context_display(wanted)
        ),
    )
    .hint(hint))
}

/// A human size: `1.5 MiB`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0usize;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {name}")
    }
}

/// A human duration in the units `--expires` takes: `24h`, `7d`,
/// `1h30m`, `45s`.
pub(crate) fn human_duration(d: std::time::Duration) -> String {
    let mut left = d.as_secs();
    if left == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, secs) in [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)] {
        let n = left / secs;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            left %= secs;
        }
    }
    out
}

/// Seconds since the Unix epoch as an ISO 8601 / RFC 3339 UTC time
/// (`2026-12-03T06:40:00Z`), for `--json` fields next to epoch seconds.
pub(crate) fn iso8601(epoch_secs: i64) -> String {
    aws_sdk_s3::primitives::DateTime::from_secs(epoch_secs)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| epoch_secs.to_string())
}

/// `now + d` as (epoch seconds, ISO 8601).
pub(crate) fn expiry_time(d: std::time::Duration) -> (i64, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |n| n.as_secs());
    let at = i64::try_from(now.saturating_add(d.as_secs())).unwrap_or(i64::MAX);
    (at, iso8601(at))
}

/// The usage error (exit 2) for a folder given where a file is expected.
pub(crate) fn folder_error(path: &Path, expected: &str) -> CliError {
    CliError::usage(format!("{} is a folder; pass {expected}", path.display()))
}

/// Refuses a folder where a file is expected (exit 2, before any read that
/// would fail with a less helpful "Is a directory").
pub(crate) fn not_a_folder(path: &Path, expected: &str) -> Result<()> {
    if path.is_dir() {
        return Err(folder_error(path, expected));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_like_the_flags() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(
            human_duration(Duration::from_secs(24 * 3_600 - 1)),
            "23h59m59s"
        );
        assert_eq!(human_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(human_duration(Duration::ZERO), "0s");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_796_281_200), "2026-12-03T07:00:00Z");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB").ok(), Some(16 << 20));
        assert_eq!(parse_size("1.5KiB").ok(), Some(1536));
        assert_eq!(parse_size("10").ok(), Some(10));
        assert_eq!(parse_size("2 GB").ok(), Some(2_000_000_000));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1XB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m").ok(), Some(Duration::from_secs(900)));
        assert_eq!(
            parse_duration("7d").ok(),
            Some(Duration::from_secs(604_800))
        );
        assert!(parse_duration("1y").is_err());
    }

    #[test]
    fn ranges() {
        let r = |s: &str, len: u64| ByteRange::parse(s).and_then(|r| r.resolve("f", len)).ok();
        assert_eq!(r("0-9", 100), Some(0..10));
        assert_eq!(r("90-200", 100), Some(90..100));
        assert_eq!(r("50-", 100), Some(50..100));
        assert_eq!(r("-10", 100), Some(90..100));
        assert_eq!(r("-1000", 100), Some(0..100));
        assert_eq!(r("100-", 100), Some(100..100));
        assert_eq!(r("100-150", 100), Some(100..100));
        assert_eq!(r("101-", 100), None);
        let e = ByteRange::parse("101-")
            .and_then(|r| r.resolve("f.sealed", 100))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("--range 101-") && e.contains("f.sealed") && e.contains("100 bytes"),
            "{e}"
        );
        for s in ["5-", "5-9", "-3"] {
            assert_eq!(
                ByteRange::parse(s).map(|r| r.to_string()).ok(),
                Some(s.into())
            );
        }
        assert!(ByteRange::parse("9-1").is_err());
        assert!(ByteRange::parse("x").is_err());
    }

    #[test]
    fn contexts() {
        let c = parse_context(&["a=1".into(), "b=x=y".into()]).ok();
        assert_eq!(c.as_ref().and_then(|c| c.get("b")), Some("x=y"));
        assert!(parse_context(&["novalue".into()]).is_err());
        assert!(parse_context(&["a=1".into(), "a=2".into()]).is_err());
        assert!(parse_context(&["sealstream:x=1".into()]).is_err());
    }
}
