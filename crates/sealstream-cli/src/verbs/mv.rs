//! `mv`: renames an object inside its store. Every key record is bound to
//! the object's name (docs/FORMAT.md, "Key records"), so a renamed object
//! needs a key block bound to its new name: the data key is unwrapped
//! (checked against the body's commitment and the old name), wrapped again
//! for the configured keys bound to the new name, and the new header is
//! written in front of the unchanged body. The body is never re-encrypted.
//!
//! ```text
//!  SRC: [header, name SRC][salt|commitment|chunks ...]
//!  DST: [header, name DST][salt|commitment|chunks ...]   then SRC is removed
//!        \__ re-wrapped __/\__ copied as it is (S3: server-side copy) __/
//! ```

use std::io::{self, Seek, SeekFrom};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use serde_json::json;

use sealstream_format::{BodyPrefix, Header};

use super::crypt::StoredFile;
use super::{keys_human, records_json};
use crate::app::{App, blocking};
use crate::cli::MvArgs;
use crate::error::{Class, CliError, Result};
use crate::keys;
use crate::local::{self, AtomicOutput};
use crate::location::Target;
use crate::s3::{self, SseKeys};

/// S3's smallest part (all but the last part of a multipart upload).
const MIN_PART: u64 = 5 << 20;
/// The body bytes copied server-side per UploadPartCopy.
const COPY_PART: u64 = 512 << 20;
/// The body bytes per part when the server cannot copy (SSE-C on weed).
const STREAM_PART: u64 = 16 << 20;

pub(crate) async fn run(app: &App, a: MvArgs) -> Result<()> {
    let store = app.store()?;
    let src = Target::parse(&a.source, &store, false)?;
    let dst = Target::parse(&a.dest, &store, false)?;
    if src == dst {
        return Err(CliError::usage(format!(
            "{src}: source and destination are the same"
        )));
    }
    match (&src, &dst) {
        (Target::Local(s), Target::Local(d)) => {
            let (from, to) = (
                local::store_name(&store, s),
                local::store_name(&store, d).unwrap_or_default(),
            );
            mv_local(app, &a, s, d, from.as_deref(), &to).await
        }
        (Target::S3 { .. }, Target::S3 { .. }) => mv_s3(app, &a, &src, &dst).await,
        _ => Err(CliError::usage(
            "mv renames within local files and stores, or between S3 objects",
        )
        .hint("to move between a local store and S3: sealstream get, then sealstream put")),
    }
}

/// The new header: `header` (bound to `expected`, checked first) re-wrapped
/// for the configured sealing keys and bound to `new_name`.
async fn rewrapped(
    app: &App,
    a: &MvArgs,
    header: &Header,
    prefix: &BodyPrefix,
    shown: &str,
    expected: Option<&str>,
    new_name: &str,
) -> Result<Header> {
    if let Some(name) = expected {
        header
            .check_name(name)
            .map_err(|e| CliError::format(shown, &e))?;
    }
    let keys = app.cfg.keys_for(&a.keys);
    let opening = keys::opening(&app.cfg, &keys.value, header, shown).await?;
    let sealing = keys::sealing(&app.cfg, &keys.value, app.out).await?;
    opening
        .rewrap(header, prefix, &sealing, Some(new_name))
        .await
        .map_err(|e| CliError::kms(shown, &e))
}

