//! Links to the sealstream web page (`web/` in the repository): a share link
//! the page opens in a browser, and an upload link whose page seals a file
//! in the browser for X25519 recipients and uploads it through a presigned
//! multipart upload. The page is a second implementation of
//! docs/FORMAT.md; it needs the bucket CORS rule of [`cors_rule_json`].
//!
//! ```text
//!  share:   PAGE#k=<data key, base64url, 43 chars>&u=<base64url of the presigned GET URL>
//!  upload:  PAGE#up=<base64url of the upload plan, JSON (UploadLink::plan_json)>
//!           \___ the fragment: never sent to PAGE's host, nor by the page anywhere ___/
//! ```
//!
//! base64url is RFC 4648 section 5 without padding. The upload plan holds
//! the presigned UploadPart, CompleteMultipartUpload and
//! AbortMultipartUpload URLs, the object name and the recipients' **public**
//! keys: no data key and no secret key ever reaches the browser.

use std::time::{Duration, SystemTime};

use base64ct::{Base64UrlUnpadded, Encoding};
use sealstream_kms::X25519Recipient;
use serde_json::json;
use zeroize::Zeroizing;

use crate::client::SealClient;
use crate::error::{Error, Result, object_name};
use crate::presign::PresignedMultipart;
use crate::share::ShareLink;

/// The methods the page uses: GET (ranged) to open, PUT/POST/DELETE for
/// UploadPart, CompleteMultipartUpload and AbortMultipartUpload.
const CORS_METHODS: [&str; 5] = ["GET", "HEAD", "PUT", "POST", "DELETE"];
/// Request headers the page sends: `Range` and `If-Match` when opening,
/// `Content-Type` on the completion.
const CORS_ALLOWED_HEADERS: [&str; 3] = ["range", "if-match", "content-type"];
/// Response headers the page must read: the object length from
/// `Content-Range`, the ETag of each uploaded part.
const CORS_EXPOSE_HEADERS: [&str; 3] = ["ETag", "Content-Range", "Content-Length"];

/// Checks a page URL: `http(s)://...` with no fragment.
pub(crate) fn check_page(page: &str) -> Result<&str> {
    let page = page.trim();
    if !(page.starts_with("https://") || page.starts_with("http://")) {
        return Err(Error::InvalidArgument(format!(
            "--web-page {page}: the page's URL must start with https:// (or http://)"
        )));
    }
    if page.contains('#') {
        return Err(Error::InvalidArgument(format!(
            "--web-page {page}: the page's URL must not have a #fragment (the link's own goes there)"
        )));
    }
    Ok(page)
}

impl ShareLink {
    /// **The link to the web page, signature and data key included**:
    /// `PAGE#k=KEY&u=BASE64URL(presigned GET URL)`. `sealstream get` opens it
    /// too ([`ShareLink::parse`]).
    pub fn expose_web_link(&self, page: &str) -> Result<Zeroizing<String>> {
        let page = check_page(page)?;
        let secret = self.expose_secret();
        let (url, key) = secret
            .split_once("#k=")
            .ok_or_else(|| Error::InvalidArgument("a share link without its key".into()))?;
        let mut s = Zeroizing::new(String::with_capacity(page.len() + url.len() * 4 / 3 + 64));
        s.push_str(page);
        s.push_str("#k=");
        s.push_str(key);
        s.push_str("&u=");
        s.push_str(&Base64UrlUnpadded::encode_string(url.as_bytes()));
        Ok(s)
    }
}

/// A browser upload: a presigned multipart upload of one object, for
/// X25519 recipients, made by [`SealClient::upload_link`].
#[derive(Debug)]
pub struct UploadLink {
    plan: PresignedMultipart,
    name: String,
    recipients: Vec<X25519Recipient>,
    max_size: u64,
    expires_at: u64,
}

impl UploadLink {
    /// The presigned multipart upload (its upload id, parts and part size).
    pub fn plan(&self) -> &PresignedMultipart {
        &self.plan
    }

    /// **The upload plan as JSON: presigned URLs included** (they grant the
    /// upload until they expire). Part URLs are sent compactly when every
    /// part's URL is part 1's with only `partNumber` and `X-Amz-Signature`
    /// replaced (checked here, byte for byte); otherwise in full.
    pub fn plan_json(&self) -> Zeroizing<String> {
        let urls: Vec<&str> = self.plan.parts.iter().map(|p| p.expose_url()).collect();
        let mut v = json!({
            "v": 1,
            "object": self.plan.object,
            "name": self.name,
            "suite": 1,
            "recipients": self.recipients.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "part_size": self.plan.part_size,
            "max_size": self.max_size,
            "expires": self.expires_at,
            "complete": self.plan.complete.expose_url(),
            "abort": self.plan.abort.expose_url(),
        });
        if let Some(map) = v.as_object_mut() {
            match compact_parts(&urls) {
                Some((template, sigs)) => {
                    map.insert("part_template".into(), json!(template));
                    map.insert("part_signatures".into(), json!(sigs));
                }
                None => {
                    map.insert("parts".into(), json!(urls));
                }
            }
        }
        Zeroizing::new(v.to_string())
    }

