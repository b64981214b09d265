//! Share links: a presigned GET of the ciphertext whose URL fragment
//! carries the object's data key.
//!
//! ```text
//!  https://bucket.s3.../key?X-Amz-...&X-Amz-Signature=...#k=<data key, base64url, 43 chars>
//!  \______________________ sent to S3 ___________________/ \___ never sent (fragment) ___/
//! ```
//!
//! The fragment is never part of an HTTP request, and neither `Debug` nor
//! `Display` of a [`ShareLink`] prints the signature or the key. Whoever
//! holds the full link can read the object until the URL expires, and can
//! decrypt any copy of it forever: the data key does not expire.
//!
//! Sharing an object's data key shares that object only: in format version
//! 2 every data key is fresh for its object and its records are bound to
//! that object's salt and name (docs/FORMAT.md, "Key records"), so no other
//! object can be opened with it. This follows from the authenticated format,
//! not from S3 metadata (which the storage operator could change).

use std::fmt;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use sealstream_format::{DATA_KEY_LEN, DataKey};
use zeroize::Zeroizing;

use crate::client::SealClient;
use crate::download::Opened;
use crate::error::{Error, Result};
use crate::head::ObjectHead;
use crate::io::Unlock;
use crate::presign::{PresignedRequest, redact_url};
use crate::redact::target_of;
use crate::sse::Sse;

/// A presigned GET URL plus the object's data key in its fragment.
pub struct ShareLink {
    presigned: PresignedRequest,
    key: DataKey,
}

impl ShareLink {
    /// Parses a share link: `URL#k=<base64url key>`, or a link to the web
    /// page, `PAGE#k=<key>&u=<base64url of URL>` (see
    /// [`ShareLink::expose_web_link`]), whose URL is then the one in `u=`.
    /// The URL must be `http://` or `https://`; the fragment must hold
    /// exactly one 32-byte key.
    pub fn parse(link: &str) -> Result<Self> {
        let (before, fragment) = link.trim().split_once('#').ok_or(Error::InvalidShareLink(
            "it has no #k=... fragment holding the key",
        ))?;
        let mut found = None;
        let mut inner = None;
        for param in fragment.split('&') {
            if let Some(v) = param.strip_prefix("k=") {
                if found.is_some() {
                    return Err(Error::InvalidShareLink(
                        "the fragment holds more than one key",
                    ));
                }
                found = Some(v);
            } else if let Some(v) = param.strip_prefix("u=") {
                if inner.is_some() {
                    return Err(Error::InvalidShareLink(
                        "the fragment holds more than one URL",
                    ));
                }
                let bytes = Base64UrlUnpadded::decode_vec(v).map_err(|_| {
                    Error::InvalidShareLink("the URL in u=... is not base64url (was it cut?)")
                })?;
                inner =
                    Some(String::from_utf8(bytes).map_err(|_| {
                        Error::InvalidShareLink("the URL in u=... is not UTF-8 text")
                    })?);
            }
        }
        let url = inner.as_deref().unwrap_or(before);
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains('#') {
            return Err(Error::InvalidShareLink(
                "the URL must start with https:// or http:// (and have no fragment of its own)",
            ));
        }
        let encoded = found.ok_or(Error::InvalidShareLink("the fragment has no k= parameter"))?;
        let mut raw = Zeroizing::new([0u8; DATA_KEY_LEN]);
        let decoded = Base64UrlUnpadded::decode(encoded.as_bytes(), &mut raw[..])
            .map_err(|_| Error::InvalidShareLink("the key is not 43 characters of base64url"))?;
        if decoded.len() != DATA_KEY_LEN {
            return Err(Error::InvalidShareLink("the key is not 32 bytes"));
        }
        Ok(ShareLink {
            presigned: PresignedRequest::new("GET", url, Vec::new()),
            key: DataKey::from_slice(&raw[..])
                .map_err(|_| Error::InvalidShareLink("the key is not 32 bytes"))?,
        })
    }

    /// **The full link, signature and data key included.** Give it only to
    /// the person it is meant for, over a channel you trust; do not log it.
    pub fn expose_secret(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(
            self.presigned.expose_url().len() + 48,
        ));
        s.push_str(self.presigned.expose_url());
        s.push_str("#k=");
        s.push_str(&Base64UrlUnpadded::encode_string(self.key.expose_secret()));
        s
    }

    /// The presigned GET (without the fragment).
    pub fn presigned(&self) -> &PresignedRequest {
        &self.presigned
    }

    /// **The object's data key.**
    pub fn expose_data_key(&self) -> &DataKey {
        &self.key
    }
}

impl fmt::Debug for ShareLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareLink")
            .field("url", &redact_url(self.presigned.expose_url()))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for ShareLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "share link to {} (signature and key redacted)",
            target_of(self.presigned.expose_url())
        )
    }
}

impl SealClient {
    /// A share link for `s3://bucket/key`, valid for `expires_in` (at most
    /// 7 days): a presigned GET with the object's data key in the fragment.
    /// Open it with [`PlainHttp::open_share_link`](crate::PlainHttp::open_share_link).
    ///
    /// Refused for SSE-C objects (the recipient would need the SSE-C key
    /// too). The object's header must be bound to `key`, and the data key is
    /// checked against the object's commitment first; no S3 metadata is
    /// consulted.
    pub async fn share(&self, bucket: &str, key: &str, expires_in: Duration) -> Result<ShareLink> {
        let head = self.head(bucket, key).await?;
        self.share_head(&head, expires_in).await
    }

    /// Like [`SealClient::share`], for the object version `head` read: the
    /// key put in the link is unwrapped from `head`'s own header and body
    /// prefix (the bytes the caller checked, its context for one), and the
    /// metadata read is pinned to `head`'s ETag (a different answer is
    /// [`Error::ObjectChanged`] and no key is returned).
    pub async fn share_head(&self, head: &ObjectHead, expires_in: Duration) -> Result<ShareLink> {
        let (bucket, key) = (head.bucket.as_str(), head.key.as_str());
        let object = head.object.clone();
        let refuse = |reason: &str| Error::ShareRefused {
            object: object.clone(),
            reason: reason.to_owned(),
        };
        if matches!(self.config.sse, Sse::Customer(_)) {
            return Err(refuse(
                "it is stored with SSE-C, so the recipient would also need the customer key; \
                 share an object stored without SSE-C",
            ));
        }
        let opened = Opened::from_head(head, Unlock::Keyring(&self.keyring)).await?;
        let presigned = self.presign_get(bucket, key, expires_in).await?;
        Ok(ShareLink {
            presigned,
            key: opened.key,
        })
    }
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
    fn parse_and_print_round_trip_without_leaking() {
        let key = [0xABu8; 32];
        let enc = Base64UrlUnpadded::encode_string(&key);
        let link = format!("http://127.0.0.1:9/b/k?X-Amz-Signature=feedface#k={enc}");
        let parsed = ShareLink::parse(&link).unwrap();
        assert_eq!(parsed.expose_secret().as_str(), link);
        assert_eq!(parsed.expose_data_key().expose_secret(), &key);
        for shown in [format!("{parsed:?}"), parsed.to_string()] {
            assert!(
                !shown.contains("feedface") && !shown.contains(&enc),
                "{shown}"
            );
        }
        assert!(ShareLink::parse("http://h/b/k").is_err());
        assert!(ShareLink::parse("ftp://h/b/k#k=AAAA").is_err());
        assert!(ShareLink::parse("http://h/b/k#k=AAAA").is_err());
        assert!(ShareLink::parse(&format!("http://h/b/k#k={enc}&k={enc}")).is_err());
    }
}
