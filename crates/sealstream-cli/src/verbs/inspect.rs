//! `inspect` and `ls`: headers and sizes, read without any key.

use serde_json::{Value, json};

use sealstream_format::{Header, layout};

use super::crypt::StoredFile;
use super::{context_json, records_json, remote};
use crate::app::App;
use crate::cli::InspectArgs;
use crate::error::Result;
use crate::local;
use crate::location::Target;
use crate::util::{self, human_size};

/// What `inspect` reports about one object, as JSON.
pub(crate) fn header_json(
    shown: &str,
    header: &Header,
    header_len: usize,
    size: Option<u64>,
) -> Value {
    let body = size.and_then(|s| s.checked_sub(header_len as u64));
    let plain = size.and_then(|s| local::claimed_plaintext_len(s, header_len));
    json!({
        "verb": "inspect",
        "object": shown,
        "version": header.version(),
        "suite": header.suite().name(),
        "suite_id": header.suite().id(),
        "context": context_json(header),
        "keys": records_json(header),
        "header_size": header_len,
        "size": size,
        "body_size": body,
        "plaintext_size": plain,
        "chunks": plain.map(|p| layout::final_chunk_index(p) + 1),
        "size_valid": size.is_none() || plain.is_some(),
    })
}

/// The human form of [`header_json`].
pub(crate) fn header_human(
    shown: &str,
    header: &Header,
    header_len: usize,
    size: Option<u64>,
) -> String {
    let plain = size.and_then(|s| local::claimed_plaintext_len(s, header_len));
    let mut s = format!(
        "{shown}\n  format version  {}\n  suite           {} (id {})\n  context         {}\n  header          {header_len} bytes\n",
        header.version(),
        header.suite().name(),
        header.suite().id(),
        util::context_display(header.context()),
    );
    if let Some(size) = size {
        s.push_str(&format!(
            "  object size     {size} bytes ({})\n",
            human_size(size)
        ));
        match plain {
            Some(p) => s.push_str(&format!(
                "  plaintext size  {p} bytes ({}), {} chunks (unauthenticated until opened)\n",
                human_size(p),
                layout::final_chunk_index(p) + 1
            )),
            None => s.push_str(
                "  plaintext size  invalid: the object length fits no valid body (truncated or extended)\n",
            ),
        }
    }
    s.push_str(&format!(
        "  key block       {} record(s)\n",
        header.records().len()
    ));
    for r in header.records() {
        s.push_str(&format!(
            "    {:<8} {} ({} bytes wrapped)\n",
            crate::output::escape(r.provider()).as_ref(),
            crate::output::escape(r.key_id()),
            r.wrapped().len()
        ));
    }
    s.trim_end().to_owned()
}

pub(crate) async fn inspect(app: &App, a: InspectArgs) -> Result<()> {
    let target = super::file_or_object(app, &a.target).await?;
    let shown = target.to_string();
    let (header, header_len, size) = match &target {
        Target::Local(p) => {
            let f = StoredFile::open(app, p).await?;
            (f.header, f.header_len, Some(f.size))
        }
        Target::S3 { bucket, key } => {
            match remote::read_remote_header(app, &target, &a.sse).await {
                Ok(v) => v,
                Err(e) => return super::migrate::inspect_s3ec_or(app, bucket, key, e).await,
            }
        }
        Target::Link(_) => remote::read_remote_header(app, &target, &a.sse).await?,
    };
    app.out.result(
        &header_json(&shown, &header, header_len, size),
        &header_human(&shown, &header, header_len, size),
        false,
    );
    Ok(())
}
