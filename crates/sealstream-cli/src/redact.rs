//! Redaction of secrets that can appear inside URLs: the workspace's one
//! list and function, [`sealstream_s3::redact`].
//!
//! Presigned URLs carry a signature, a credential (and, with temporary
//! credentials, a session token) in their query; share links carry an
//! object's data key in their fragment. Every message, hint and JSON error
//! the command prints passes through [`redact`], which replaces those
//! parameter values and everything after a URL's `#` with `REDACTED`.

/// Returns `text` with presigned-URL signatures, credentials, session
/// tokens and URL fragments (share-link keys) replaced by `REDACTED`.
pub(crate) fn redact(text: &str) -> String {
    sealstream_s3::redact::redact_text(text)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn signatures_tokens_and_keys_are_redacted() {
        let url = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=AKIA%2F20250101&X-Amz-Signature=abcdef0123&x-id=GetObject\
                   &AWSAccessKeyId=AKIDV2#x=1&k=SECRETKEY";
        let r = redact(&format!("failed: {url} (status 403)"));
        assert!(!r.contains("abcdef0123"), "{r}");
        assert!(!r.contains("SECRETKEY"), "{r}");
        assert!(!r.contains("AKIA") && !r.contains("AKIDV2"), "{r}");
        assert!(r.contains("X-Amz-Signature=REDACTED&x-id=GetObject"), "{r}");
        assert!(r.contains("#REDACTED (status 403)"), "{r}");
    }

    #[test]
    fn plain_text_is_unchanged() {
        let s = "chunk 3 of s3://bucket/key failed authentication";
        assert_eq!(redact(s), s);
    }
}
