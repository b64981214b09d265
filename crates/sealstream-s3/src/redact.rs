//! The one list of secret URL parts and the one redaction function of the
//! workspace (docs/SECURITY.md, "Human output"). The CLI's messages, the
//! S3 crate's `Debug` of presigned requests and share links, the fault
//! proxy's request log, the fuzz targets and the hygiene tests all use it.
//!
//! ```text
//! https://host/b/k?X-Amz-Credential=AKIA..&X-Amz-Signature=ab12..&x-id=GetObject#k=KEY
//!                                   ^^^^^^                 ^^^^^^                 ^^^^^
//!                                   secret parameter values                       the whole fragment
//! ```
//!
//! A query parameter is secret when its name, percent-decoded and compared
//! case-insensitively, is in [`SECRET_QUERY_PARAMS`]. Everything after the
//! first `#` is secret (a share link's `#k=KEY`, and whatever else a
//! fragment holds: `#x=1&k=KEY` must not leak either).

use std::ops::Range;

/// Query parameters (lowercase, percent-decoded) whose values grant access:
/// SigV4 signature, credential and session token, and SigV2's signature
/// and access key id.
pub const SECRET_QUERY_PARAMS: [&str; 5] = [
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "awsaccesskeyid",
];

/// What a redacted value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Whether the query parameter `name` (as written: percent-encoded, any
/// case) carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    let decoded = percent_decode(name);
    SECRET_QUERY_PARAMS
        .iter()
        .any(|p| decoded.eq_ignore_ascii_case(p))
}

/// The byte ranges of `url` that must never be shown: the (non-empty)
/// value of every secret query parameter and everything after the first
/// `#`. Sorted, not overlapping.
pub fn secret_ranges(url: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let end = url.find('#').unwrap_or(url.len());
    if let Some(q) = url.get(..end).and_then(|s| s.find('?')) {
        let mut at = q + 1;
        for kv in url.get(at..end).unwrap_or("").split('&') {
            if let Some((k, v)) = kv.split_once('=')
                && !v.is_empty()
                && is_secret_param(k)
            {
                let start = at + k.len() + 1;
                out.push(start..start + v.len());
            }
            at += kv.len() + 1;
        }
    }
    if end + 1 < url.len() {
        out.push(end + 1..url.len());
    }
    out
}

/// `url` with every [`secret_ranges`] range replaced by `REDACTED`.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut at = 0;
    for r in secret_ranges(url) {
        out.push_str(url.get(at..r.start).unwrap_or(""));
        out.push_str(REDACTED);
        at = r.end;
    }
    out.push_str(url.get(at..).unwrap_or(""));
    out
}

/// A URL query string (without `?`) with secret parameter values redacted.
pub fn redact_query(query: &str) -> String {
    let r = redact_url(&format!("?{query}"));
    r.get(1..).unwrap_or("").to_owned()
}

/// `text` (an error message, a log line) with every URL in it redacted as
/// [`redact_url`] does. A URL starts at `http://` or `https://` (any case)
/// and ends at whitespace, a quote, `<`, `>` or a backtick. Secret
/// `name=value` pairs outside a URL (after `?`, `&` or `;`, or starting a
/// word) and a `#k=` fragment outside a URL are redacted too, so a message
/// that quotes only part of a URL does not leak either.
pub fn redact_text(text: &str) -> String {
    let stop = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = next_url(&lower, at) {
        let end = text
            .get(found..)
            .and_then(|s| s.find(stop))
            .map_or(text.len(), |n| found + n);
        out.push_str(&redact_words(text.get(at..found).unwrap_or("")));
        out.push_str(&redact_url(text.get(found..end).unwrap_or("")));
        at = end;
    }
    out.push_str(&redact_words(text.get(at..).unwrap_or("")));
    out
}

fn next_url(lower: &str, from: usize) -> Option<usize> {
    let rest = lower.get(from..)?;
    [rest.find("https://"), rest.find("http://")]
        .into_iter()
        .flatten()
        .min()
        .map(|n| from + n)
}

