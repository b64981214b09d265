//! `rewrap`: a new key block for the same body (docs/FORMAT.md,
//! "Rewrapping"). The data key is unwrapped and its commitment verified
//! before it is wrapped for the new keys.

use std::io::{self, Seek, SeekFrom};

use serde_json::json;

use sealstream_format::{BodyPrefix, DataKey, Header, RandomAccess};
use sealstream_kms::WrapContext;

use super::crypt::{StoredFile, open_key};
use super::{context_json, keys_human, records_json, remote};
use crate::app::{App, blocking};
use crate::cli::RewrapArgs;
use crate::error::{CliError, Result};
use crate::local::{self, AtomicOutput};
use crate::location::Target;
use crate::{keys, util};

/// Unwraps the object's key with the configured keys (checked against the
/// body's commitment: a planted record is never re-wrapped) and wraps it for
/// the new ones, bound to the same bound section, salt and name; returns the
/// new header.
pub(super) async fn new_header(
    app: &App,
    a: &RewrapArgs,
    header: &Header,
    prefix: &BodyPrefix,
    shown: &str,
    expected_name: Option<&str>,
    verify: impl FnOnce(&DataKey) -> Result<()>,
) -> Result<Header> {
    let data_key = open_key(app, &a.keys.all(), header, prefix, shown, expected_name).await?;
    verify(&data_key)?;
    let ring = keys::new_keys(
        &app.cfg,
        &a.new_key_files,
        &a.new_recipients,
        &a.new_recipients_files,
        &a.new_kms_keys,
    )
    .await?;
    let ctx = WrapContext {
        suite: header.suite(),
        context: header.context(),
        bound: header.bound_section(),
        salt: &prefix.salt,
        name: header.name(),
    };
    let records = ring
        .wrap_all(&data_key, ctx)
        .await
        .map_err(|e| CliError::kms(shown, &e))?;
    header
        .with_records(records)
        .map_err(|e| CliError::format(shown, &e))
}

pub(crate) async fn run(app: &App, a: RewrapArgs) -> Result<()> {
    let target = super::file_or_object(app, &a.target).await?;
    let wanted = util::parse_context(&a.context.pairs)?;
    let path = match &target {
        Target::Local(p) => p.clone(),
        Target::S3 { .. } => return remote::rewrap_s3(app, &a, &target, wanted).await,
        Target::Link(_) => {
            return Err(CliError::usage(
                "rewrap works on a local file or an S3 object",
            ));
        }
    };
    let shown = target.to_string();
    let src = StoredFile::open(app, &path).await?;
    util::check_context(&shown, src.header.context(), &wanted)?;
    let prefix = src.prefix(&shown)?;
    let StoredFile {
        file,
        header,
        header_len,
        size,
        name,
    } = src;
    let file = std::sync::Arc::new(file);
    let verify_file = file.clone();
    let s = shown.clone();
    let new = new_header(
        app,
        &a,
        &header,
        &prefix,
        &shown,
        name.as_deref(),
        move |k| {
            // Checks the commitment (FORMAT.md, Rewrapping, step 2).
            RandomAccess::open(&*verify_file, k)
                .map(drop)
                .map_err(|e| local::opening_error(&s, e))
        },
    )
    .await?;
    let out = AtomicOutput::create(&path, true)?;
    let (n, s) = (new.clone(), shown.clone());
    blocking(move || {
        use std::io::Write;
        let mut dst = out.file();
        dst.write_all(&n.encode())
            .map_err(|e| CliError::io("writing", out.dest(), &e))?;
        let mut src: &std::fs::File = &file;
        src.seek(SeekFrom::Start(header_len as u64))
            .and_then(|_| io::copy(&mut src, &mut dst))
            .map_err(|e| crate::error::io_class(&s, &e))?;
        out.commit()
    })
    .await?;
    let new_size = size - header_len as u64 + new.encoded_len() as u64;
    report(app, &shown, &header, &new, Some(new_size));
    Ok(())
}

/// Prints `rewrap`'s result.
pub(super) fn report(app: &App, shown: &str, old: &Header, new: &Header, size: Option<u64>) {
    app.out.result(
        &json!({
            "verb": "rewrap",
            "object": shown,
            "old_keys": records_json(old),
            "keys": records_json(new),
            "context": context_json(new),
            "size": size,
        }),
        &format!(
            "rewrapped {shown}: keys {} -> {}",
            keys_human(old),
            keys_human(new)
        ),
        false,
    );
}