    /// **The link to the web page**: `PAGE#up=BASE64URL(plan JSON)`.
    pub fn expose_web_link(&self, page: &str) -> Result<Zeroizing<String>> {
        let page = check_page(page)?;
        let plan = self.plan_json();
        let mut s = Zeroizing::new(String::with_capacity(page.len() + plan.len() * 4 / 3 + 8));
        s.push_str(page);
        s.push_str("#up=");
        s.push_str(&Base64UrlUnpadded::encode_string(plan.as_bytes()));
        Ok(s)
    }
}

/// `url` with its `partNumber` and `X-Amz-Signature` query values replaced
/// (the page's `templated` in web/src/share.js does the same).
fn templated(url: &str, part: usize, sig: &str) -> Option<String> {
    let (base, query) = url.split_once('?')?;
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    out.push('?');
    for (i, kv) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        if kv.starts_with("partNumber=") {
            out.push_str(&format!("partNumber={part}"));
        } else if kv.starts_with("X-Amz-Signature=") {
            out.push_str("X-Amz-Signature=");
            out.push_str(sig);
        } else {
            out.push_str(kv);
        }
    }
    Some(out)
}

fn signature_of(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("X-Amz-Signature="))
        .filter(|s| {
            s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
}

/// Part 1's URL and the signatures of parts 2..n, if every part's URL is
/// rebuilt exactly from them.
fn compact_parts<'a>(urls: &[&'a str]) -> Option<(&'a str, Vec<&'a str>)> {
    let (&first, rest) = urls.split_first()?;
    signature_of(first)?;
    let mut sigs = Vec::with_capacity(rest.len());
    for (i, &u) in rest.iter().enumerate() {
        let sig = signature_of(u)?;
        if templated(first, i + 2, sig)? != u {
            return None;
        }
        sigs.push(sig);
    }
    Some((first, sigs))
}

/// The bucket CORS configuration the page needs, for `origins` (the
/// page's origins, `https://host[:port]`), in the JSON of S3's
/// PutBucketCors (as `aws s3api put-bucket-cors --cors-configuration`
/// takes it).
pub fn cors_rule_json(origins: &[String]) -> String {
    let v = json!({
        "CORSRules": [{
            "AllowedOrigins": origins,
            "AllowedMethods": CORS_METHODS,
            "AllowedHeaders": CORS_ALLOWED_HEADERS,
            "ExposeHeaders": CORS_EXPOSE_HEADERS,
            "MaxAgeSeconds": 3600,
        }]
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The origin (`scheme://host[:port]`) of a page URL.
pub fn origin_of(page: &str) -> Result<String> {
    let page = check_page(page)?;
    let (scheme, rest) = page.split_once("://").unwrap_or(("https", page));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() {
        return Err(Error::InvalidArgument(format!("{page}: no host")));
    }
    Ok(format!("{scheme}://{host}"))
}

impl SealClient {
    /// An upload link: starts a multipart upload of `bucket/key` for up to
    /// `max_size` plaintext bytes and presigns its parts, completion and
    /// abort for `expires_in`. The page seals for `recipients` (at least one,
    /// at most 31) with the object's key as its name, so that
    /// [`SealClient::download`] with a matching identity opens it.
    ///
    /// Refused with SSE-C (the browser would need the customer key). The
    /// object's metadata carries no plaintext length (it is not known yet).
    pub async fn upload_link(
        &self,
        bucket: &str,
        key: &str,
        recipients: Vec<X25519Recipient>,
        max_size: u64,
        expires_in: Duration,
    ) -> Result<UploadLink> {
        if matches!(self.config.sse, crate::sse::Sse::Customer(_)) {
            return Err(Error::InvalidArgument(
                "an upload link cannot use SSE-C: the browser would need the customer key".into(),
            ));
        }
        if recipients.is_empty() || recipients.len() > 31 {
            return Err(Error::InvalidArgument(format!(
                "an upload link needs 1 to 31 recipients; {} given",
                recipients.len()
            )));
        }
        if key.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{}: an upload link needs an object key",
                object_name(bucket, key)
            )));
        }
        let expires_at = SystemTime::now()
            .checked_add(expires_in)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let plan = self
            .presign_multipart_up_to(bucket, key, max_size, expires_in)
            .await?;
        Ok(UploadLink {
            plan,
            name: key.to_owned(),
            recipients,
            max_size,
            expires_at,
        })
    }
}

