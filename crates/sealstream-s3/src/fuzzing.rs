//! Entry points for the cargo-fuzz targets in `fuzz/`. Compiled only with
//! `--cfg fuzzing` (cargo-fuzz sets it) and hidden from the docs: not API.
//!
//! [`share_link`] takes arbitrary bytes, must never panic, and asserts that
//! a parsed share link prints back to a link that parses to the same URL
//! and key, and that neither `Debug` nor `Display` of a share link or a
//! presigned request depends on the key fragment, a signature, credential
//! or token value, or a signed header's value: each rendering is compared
//! with the rendering of the same input with that secret replaced.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::missing_panics_doc,
    missing_docs
)]

use std::ops::Range;

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::presign::PresignedRequest;
use crate::share::ShareLink;

/// The byte ranges of `url` that must never be shown (the workspace's one
/// definition, [`crate::redact::secret_ranges`]).
pub use crate::redact::secret_ranges;

/// `s` with every character replaced by another one (`Z`, or `Y` for `Z`):
/// same structure, different secret.
pub fn other_chars(s: &str) -> String {
    s.chars()
        .map(|c| if c == 'Z' { 'Y' } else { 'Z' })
        .collect()
}

/// `url` with the given range replaced by [`other_chars`].
fn replaced(url: &str, r: &Range<usize>) -> String {
    format!(
        "{}{}{}",
        &url[..r.start],
        other_chars(&url[r.clone()]),
        &url[r.end..]
    )
}

fn renderings(r: &PresignedRequest) -> [String; 3] {
    [format!("{r:?}"), format!("{r:#?}"), r.redacted_url()]
}

fn request(url: &str, header: &str) -> PresignedRequest {
    PresignedRequest::new(
        "GET",
        url,
        vec![(
            "x-amz-server-side-encryption-customer-key".into(),
            header.into(),
        )],
    )
}

/// Checks that no rendering of a presigned request for `url` depends on a
/// secret part of the URL or on a header value.
pub fn check_presigned_url(url: &str) {
    let shown = renderings(&request(url, "fuzz-sse-c-key-a"));
    assert!(
        shown == renderings(&request(url, "fuzz-sse-c-key-b")),
        "a header value is shown"
    );
    for r in secret_ranges(url) {
        let other = replaced(url, &r);
        assert!(
            shown == renderings(&request(&other, "fuzz-sse-c-key-a")),
            "bytes {r:?} of the URL are shown: {:?}",
            shown[0]
        );
    }
}

fn link_renderings(link: &ShareLink) -> [String; 4] {
    [
        format!("{link:?}"),
        format!("{link:#?}"),
        link.to_string(),
        link.presigned().redacted_url(),
    ]
}

/// Checks that `link` prints back to a link that parses to the same URL and
/// key, and that no rendering depends on the key or on a secret part of the
/// URL.
pub fn check_share_link(link: &ShareLink) {
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
    let shown = link_renderings(link);
    let other_key = link.expose_data_key().expose_secret().map(|b| !b);
    let other = ShareLink::parse(&format!(
        "{url}#k={}",
        Base64UrlUnpadded::encode_string(&other_key)
    ))
    .unwrap();
    assert!(shown == link_renderings(&other), "the key is shown");
    // Same key, so that only the URL differs.
    let zero_key = "#k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let base = link_renderings(&ShareLink::parse(&format!("{url}{zero_key}")).unwrap());
    for r in secret_ranges(url) {
        let other = ShareLink::parse(&format!("{}{zero_key}", replaced(url, &r))).unwrap();
        assert!(
            base == link_renderings(&other),
            "bytes {r:?} of the URL are shown"
        );
    }
    check_presigned_url(url);
}

/// `share_link`: arbitrary bytes (lossily UTF-8) through
/// [`ShareLink::parse`] and [`PresignedRequest`]'s redaction.
pub fn share_link(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_presigned_url(&text);
    match ShareLink::parse(&text) {
        Ok(link) => {
            assert!(text.trim().starts_with(link.presigned().expose_url()));
            check_share_link(&link);
        }
        // Refusals are fixed texts: they never quote the link.
        Err(e) => assert!(matches!(e, crate::error::Error::InvalidShareLink(_))),
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
