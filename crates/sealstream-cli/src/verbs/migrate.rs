//! Amazon S3 Encryption Client objects: `migrate`, and the hooks through
//! which `get`, `cat` and `inspect` open or describe an S3 object that is
//! not a sealstream object but an S3EC one (docs/S3EC.md).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::aws::{AwsOptions, load_sdk_config};
use sealstream_format::EncryptionContext;
use sealstream_kms::{KmsProvider, read_secret_file};
use sealstream_s3::s3ec::{self, S3ecKeys, S3ecObject};
use zeroize::Zeroizing;

use crate::app::App;
use crate::cli::{KeyArgs, MigrateArgs, S3ecKeyArgs};
use crate::error::{Class, CliError, Result};
use crate::local::AtomicOutput;
use crate::s3::{self, s3_error};

/// The CLI error for an S3EC failure.
fn s3ec_error(e: &s3ec::Error) -> CliError {
    use s3ec::Error as E;
    let msg = e.to_string();
    match e {
        E::S3(inner) => s3_error(inner),
        E::Refused { .. } => CliError::new(Class::Usage, msg)
            .hint("see docs/S3EC.md for the S3 Encryption Client formats sealstream reads"),
        E::NoKey { .. } => CliError::new(Class::Key, msg),
        E::Kms { .. } => CliError::new(Class::Service, msg),
        E::Io { .. } => CliError::new(Class::Io, msg),
        E::ContextMismatch { .. } => CliError::new(Class::Auth, msg).hint(
            "nothing was written; pass the object's context with --encryption-context (see \
             `sealstream inspect`)",
        ),
        _ if e.is_integrity_failure() => CliError::new(Class::Auth, msg)
            .hint("nothing was written; restore the object from another copy"),
        _ => CliError::new(Class::Internal, msg),
    }
}

/// The keys that open S3EC objects: KMS (the `--kms-key` ids as Decrypt
/// KeyIds, or, with none, the key the ciphertext names), and the raw AES
/// and RSA keys of `--s3ec-aes-key` / `--s3ec-rsa-key`.
async fn s3ec_keys(app: &App, args: &KeyArgs, raw: &S3ecKeyArgs) -> Result<S3ecKeys> {
    let opts = AwsOptions {
        region: app.cfg.region.value.clone(),
        endpoint_url: app.cfg.kms_endpoint_url.value.clone(),
        profile: app.cfg.profile.value.clone(),
    };
    let sdk = load_sdk_config(&opts).await;
    let ids = app.cfg.keys_for(args).value.kms_keys.clone();
    let mut keys = S3ecKeys::kms(KmsProvider::client(&sdk), ids);
    let key_error = |path: &Path, e: &dyn std::fmt::Display| {
        CliError::new(Class::Key, format!("{}: {e}", path.display()))
    };
    for path in &raw.aes_keys {
        crate::util::not_a_folder(path, "the AES key file itself")?;
        let bytes = read_secret_file(path).map_err(|e| key_error(path, &e))?;
        let key = aes_key_bytes(&bytes).ok_or_else(|| {
            key_error(
                path,
                &"not an AES key: the file must hold 16 or 32 raw bytes, or one line of base64 \
                  of 16 or 32 bytes",
            )
        })?;
        keys = keys.with_aes_key(&key).map_err(|e| key_error(path, &e))?;
    }
    for path in &raw.rsa_keys {
        crate::util::not_a_folder(path, "the RSA key file itself")?;
        let bytes = read_secret_file(path).map_err(|e| key_error(path, &e))?;
        keys = keys
            .with_rsa_private_key(&bytes)
            .map_err(|e| key_error(path, &e))?;
    }
    Ok(keys)
}

/// A raw AES key file's key: 16 or 32 raw bytes, or base64 text of them.
fn aes_key_bytes(bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use base64ct::{Base64, Encoding};
    if bytes.len() == 16 || bytes.len() == 32 {
        return Some(Zeroizing::new(bytes.to_vec()));
    }
    let text = std::str::from_utf8(bytes).ok()?.trim_ascii();
    let key = Zeroizing::new(Base64::decode_vec(text).ok()?);
    (key.len() == 16 || key.len() == 32).then_some(key)
}

