//! `upload-link` and `cors`: the S3 side of the sealstream web page (`web/`).

use std::sync::Arc;

use serde_json::json;

use sealstream_kms::{KeyProvider, Keyring};

use super::remote::{bucket_key, expiry, s3_target};
use crate::app::App;
use crate::cli::{CorsArgs, UploadLinkArgs};
use crate::error::{CliError, Result};
use crate::s3::{self, s3_error};
use crate::util;

pub(crate) async fn upload_link(app: &App, a: UploadLinkArgs) -> Result<()> {
    let expires = expiry(&a.expires)?;
    let max_size = util::parse_size(&a.max_size)?;
    let target = s3_target(app, &a.target)?;
    let (bucket, key) = bucket_key(&target)?;
    let shown = target.to_string();
    let recipients = a
        .recipients
        .iter()
        .map(|r| crate::keys::load_recipient(r))
        .collect::<Result<Vec<_>>>()?;
    let s3c = s3::client(app).await;
    if !a.force {
        match s3c.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => {
                return Err(CliError::usage(format!("{shown} already exists"))
                    .hint("pass --force to let the upload replace it, or pick another key"));
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {}
            Err(e) => return Err(s3::sdk_error("HeadObject", &shown, e)),
        }
    }
    let providers: Vec<Arc<dyn KeyProvider>> = recipients
        .iter()
        .map(|r| Arc::new(r.clone()) as Arc<dyn KeyProvider>)
        .collect();
    let ring = Keyring::new(providers).map_err(|e| CliError::kms("recipients", &e))?;
    let sse = s3::sse(&app.cfg.sse_for(&crate::cli::SseArgs::default()))?;
    let client = s3::seal_client(app, s3c, ring, sealstream_format::Suite::Aes256Gcm, &sse)?;
    let link = client
        .upload_link(bucket, key, recipients.clone(), max_size, expires)
        .await
        .map_err(|e| s3_error(&e))?;
    let web = link
        .expose_web_link(&a.web_page)
        .map_err(|e| s3_error(&e))?;
    let plan = link.plan();
    app.out.result(
        &json!({
            "verb": "upload-link",
            "object": shown,
            "link": web.as_str(),
            "upload_id": plan.upload_id,
            "parts": plan.parts.len(),
            "part_size": plan.part_size,
            "max_size": max_size,
            "recipients": recipients.iter().map(|r| r.fingerprint()).collect::<Vec<_>>(),
            "expires_in_seconds": expires.as_secs(),
            "expires_at": util::expiry_time(expires).1,
            "expires_at_epoch": util::expiry_time(expires).0,
        }),
        web.as_str(),
        false,
    );
    app.out.note(&format!(
        "sealstream: anyone with this link can upload one file of up to {} to {shown} until it \
         expires in {} ({}); it is sealed in the browser for {} (the uploader cannot read it back). \
         Open it with `sealstream get {shown} --identity ...`; an upload never completed is \
         removed by `sealstream cleanup`",
        util::human_size(max_size),
        util::human_duration(expires),
        util::expiry_time(expires).1,
        recipients
            .iter()
            .map(|r| format!("x25519 {}", r.fingerprint()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

pub(crate) async fn cors(app: &App, a: CorsArgs) -> Result<()> {
    let bucket = a
        .bucket
        .strip_prefix("s3://")
        .map(|b| b.trim_end_matches('/'))
        .filter(|b| !b.is_empty() && !b.contains('/'))
        .ok_or_else(|| {
            CliError::usage(format!("{}: expected s3://BUCKET", a.bucket))
                .hint("CORS rules are set per bucket: `sealstream cors s3://my-bucket --origin https://...`")
        })?;
    let origins = a
        .origins
        .iter()
        .map(|o| sealstream_s3::origin_of(o).map_err(|e| s3_error(&e)))
        .collect::<Result<Vec<_>>>()?;
    let rule = sealstream_s3::cors_rule_json(&origins);
    if a.apply {
        let s3c = s3::client(app).await;
        sealstream_s3::put_web_cors(&s3c, bucket, &origins)
            .await
            .map_err(|e| s3_error(&e))?;
        app.out.result(
            &json!({"verb": "cors", "bucket": bucket, "applied": true, "origins": origins}),
            &format!(
                "set the web page's CORS rule on s3://{bucket} for {}",
                origins.join(", ")
            ),
            false,
        );
    } else {
        app.out.result(
            &json!({"verb": "cors", "bucket": bucket, "applied": false, "rule": serde_json::from_str::<serde_json::Value>(&rule).unwrap_or_default()}),
            &rule,
            false,
        );
        app.out.note(&format!(
            "sealstream: apply it with `sealstream cors s3://{bucket} --origin ... --apply` or \
             `aws s3api put-bucket-cors --bucket {bucket} --cors-configuration file://rule.json`"
        ));
    }
    Ok(())
}
