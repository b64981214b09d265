//! Entry points for the cargo-fuzz targets in `fuzz/`. Compiled only with
//! `--cfg fuzzing` (cargo-fuzz sets it) and hidden from the docs: not API.
//!
//! [`share_link`] takes arbitrary bytes, must never panic, and asserts that
//! a parsed share link prints back to a link that parses to the same URL
//! and key, and that neither `Debug` nor `Display` of a share link or a
//! presigned request shows the key fragment or a signature.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::missing_panics_doc,
    missing_docs
)]

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::presign::PresignedRequest;
use crate::share::ShareLink;

/// Query parameters whose values grant access (docs/SECURITY.md).
const SECRET_PARAMS: [&str; 5] = [
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "awsaccesskeyid",
];

/// A header value that must never be printed (presigned requests print
/// header names only).
const HEADER_SECRET: &str = "fuzz-sse-c-key-value-never-printed";

/// Every `name=value` pair of `url`'s query whose name grants access and
/// whose pair occurs exactly once in `url` (so that it cannot also be part
/// of the path or of another, public, parameter).
fn secret_pairs(url: &str) -> Vec<&str> {
    let base = url.split_once('#').map_or(url, |(b, _)| b);
    let Some((_, query)) = base.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                !v.is_empty() && SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str())
            })
        })
        .filter(|kv| url.matches(*kv).count() == 1)
        .collect()
}

/// Checks that `shown` (a rendering of something made from `url`) holds
/// no secret query pair of `url` and, where given, not `fragment`, unless
/// `neutral` (the same rendering without the fragment) or `url` has it too.
fn check_shown(url: &str, shown: &str, fragment: Option<&str>, neutral: &str) {
    for pair in secret_pairs(url) {
        assert!(!shown.contains(pair), "{pair:?} shown in {shown:?}");
    }
    if let Some(f) = fragment
        && f.len() >= 8
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=&.%".contains(&b))
        && !url.contains(f)
        && !neutral.contains(f)
    {
        assert!(!shown.contains(f), "the fragment {f:?} shown in {shown:?}");
    }
    if !url.contains(HEADER_SECRET) {
        assert!(!shown.contains(HEADER_SECRET));
    }
}

fn request(url: &str) -> PresignedRequest {
    PresignedRequest::new(
        "GET",
        url,
        vec![(
            "x-amz-server-side-encryption-customer-key".into(),
            HEADER_SECRET.into(),
        )],
    )
}

/// `share_link`: arbitrary bytes (lossily UTF-8) through
/// [`ShareLink::parse`] and [`PresignedRequest`]'s redaction.
pub fn share_link(data: &[u8]) {
    let text = String::from_utf8_lossy(data);

    let (before, fragment) = match text.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (text.as_ref(), None),
    };
    let with = request(&text);
    let without = request(&format!("{before}#"));
    for (shown, neutral) in [
        (format!("{with:?}"), format!("{without:?}")),
        (with.redacted_url(), without.redacted_url()),
    ] {
        check_shown(before, &shown, fragment, &neutral);
    }

    let link = match ShareLink::parse(&text) {
        Ok(link) => link,
        Err(e) => {
            check_shown(&text, &format!("{e} {e:?}"), None, "");
            return;
        }
    };
    let full = link.expose_secret();
    let again = ShareLink::parse(&full).expect("a printed share link parses");
    assert_eq!(again.expose_secret().as_str(), full.as_str());
    assert!(again.presigned() == link.presigned());
    assert_eq!(
        again.expose_data_key().expose_secret(),
        link.expose_data_key().expose_secret()
    );
    let url = link.presigned().expose_url();
    assert!(!url.contains('#'));
    assert!(text.trim().starts_with(url));

    let key = Base64UrlUnpadded::encode_string(link.expose_data_key().expose_secret());
    let key_hex: String = link
        .expose_data_key()
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for shown in [
        format!("{link:?}"),
        link.to_string(),
        format!("{:?}", link.presigned()),
        link.presigned().redacted_url(),
    ] {
        check_shown(url, &shown, Some(&key), "");
        check_shown(url, &shown, Some(&key_hex), "");
    }
}

/// Seed inputs, as `(target, file name, bytes)`; `fuzz/examples/seed_corpus.rs`
/// writes them to `fuzz/corpus/`.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let key = Base64UrlUnpadded::encode_string(&[0xAB; 32]);
    let url = "https://bucket.s3.us-east-1.amazonaws.com/backups/db.tar?X-Amz-Algorithm=\
               AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2F\
               aws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=\
               host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
               &x-id=GetObject";
    [
        ("aws", format!("{url}#k={key}")),
        (
            "plain-http",
            format!("http://127.0.0.1:9000/b/k?X-Amz-Signature=feed#k={key}"),
        ),
        ("more-params", format!("http://h/b/k#v=1&k={key}&x")),
        ("two-keys", format!("http://h/b/k#k={key}&k={key}")),
        ("short-key", "https://h/b/k#k=AAAA".to_owned()),
        ("no-fragment", url.to_owned()),
    ]
    .into_iter()
    .map(|(name, link)| ("share_link", name.to_owned(), link.into_bytes()))
    .collect()
}