fn context_map(c: &EncryptionContext) -> BTreeMap<String, String> {
    c.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn describe(obj: &S3ecObject) -> Value {
    let e = obj.envelope();
    json!({
        "object": obj.name(),
        "format": format!("Amazon S3 Encryption Client {}", e.format().name()),
        "content_algorithm": e.content_algorithm(),
        "key_wrapping": e.wrapping().name(),
        "metadata_storage": match e.storage() {
            s3ec::Storage::ObjectMetadata => "object metadata",
            s3ec::Storage::InstructionFile => "instruction file",
        },
        "context": e.context(),
        "object_size": obj.object_len(),
        "plaintext_size": obj.plaintext_len(),
    })
}

/// Finds an S3EC object at `s3://bucket/key` after the sealstream reader
/// refused it with `original`, which is returned when it is not one.
async fn detect(app: &App, bucket: &str, key: &str, original: CliError) -> Result<S3ecObject> {
    let s3c = s3::client(app).await;
    match S3ecObject::head(&s3c, bucket, key).await {
        Ok(Some(obj)) => Ok(obj),
        // An S3EC object, refused or malformed: that is the better message.
        Err(
            e @ (s3ec::Error::Refused { .. }
            | s3ec::Error::Malformed { .. }
            | s3ec::Error::Truncated { .. }),
        ) => Err(s3ec_error(&e)),
        // Not one, or the lookup failed (an SSE-C object refuses HEAD):
        // the sealstream reader's error stands.
        Ok(None) | Err(_) => Err(original),
    }
}

/// `get` and `cat` of an S3 object that is not a sealstream object: opens
/// it as an S3EC object if it is one, else returns `original`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn get_s3ec_or(
    app: &App,
    keys: &KeyArgs,
    raw: &S3ecKeyArgs,
    bucket: &str,
    key: &str,
    dest: Option<&Path>,
    out_file: Option<AtomicOutput>,
    wanted: &EncryptionContext,
    verb: &str,
    original: CliError,
) -> Result<()> {
    if original.class() != Class::Auth {
        return Err(original);
    }
    let obj = detect(app, bucket, key, original).await?;
    // The existence check (--force) was made when out_file was created;
    // the S3EC reader writes its own temporary file beside DEST.
    drop(out_file);
    let s3c = s3::client(app).await;
    let keys = s3ec_keys(app, keys, raw).await?;
    let ctx = context_map(wanted);
    let n = match dest {
        Some(p) => obj.download_to_file(&s3c, &keys, &ctx, p).await,
        None => {
            let spool = std::env::temp_dir();
            app.out.note(&format!(
                "sealstream: {} is an Amazon S3 Encryption Client object, one AES-GCM message: \
                 its plaintext is spooled to a private temporary file in {} and written to \
                 stdout only after its tag verified",
                obj.name(),
                spool.display()
            ));
            let mut stdout = tokio::io::stdout();
            obj.download_to_writer(&s3c, &keys, &ctx, &mut stdout, &spool)
                .await
        }
    }
    .map_err(|e| s3ec_error(&e))?;
    let shown_out = dest.map_or("-".to_owned(), |p| p.display().to_string());
    let mut v = describe(&obj);
    if let Some(m) = v.as_object_mut() {
        m.insert("verb".into(), verb.into());
        m.insert("output".into(), shown_out.clone().into());
        m.insert("plaintext_size".into(), n.into());
    }
    let human = if verb == "get" {
        format!(
            "{} -> {shown_out} ({}, S3 Encryption Client {}, authenticated)",
            obj.name(),
            crate::util::human_size(n),
            obj.envelope().format().name()
        )
    } else {
        String::new()
    };
    if verb == "get" || app.out.json {
        app.out.result(&v, &human, dest.is_none());
    }
    Ok(())
}

/// `inspect` of an S3 object that is not a sealstream object.
pub(crate) async fn inspect_s3ec_or(
    app: &App,
    bucket: &str,
    key: &str,
    original: CliError,
) -> Result<()> {
    if original.class() != Class::Auth {
        return Err(original);
    }
    let obj = detect(app, bucket, key, original).await?;
    let mut v = describe(&obj);
    if let Some(m) = v.as_object_mut() {
        m.insert("verb".into(), "inspect".into());
    }
    let e = obj.envelope();
    let ctx: Vec<String> = e
        .context()
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    let human = format!(
        "{}\n  format:    Amazon S3 Encryption Client {} ({})\n  content:   {}\n  wrapping:  {}\n  context:   {}\n  size:      {} stored, {} plaintext",
        obj.name(),
        e.format().name(),
        match e.storage() {
            s3ec::Storage::ObjectMetadata => "metadata in the object's headers",
            s3ec::Storage::InstructionFile => "metadata in its .instruction file",
        },
        e.content_algorithm(),
        e.wrapping().name(),
        if ctx.is_empty() {
            "(none)".to_owned()
        } else {
            ctx.join(", ")
        },
        obj.object_len(),
        obj.plaintext_len(),
    );
    app.out.result(&v, &human, false);
    Ok(())
}

fn escape(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

fn split(url: &str, what: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        CliError::usage(format!("{what} {url:?} is not an s3://bucket/prefix/ URL"))
    })?;
    let (b, p) = rest.split_once('/').unwrap_or((rest, ""));
    if b.is_empty() {
        return Err(CliError::usage(format!("{what} {url:?} has no bucket")));
    }
    Ok((b.to_owned(), p.to_owned()))
}