async fn mv_local(
    app: &App,
    a: &MvArgs,
    src: &std::path::Path,
    dst: &std::path::Path,
    from: Option<&str>,
    to: &str,
) -> Result<()> {
    let shown = src.display().to_string();
    let stored = StoredFile::open(app, src).await?;
    let prefix = stored.prefix(&shown)?;
    let StoredFile {
        file,
        header,
        header_len,
        ..
    } = stored;
    let new = rewrapped(app, a, &header, &prefix, &shown, from, to).await?;
    if let Some(dir) = dst.parent()
        && !dir.is_dir()
    {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating folder", dir, &e))?;
    }
    let out = AtomicOutput::create(dst, a.force)?;
    let (n, s, src_path) = (new.clone(), shown.clone(), src.to_path_buf());
    blocking(move || {
        use std::io::Write;
        let mut w = out.file();
        w.write_all(&n.encode())
            .map_err(|e| CliError::io("writing", out.dest(), &e))?;
        let mut r: &std::fs::File = &file;
        r.seek(SeekFrom::Start(header_len as u64))
            .and_then(|_| io::copy(&mut r, &mut w))
            .map_err(|e| crate::error::io_class(&s, &e))?;
        out.commit()?;
        std::fs::remove_file(&src_path).map_err(|e| {
            CliError::io(
                "removing (the object was copied to its new name)",
                &src_path,
                &e,
            )
        })
    })
    .await?;
    report(app, &shown, &dst.display().to_string(), &header, &new, 0);
    Ok(())
}

async fn mv_s3(app: &App, a: &MvArgs, src: &Target, dst: &Target) -> Result<()> {
    let (
        Target::S3 {
            bucket: sb,
            key: sk,
        },
        Target::S3 {
            bucket: db,
            key: dk,
        },
    ) = (src, dst)
    else {
        return Err(CliError::new(Class::Internal, "mv_s3 needs two S3 objects"));
    };
    let shown = src.to_string();
    let sse = s3::sse(&app.cfg.sse_for(&a.sse))?;
    let s3c = s3::client(app).await;
    let admin = s3::admin_client_for(app, s3c.clone(), &sse)?;
    if !a.force && admin.exists(db, dk).await.map_err(|e| s3::s3_error(&e))? {
        return Err(CliError::usage(format!("{dst} already exists"))
            .hint("pass --force to replace it, or choose another name"));
    }
    let (header, header_len, total) = s3::read_header(&admin, sb, sk).await?;
    let hl = header_len as u64;
    let (first, _) = admin
        .get_stored_bytes(sb, sk, 0, hl + MIN_PART)
        .await
        .map_err(|e| s3::s3_error(&e))?;
    let prefix_bytes = first
        .get(header_len..header_len + sealstream_format::BODY_PREFIX_LEN)
        .ok_or_else(|| {
            CliError::format(
                &shown,
                &sealstream_format::Error::Truncated {
                    detail: "it ends inside its salt and commitment",
                },
            )
        })?;
    let mut pb = [0u8; sealstream_format::BODY_PREFIX_LEN];
    pb.copy_from_slice(prefix_bytes);
    let prefix = BodyPrefix::from_bytes(&pb);
    let new = rewrapped(app, a, &header, &prefix, &shown, Some(sk), dk).await?;
    let head = sse_head(s3c.head_object().bucket(sb).key(sk), &sse)
        .send()
        .await
        .map_err(|e| s3::sdk_error("HeadObject", &shown, e))?;
    let etag = head.e_tag().map(str::to_owned);
    let meta = head.metadata().cloned();
    let mut part1 = new.encode();
    part1.extend_from_slice(first.get(header_len..).unwrap_or(&[]));
    let copied = if total <= hl + MIN_PART {
        let (key, md5) = sse.customer_headers().unzip();
        let mut put = s3c
            .put_object()
            .bucket(db)
            .key(dk)
            .set_metadata(meta)
            .content_type("application/octet-stream")
            .body(ByteStream::from(part1))
            .set_sse_customer_algorithm(key.as_ref().map(|_| "AES256".to_owned()))
            .set_sse_customer_key(key.as_ref().map(|k| k.as_str().to_owned()))
            .set_sse_customer_key_md5(md5);
        if let Some((e, k)) = server_side(&sse) {
            put = put.server_side_encryption(e).set_ssekms_key_id(k);
        }
        put.send()
            .await
            .map_err(|e| s3::sdk_error("PutObject", &dst.to_string(), e))?;
        0
    } else {
        copy_multipart(
            &admin,
            &sse,
            (sb, sk),
            (db, dk),
            part1,
            hl + MIN_PART,
            total,
            etag,
            meta,
        )
        .await?
    };
    // The one delete path (`SealClient::delete`, as `rm` uses) and its
    // error classification; the copy already exists under the new name.
    admin.delete(sb, sk).await.map_err(|e| {
        s3::s3_error(&e).context(format!("removing the source (it was copied to {dst})"))
    })?;
    report(app, &shown, &dst.to_string(), &header, &new, copied);
    Ok(())
}

