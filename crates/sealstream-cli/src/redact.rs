//! Redaction of secrets that can appear inside URLs.
//!
//! Presigned URLs carry a signature (and, with temporary credentials, a
//! session token) in their query; share links carry an object's data key in
//! their fragment. Error messages and logs print such URLs with those parts
//! replaced by `REDACTED`.

/// Query parameters (lowercase) whose values are secret.
const SECRET_PARAMS: [&str; 4] = [
    "x-amz-signature=",
    "x-amz-security-token=",
    "signature=",
    "x-amz-credential=",
];

/// Returns `text` with presigned-URL signatures, session tokens and
/// share-link keys replaced by `REDACTED`.
pub(crate) fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for param in SECRET_PARAMS {
        out = redact_values(&out, param, |b| matches!(b, b'&' | b'#'));
    }
    // A share link's fragment: `#k=<key>`.
    redact_values(&out, "#k=", |_| false)
}

/// Replaces the value after each case-insensitive occurrence of `marker`,
/// up to whitespace, a quote or a byte for which `stop` is true.
fn redact_values(text: &str, marker: &str, stop: impl Fn(u8) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0usize;
    let mut search = 0usize;
    while let Some(found) = lower.get(search..).and_then(|s| s.find(marker)) {
        let value_start = search + found + marker.len();
        let value_len = text
            .get(value_start..)
            .unwrap_or("")
            .bytes()
            .take_while(|&b| !(b.is_ascii_whitespace() || b == b'"' || b == b'\'' || stop(b)))
            .count();
        out.push_str(text.get(rest..value_start).unwrap_or(""));
        if value_len > 0 {
            out.push_str("REDACTED");
        }
        rest = value_start + value_len;
        search = rest;
    }
    out.push_str(text.get(rest..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn signatures_tokens_and_keys_are_redacted() {
        let url = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=AKIA%2F20250101&X-Amz-Signature=abcdef0123&x-id=GetObject#k=SECRETKEY";
        let r = redact(&format!("failed: {url} (status 403)"));
        assert!(!r.contains("abcdef0123"), "{r}");
        assert!(!r.contains("SECRETKEY"), "{r}");
        assert!(!r.contains("AKIA"), "{r}");
        assert!(r.contains("X-Amz-Signature=REDACTED&x-id=GetObject"), "{r}");
        assert!(r.contains("#k=REDACTED (status 403)"), "{r}");
    }

    #[test]
    fn plain_text_is_unchanged() {
        let s = "chunk 3 of s3://bucket/key failed authentication";
        assert_eq!(redact(s), s);
    }
}