/// Applies [`cors_rule_json`]'s rule to `bucket` (replacing its CORS
/// configuration), with the bucket owner's client.
pub async fn put_web_cors(s3: &aws_sdk_s3::Client, bucket: &str, origins: &[String]) -> Result<()> {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let rule = CorsRule::builder()
        .set_allowed_origins(Some(origins.to_vec()))
        .set_allowed_methods(Some(CORS_METHODS.iter().map(|s| (*s).to_owned()).collect()))
        .set_allowed_headers(Some(
            CORS_ALLOWED_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ))
        .set_expose_headers(Some(
            CORS_EXPOSE_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ))
        .max_age_seconds(3600)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("CORS rule: {e}")))?;
    let conf = CorsConfiguration::builder()
        .cors_rules(rule)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("CORS configuration: {e}")))?;
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(conf)
        .send()
        .await
        .map_err(|e| Error::s3("PutBucketCors", &format!("s3://{bucket}"), e))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const SIG1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const SIG2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn compact_parts_only_when_exact() {
        let u1 =
            format!("http://h/b/k?x-id=UploadPart&partNumber=1&uploadId=U&X-Amz-Signature={SIG1}");
        let u2 =
            format!("http://h/b/k?x-id=UploadPart&partNumber=2&uploadId=U&X-Amz-Signature={SIG2}");
        let (t, sigs) = compact_parts(&[&u1, &u2]).unwrap();
        assert_eq!(t, u1);
        assert_eq!(sigs, vec![SIG2]);
        let other =
            format!("http://h/b/k?x-id=UploadPart&partNumber=2&uploadId=V&X-Amz-Signature={SIG2}");
        assert!(compact_parts(&[&u1, &other]).is_none());
    }

    #[test]
    fn web_share_link_round_trips_through_parse() {
        let key = [7u8; 32];
        let url = "http://127.0.0.1:9/b/k?X-Amz-Signature=feedface&x-id=GetObject";
        let link = ShareLink::parse(&format!(
            "{url}#k={}",
            Base64UrlUnpadded::encode_string(&key)
        ))
        .unwrap();
        let web = link.expose_web_link("https://page.example/s/").unwrap();
        assert!(
            web.starts_with("https://page.example/s/#k="),
            "{}",
            web.as_str()
        );
        assert!(
            !web.contains("feedface"),
            "the URL travels base64url-encoded"
        );
        let back = ShareLink::parse(&web).unwrap();
        assert_eq!(back.presigned().expose_url(), url);
        assert_eq!(back.expose_data_key().expose_secret(), &key);
        assert!(link.expose_web_link("https://page.example/#x").is_err());
        assert!(link.expose_web_link("ftp://page.example/").is_err());
    }

    #[test]
    fn upload_link_debug_shows_no_signature_and_the_plan_rebuilds_every_url() {
        use crate::presign::PresignedRequest;
        let part = |n: u32, sig: &str| {
            PresignedRequest::new(
                "PUT",
                format!(
                    "http://h/b/k?x-id=UploadPart&partNumber={n}&uploadId=U&X-Amz-Signature={sig}"
                ),
                vec![],
            )
        };
        let link = UploadLink {
            plan: PresignedMultipart {
                object: "s3://b/k".into(),
                upload_id: "U".into(),
                part_size: 5 << 20,
                plaintext_len: 10 << 20,
                parts: vec![part(1, SIG1), part(2, SIG2)],
                complete: PresignedRequest::new(
                    "POST",
                    format!("http://h/b/k?uploadId=U&X-Amz-Signature={SIG1}c"),
                    vec![],
                ),
                abort: PresignedRequest::new(
                    "DELETE",
                    format!("http://h/b/k?uploadId=U&X-Amz-Signature={SIG2}a"),
                    vec![],
                ),
            },
            name: "k".into(),
            recipients: vec![],
            max_size: 10 << 20,
            expires_at: 1,
        };
        let shown = format!("{link:?}");
        assert!(!shown.contains(SIG1) && !shown.contains(SIG2), "{shown}");
        let plan: serde_json::Value = serde_json::from_str(&link.plan_json()).unwrap();
        assert_eq!(plan["part_signatures"][0], SIG2);
        assert_eq!(
            templated(plan["part_template"].as_str().unwrap(), 2, SIG2).unwrap(),
            link.plan.parts[1].expose_url()
        );
        let web = link.expose_web_link("https://p.example/").unwrap();
        assert!(web.starts_with("https://p.example/#up="));
    }

    #[test]
    fn cors_rule_names_what_the_page_needs() {
        let j = cors_rule_json(&["https://page.example".into()]);
        for want in [
            "https://page.example",
            "ETag",
            "Content-Range",
            "range",
            "PUT",
            "DELETE",
        ] {
            assert!(j.contains(want), "{want} missing from {j}");
        }
        assert_eq!(
            origin_of("https://page.example:8443/x/index.html?a=1").unwrap(),
            "https://page.example:8443"
        );
    }
}