/// Redacts secret `name=value` pairs and `#k=` fragments in text that holds
/// no URL.
fn redact_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts_pair = i == 0
            || bytes
                .get(i - 1)
                .is_some_and(|b| matches!(b, b'?' | b'&' | b';' | b'#') || b.is_ascii_whitespace());
        if starts_pair && let Some(eq) = text.get(i..).and_then(|s| s.find('=')) {
            let name = text.get(i..i + eq).unwrap_or("");
            let fragment = i > 0 && bytes.get(i - 1) == Some(&b'#');
            if !name.is_empty()
                && !name.contains(|c: char| c.is_whitespace() || c == '&')
                && (is_secret_param(name) || fragment)
            {
                let v_start = i + eq + 1;
                let v_len = text
                    .get(v_start..)
                    .unwrap_or("")
                    .find(|c: char| {
                        c.is_whitespace()
                            || matches!(c, '"' | '\'' | '<' | '>' | '`')
                            || (!fragment && matches!(c, '&' | '#'))
                    })
                    .unwrap_or(text.len() - v_start);
                if v_len > 0 {
                    out.push_str(text.get(at..v_start).unwrap_or(""));
                    out.push_str(REDACTED);
                    at = v_start + v_len;
                    i = at;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(text.get(at..).unwrap_or(""));
    out
}

/// Decodes `%XX` escapes; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `scheme://host/path` without the query (signature) or fragment (key).
pub(crate) fn target_of(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url).to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const URL: &str = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIA%2F20250101&X-Amz-Signature=abcdef0123&x-id=GetObject#k=SECRETKEY";

    #[test]
    fn urls_lose_signature_credential_token_and_fragment() {
        let r = redact_url(URL);
        assert_eq!(
            r,
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&x-id=GetObject#REDACTED"
        );
    }

    #[test]
    fn the_whole_fragment_is_secret() {
        let r = redact_url("https://h/b/k?x-id=GetObject#x=1&k=KEYKEYKEY");
        assert_eq!(r, "https://h/b/k?x-id=GetObject#REDACTED");
        let t = redact_text("failed: https://h/b/k#x=1&k=KEYKEYKEY (status 403)");
        assert_eq!(t, "failed: https://h/b/k#REDACTED (status 403)");
        // Outside a URL too.
        let t = redact_text("link fragment #k=KEYKEYKEY&x=1 was bad");
        assert!(!t.contains("KEYKEYKEY"), "{t}");
    }

    #[test]
    fn names_match_case_insensitively_and_percent_decoded() {
        for name in [
            "x-amz-signature",
            "X-AMZ-SIGNATURE",
            "X-Amz-%53ignature",
            "x%2Damz%2Dsecurity%2Dtoken",
            "AWSAccessKeyId",
            "awsaccesskeyid",
            "Signature",
        ] {
            let r = redact_url(&format!("http://h/k?a=1&{name}=SECRETVALUE&b=2"));
            assert_eq!(r, format!("http://h/k?a=1&{name}=REDACTED&b=2"));
            let t = redact_text(&format!("error near ?{name}=SECRETVALUE&b=2"));
            assert!(!t.contains("SECRETVALUE"), "{name}: {t}");
        }
        assert!(!is_secret_param("x-amz-signed-headers"));
        assert!(!is_secret_param("x-id"));
    }

    #[test]
    fn text_with_several_urls_and_plain_words() {
        let t = redact_text(&format!("GET \"{URL}\" then HTTPS://H/x?Signature=zz9 end"));
        assert!(!t.contains("abcdef0123") && !t.contains("SECRETKEY") && !t.contains("AKIA"));
        assert!(!t.contains("zz9"), "{t}");
        assert!(t.ends_with(" end"), "{t}");
        let s = "chunk 3 of s3://bucket/key failed authentication; see a=b & c";
        assert_eq!(redact_text(s), s);
    }

    #[test]
    fn queries_and_ranges() {
        assert_eq!(
            redact_query("X-Amz-Credential=AK%2F2026&X-Amz-Signature=abc&partNumber=1"),
            "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&partNumber=1"
        );
        assert_eq!(redact_query("uploads"), "uploads");
        let url = "http://h/k?Signature=abc#k=zz";
        let r = secret_ranges(url);
        assert_eq!(r.len(), 2);
        assert_eq!(&url[r[0].clone()], "abc");
        assert_eq!(&url[r[1].clone()], "k=zz");
        assert!(secret_ranges("http://h/k?Signature=#").is_empty());
    }
}