/// `sealstream migrate s3://bucket/prefix/`.
pub(crate) async fn run(app: &App, a: MigrateArgs) -> Result<()> {
    let (bucket, prefix) = split(&a.prefix, "PREFIX")?;
    let (to_bucket, to_prefix) = match &a.to {
        Some(t) => split(t, "--to")?,
        None => (bucket.clone(), prefix.clone()),
    };
    let s3c = s3::client(app).await;
    let sse = s3::sse(&app.cfg.sse_for(&a.sse))?;
    let open_keys = s3ec_keys(app, &a.source_keys(), &a.s3ec).await?;
    let keys = app.cfg.keys_for(&a.keys.all());
    let client = if a.dry_run {
        None
    } else {
        let ring = crate::keys::sealing(&app.cfg, &keys.value, app.out).await?;
        Some(s3::seal_client(
            app,
            s3c.clone(),
            ring,
            app.suite(None),
            &sse,
        )?)
    };
    let wanted = crate::util::parse_context(&a.context.pairs)?;
    let wanted = (!a.context.pairs.is_empty()).then(|| context_map(&wanted));

    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let out = s3c
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| s3::sdk_error("ListObjectsV2", &a.prefix, e))?;
        listed.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    let all: std::collections::HashSet<&str> = listed.iter().map(String::as_str).collect();
    let (mut migrated, mut skipped, mut failed) = (0u64, 0u64, 0u64);
    let mut first_failure: Option<CliError> = None;
    let mut results = Vec::new();
    for key in &listed {
        if let Some(base) = key.strip_suffix(s3ec::INSTRUCTION_SUFFIX)
            && all.contains(base)
        {
            continue;
        }
        let src = format!("s3://{bucket}/{key}");
        let dst_key = format!("{to_prefix}{}", key.strip_prefix(&prefix).unwrap_or(key));
        let dst = format!("s3://{to_bucket}/{dst_key}");
        let outcome = migrate_one(
            app,
            &s3c,
            client.as_ref(),
            &open_keys,
            &a,
            wanted.as_ref(),
            &bucket,
            key,
            &to_bucket,
            &dst_key,
            all.contains(format!("{key}{}", s3ec::INSTRUCTION_SUFFIX).as_str()),
        )
        .await;
        let (status, detail) = match outcome {
            Ok(Some(d)) => {
                migrated += 1;
                (
                    if a.dry_run {
                        "would-migrate"
                    } else {
                        "migrated"
                    },
                    d,
                )
            }
            Ok(None) => {
                skipped += 1;
                ("skipped", "not an S3 Encryption Client object".to_owned())
            }
            Err(e) => {
                failed += 1;
                let d = e.to_string();
                first_failure.get_or_insert(e);
                ("failed", d)
            }
        };
        app.out
            .note(&format!("{status:>13}  {src} -> {dst}  {detail}"));
        results
            .push(json!({"source": src, "destination": dst, "status": status, "detail": detail}));
    }
    let summary = format!(
        "{} {migrated}, skipped {skipped}, failed {failed} (under {})",
        if a.dry_run {
            "would migrate"
        } else {
            "migrated"
        },
        a.prefix
    );
    app.out.result(
        &json!({"verb": "migrate", "dry_run": a.dry_run, "migrated": migrated, "skipped": skipped, "failed": failed, "objects": results}),
        &summary,
        false,
    );
    match first_failure {
        Some(e) => Err(CliError::new(
            e.class(),
            format!(
                "{failed} of {} S3 Encryption Client object(s) could not be migrated; the first: {e}",
                migrated + failed
            ),
        )),
        None => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn migrate_one(
    _app: &App,
    s3c: &aws_sdk_s3::Client,
    client: Option<&sealstream_s3::SealClient>,
    keys: &S3ecKeys,
    a: &MigrateArgs,
    wanted: Option<&BTreeMap<String, String>>,
    bucket: &str,
    key: &str,
    to_bucket: &str,
    to_key: &str,
    has_instruction: bool,
) -> Result<Option<String>> {
    let Some(obj) = S3ecObject::head(s3c, bucket, key)
        .await
        .map_err(|e| s3ec_error(&e))?
    else {
        return Ok(None);
    };
    let e = obj.envelope();
    if let Some(w) = wanted
        && &e.user_context() != w
    {
        return Err(CliError::new(
            Class::Auth,
            format!(
                "{}: its encryption context is not the one given with --encryption-context",
                obj.name()
            ),
        ));
    }
    let what = format!(
        "S3EC {} {}, {} bytes",
        e.format().name(),
        e.wrapping().name(),
        obj.plaintext_len()
    );
    let Some(client) = client else {
        return Ok(Some(what));
    };
    client
        .migrate_s3ec(&obj, keys, to_bucket, to_key)
        .await
        .map_err(|e| s3ec_error(&e))?;
    let in_place = bucket == to_bucket && key == to_key;
    if a.delete_source {
        // Through the store layer's delete (`SealClient::delete`, as `rm`
        // uses), with its error classification.
        if !in_place {
            client
                .delete(bucket, key)
                .await
                .map_err(|e| s3::s3_error(&e))?;
        }
        if has_instruction {
            let inst = format!("{key}{}", s3ec::INSTRUCTION_SUFFIX);
            client
                .delete(bucket, &inst)
                .await
                .map_err(|e| s3::s3_error(&e))?;
        }
    }
    Ok(Some(what))
}