fn server_side(sse: &SseKeys) -> Option<(ServerSideEncryption, Option<String>)> {
    match &sse.sse {
        sealstream_s3::Sse::S3 => Some((ServerSideEncryption::Aes256, None)),
        sealstream_s3::Sse::Kms { key_id, .. } => {
            Some((ServerSideEncryption::AwsKms, key_id.clone()))
        }
        _ => None,
    }
}

fn sse_head(
    b: aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder,
    sse: &SseKeys,
) -> aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder {
    match sse.customer_headers() {
        Some((k, md5)) => b
            .sse_customer_algorithm("AES256")
            .sse_customer_key(k.as_str())
            .sse_customer_key_md5(md5),
        None => b,
    }
}

/// Writes `dst` as a multipart upload: part 1 is `part1` (the new header and
/// the first body bytes, up to `copied_from` of the source), the rest are
/// server-side copies of the source from `copied_from` to `total`, made
/// only while the source still has `etag` (streamed through this process
/// instead where the server has no SSE-C UploadPartCopy). Any failure
/// aborts the upload. Returns the bytes copied server-side.
#[allow(clippy::too_many_arguments)]
async fn copy_multipart(
    admin: &sealstream_s3::SealClient,
    sse: &SseKeys,
    (sb, sk): (&str, &str),
    (db, dk): (&str, &str),
    part1: Vec<u8>,
    copied_from: u64,
    total: u64,
    etag: Option<String>,
    meta: Option<std::collections::HashMap<String, String>>,
) -> Result<u64> {
    let s3c = admin.s3();
    let shown = format!("s3://{db}/{dk}");
    let (ck, cmd5) = sse.customer_headers().unzip();
    let alg = ck.as_ref().map(|_| "AES256".to_owned());
    let mut create = s3c
        .create_multipart_upload()
        .bucket(db)
        .key(dk)
        .set_metadata(meta)
        .content_type("application/octet-stream")
        .set_sse_customer_algorithm(alg.clone())
        .set_sse_customer_key(ck.as_ref().map(|k| k.as_str().to_owned()))
        .set_sse_customer_key_md5(cmd5.clone());
    if let Some((e, k)) = server_side(sse) {
        create = create.server_side_encryption(e).set_ssekms_key_id(k);
    }
    let created = create
        .send()
        .await
        .map_err(|e| s3::sdk_error("CreateMultipartUpload", &shown, e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| CliError::new(Class::Service, format!("{shown}: no upload id")))?
        .to_owned();
    let parts = async {
        let mut done = Vec::new();
        let p1 = s3c
            .upload_part()
            .bucket(db)
            .key(dk)
            .upload_id(&upload_id)
            .part_number(1)
            .body(ByteStream::from(part1))
            .set_sse_customer_algorithm(alg.clone())
            .set_sse_customer_key(ck.as_ref().map(|k| k.as_str().to_owned()))
            .set_sse_customer_key_md5(cmd5.clone())
            .send()
            .await
            .map_err(|e| s3::sdk_error("UploadPart", &shown, e))?;
        done.push(
            CompletedPart::builder()
                .part_number(1)
                .set_e_tag(p1.e_tag().map(str::to_owned))
                .build(),
        );
        // At most 10,000 parts: part 1 and the copies.
        let step = COPY_PART.max((total - copied_from).div_ceil(9_000));
        // Servers without SSE-C UploadPartCopy (weed mini): the body is
        // streamed through instead, in smaller parts.
        let stream_step = STREAM_PART.max((total - copied_from).div_ceil(9_000));
        let source = copy_source(sb, sk);
        let mut start = copied_from;
        let mut number = 2;
        let mut streamed = false;
        let mut copied = 0u64;
        while start < total {
            crate::cancel::check().map_err(|e| crate::error::io_class(&shown, &e))?;
            let end = (start + if streamed { stream_step } else { step }).min(total);
            let etag_of_part = if streamed {
                let (bytes, _) = admin
                    .get_stored_bytes(sb, sk, start, end - start)
                    .await
                    .map_err(|e| s3::s3_error(&e))?;
                if bytes.len() as u64 != end - start {
                    return Err(CliError::new(
                        Class::Service,
                        format!("s3://{sb}/{sk} changed while it was being moved"),
                    ));
                }
                s3c.upload_part()
                    .bucket(db)
                    .key(dk)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(bytes))
                    .set_sse_customer_algorithm(alg.clone())
                    .set_sse_customer_key(ck.as_ref().map(|k| k.as_str().to_owned()))
                    .set_sse_customer_key_md5(cmd5.clone())
                    .send()
                    .await
                    .map_err(|e| s3::sdk_error("UploadPart", &shown, e))?
                    .e_tag()
                    .map(str::to_owned)
            } else {
                let r = s3c
                    .upload_part_copy()
                    .bucket(db)
                    .key(dk)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={start}-{}", end - 1))
                    .set_copy_source_if_match(etag.clone())
                    .set_sse_customer_algorithm(alg.clone())
                    .set_sse_customer_key(ck.as_ref().map(|k| k.as_str().to_owned()))
                    .set_sse_customer_key_md5(cmd5.clone())
                    .set_copy_source_sse_customer_algorithm(alg.clone())
                    .set_copy_source_sse_customer_key(ck.as_ref().map(|k| k.as_str().to_owned()))
                    .set_copy_source_sse_customer_key_md5(cmd5.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) => {
                        copied += end - start;
                        r.copy_part_result()
                            .and_then(|c| c.e_tag())
                            .map(str::to_owned)
                    }
                    Err(e) if ck.is_some() && e.code() == Some("NotImplemented") => {
                        streamed = true;
                        continue;
                    }
                    Err(e) => return Err(s3::sdk_error("UploadPartCopy", &shown, e)),
                }
            };
            done.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(etag_of_part)
                    .build(),
            );
            number += 1;
            start = end;
        }
        if streamed {
            // The streamed bytes were not pinned to the ETag: check that the
            // source did not change meanwhile before completing.
            let now = sse_head(s3c.head_object().bucket(sb).key(sk), sse)
                .send()
                .await
                .map_err(|e| s3::sdk_error("HeadObject", &format!("s3://{sb}/{sk}"), e))?;
            if now.e_tag() != etag.as_deref() {
                return Err(CliError::new(
                    Class::Service,
                    format!("s3://{sb}/{sk} changed while it was being moved; nothing was moved"),
                )
                .hint("run the mv again"));
            }
        }
        s3c.complete_multipart_upload()
            .bucket(db)
            .key(dk)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .set_sse_customer_algorithm(alg.clone())
            .set_sse_customer_key(ck.as_ref().map(|k| k.as_str().to_owned()))
            .set_sse_customer_key_md5(cmd5.clone())
            .send()
            .await
            .map_err(|e| s3::sdk_error("CompleteMultipartUpload", &shown, e))?;
        Ok::<_, CliError>(copied)
    };
    let res = tokio::select! {
        r = parts => r,
        () = crate::cancel::cancelled() => Err(CliError::new(Class::Interrupted, "interrupted")),
    };
    if res.is_err() {
        let _ = admin.abort_upload(db, dk, &upload_id).await;
    }
    res
}

/// `x-amz-copy-source`: the bucket and the percent-encoded key.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn report(app: &App, from: &str, to: &str, old: &Header, new: &Header, copied: u64) {
    app.out.result(
        &json!({
            "verb": "mv",
            "object": from,
            "output": to,
            "name": new.name(),
            "old_keys": records_json(old),
            "keys": records_json(new),
            "copied_server_side": copied,
        }),
        &format!(
            "moved {from} -> {to} (re-bound to {}, keys: {})",
            crate::output::escape(new.name()),
            keys_human(new)
        ),
        false,
    );
}
