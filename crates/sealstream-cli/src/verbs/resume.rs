//! `put` to S3 with an upload journal, and `put --resume`.
//!
//! A multipart upload of a file is journaled (crate::journal) so that it
//! can be resumed after the process was killed; Ctrl-C and errors still
//! abort it, and remove the journal. [`before_put`] decides, from the
//! journal of the destination (if any) and `--resume`/`--force`, whether
//! to resume, to refuse, or to start a new upload.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tokio::io::AsyncRead;

use sealstream_format::{EncryptionContext, Header};
use sealstream_s3::{Error as S3Error, ResumeOutcome, SealClient, UploadOptions, UploadOutcome};

use super::{context_json, keys_human, records_json};
use crate::app::App;
use crate::cli::PutArgs;
use crate::error::{Class, CliError, Result};
use crate::journal::{self, Destination, Journal, Loaded, Source};
use crate::location::Target;
use crate::s3::{self, SseKeys, s3_error};
use crate::{cancel, keys, util};

/// What `put` does next.
pub(crate) enum Plan {
    /// An interrupted upload was resumed, completed and reported.
    Resumed,
    /// Upload anew, journaled when a journal is given.
    Upload(Option<Arc<Journal>>),
}

/// The journal destination of an S3 object.
pub(crate) fn destination(app: &App, bucket: &str, key: &str) -> Destination {
    Destination {
        endpoint: app.cfg.endpoint_url.value.clone().unwrap_or_default(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    }
}

/// Looks for an interrupted upload of `target` and resumes it (`--resume`),
/// aborts it (`--force`) or refuses to start another one.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn before_put(
    app: &App,
    a: &PutArgs,
    input: Option<&Path>,
    target: &Target,
    bucket: &str,
    key: &str,
    admin: &sealstream_s3::SealClient,
    sse: &SseKeys,
    context: &EncryptionContext,
) -> Result<Plan> {
    if input.is_none() && a.resume {
        return Err(
            CliError::usage("put --resume needs a FILE: stdin cannot be read again")
                .hint("put the file itself, or drop --resume"),
        );
    }
    let dest = destination(app, bucket, key);
    // One upload of a file per destination at a time: held through a
    // resume below, or by the new upload's journal.
    let lock = input.map(|_| journal::lock(&dest)).transpose()?;
    match (journal::load(&dest)?, input) {
        (Some(j), Some(path)) if a.resume => {
            if resume(app, a, path, target, &dest, &j, admin, sse, context).await? {
                return Ok(Plan::Resumed);
            }
        }
        (Some(j), _) if a.force => {
            admin
                .abort_upload(bucket, key, j.upload_id())
                .await
                .map_err(|e| s3_error(&e))?;
            journal::remove(&j.path);
            app.out.note(&format!(
                "sealstream: aborted the interrupted upload of {target} ({}); starting over",
                j.describe()
            ));
        }
        (Some(j), _) => {
            return Err(CliError::usage(format!(
                "an interrupted upload of {target} exists ({}; journal {})",
                j.describe(),
                j.path.display()
            ))
            .hint(format!(
                "continue it with `sealstream put --resume {} {target}`, start over with --force \
                 (which aborts it), or abort it with `sealstream cleanup {target} --older-than 0`",
                j.source.path
            )));
        }
        (None, _) if a.resume => app.out.note(&format!(
            "sealstream: no interrupted upload of {target} to resume; starting a new one"
        )),
        (None, _) => {}
    }
    let Some(path) = input else {
        return Ok(Plan::Upload(None));
    };
    let source = Source::of(path)?;
    Ok(Plan::Upload(Some(Arc::new(Journal::create(
        dest, source, lock,
    )?))))
}

/// Removes the journal when dropped, if this process wrote it, unless
/// [`RemoveJournal::keep`] was called. Dropped when the upload completed,
/// failed (and was aborted) or was cancelled.
struct RemoveJournal(Option<Arc<Journal>>);

impl RemoveJournal {
    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveJournal {
    fn drop(&mut self) {
        if let Some(j) = self.0.take()
            && j.is_written()
        {
            journal::remove(j.path());
        }
    }
}

/// Uploads `reader`, journaled when `journal` is given. The journal is
/// removed when the upload completes, fails or is dropped, except when the
/// upload could not be aborted (it can still be resumed or cleaned up).
pub(crate) async fn upload<R>(
    client: &SealClient,
    bucket: &str,
    key: &str,
    reader: R,
    opts: UploadOptions,
    journal: Option<Arc<Journal>>,
) -> sealstream_s3::Result<UploadOutcome>
where
    R: AsyncRead + Unpin + Send,
{
    let Some(j) = journal else {
        return client.upload_reader(bucket, key, reader, opts).await;
    };
    let mut guard = RemoveJournal(Some(j.clone()));
    let r = client
        .upload_reader_journaled(bucket, key, reader, opts, j)
        .await;
    if let Err(S3Error::AbortFailed { .. }) = &r {
        guard.keep();
    }
    r
}

/// Resumes the upload journaled in `j`. `Ok(false)`: the upload no longer
/// exists on the server (its journal was removed); start a new one.
#[allow(clippy::too_many_arguments)]
async fn resume(
    app: &App,
    a: &PutArgs,
    path: &Path,
    target: &Target,
    dest: &Destination,
    j: &Loaded,
    admin: &sealstream_s3::SealClient,
    sse: &SseKeys,
    context: &EncryptionContext,
) -> Result<bool> {
    let (bucket, key) = (dest.bucket.as_str(), dest.key.as_str());
    let shown = target.to_string();
    if j.source.path != path.to_string_lossy() {
        return Err(CliError::usage(format!(
            "the interrupted upload of {shown} was reading {}, not {}",
            j.source.path,
            path.display()
        ))
        .hint("resume with the same FILE, or start over with --force (which aborts it)"));
    }
    let now = Source::of(path)?;
    if now.size != j.source.size || now.mtime_ns != j.source.mtime_ns {
        admin
            .abort_upload(bucket, key, j.upload_id())
            .await
            .map_err(|e| s3_error(&e))?;
        journal::remove(&j.path);
        let e = S3Error::SourceChanged {
            object: shown.clone(),
            detail: format!(
                "{} is now {} bytes modified at {}ns, the upload was started for {} bytes \
                 modified at {}ns",
                path.display(),
                now.size,
                now.mtime_ns,
                j.source.size,
                j.source.mtime_ns
            ),
        };
        return Err(source_changed(&format!(
            "{e}; the interrupted upload was aborted"
        )));
    }
    let header = Header::parse(&j.state.header).map_err(|e| {
        CliError::usage(format!(
            "the upload journal {} holds an invalid header: {e}",
            j.path.display()
        ))
    })?;
    util::check_context(&shown, header.context(), context)?;
    if let Some(s) = a.suite
        && app.suite(Some(s)) != header.suite()
    {
        return Err(CliError::usage(format!(
            "the interrupted upload of {shown} seals with {}, not {}",
            header.suite().name(),
            app.suite(Some(s)).name()
        ))
        .hint("drop --suite to resume it"));
    }
    let key_set = app.cfg.keys_for(&a.keys.all());
    let ring = keys::opening(&app.cfg, &key_set.value, &header, &shown)
        .await
        .map_err(|e| cannot_unwrap(&shown, &header, &e.message()))?;
    let client = s3::seal_client(app, admin.s3().clone(), ring, header.suite(), sse)?;
    if j.torn_tail {
        app.out.note(&format!(
            "sealstream: the journal's last record was cut short by the crash and is ignored ({})",
            j.path.display()
        ));
    }
    let journal = Arc::new(Journal::reopen(j)?);

    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CliError::io("opening", path, &e))?;
    let progress = app.progress(Some(j.state.plaintext_len), "put");
    let reader = progress.async_reader(tokio::io::BufReader::with_capacity(2 << 20, file));
    let work = client.resume_reader(bucket, key, reader, &j.state, journal.clone());
    let result = tokio::select! {
        r = work => r,
        () = cancel::cancelled() => {
            progress.finish();
            // Dropping the resume aborts in the background; make sure.
            let _ = admin.abort_upload(bucket, key, j.upload_id()).await;
            journal::remove(journal.path());
            app.out.note(&format!(
                "sealstream: aborted the multipart upload of {target}; nothing was stored"
            ));
            return Err(CliError::new(Class::Interrupted, "interrupted by Ctrl-C"));
        }
    };
    progress.finish();
    match result {
        Ok(outcome) => {
            journal::remove(journal.path());
            report_resumed(app, target, path, &outcome, &header);
            Ok(true)
        }
        Err(S3Error::UploadGone { .. }) => {
            journal::remove(journal.path());
            app.out.note(&format!(
                "sealstream: the interrupted upload of {target} ({}) no longer exists on the \
                 server (aborted or expired); starting a new upload",
                j.upload_id()
            ));
            Ok(false)
        }
        Err(S3Error::NoKey { source, .. }) => {
            Err(cannot_unwrap(&shown, &header, &source.to_string()))
        }
        Err(e @ S3Error::UploadAborted { .. }) => {
            journal::remove(journal.path());
            Err(match &e {
                S3Error::UploadAborted { source, .. }
                    if matches!(**source, S3Error::SourceChanged { .. }) =>
                {
                    source_changed(&e.to_string())
                }
                _ => s3_error(&e),
            })
        }
        Err(e) => Err(s3_error(&e).hint(format!(
            "the interrupted upload is unchanged; run `sealstream put --resume {} {target}` \
             again",
            path.display()
        ))),
    }
}

fn source_changed(message: &str) -> CliError {
    CliError::usage(message)
        .hint("put the file again without --resume: it is sealed anew, with a new key and salt")
}

fn cannot_unwrap(shown: &str, header: &Header, why: &str) -> CliError {
    CliError::new(
        Class::Key,
        format!(
            "cannot resume the upload of {shown}: no configured key can unwrap its data key (it \
             was sealed for {}): {why}",
            keys::describe_records(header)
        ),
    )
    .hint(format!(
        "resuming needs a key that can open the object (a key file, an X25519 identity or a KMS \
         key; a --recipient only seals). Or restart without --resume: `sealstream put --force \
         FILE {shown}` aborts the interrupted upload and starts over"
    ))
}

fn report_resumed(app: &App, target: &Target, input: &Path, o: &ResumeOutcome, header: &Header) {
    let up = &o.upload;
    app.out.result(
        &json!({
            "verb": "put",
            "input": input.display().to_string(),
            "object": target.to_string(),
            "plaintext_size": up.plaintext_len,
            "size": up.object_len,
            "suite": header.suite().name(),
            "context": context_json(header),
            "keys": records_json(header),
            "resumed": true,
            "parts": up.parts,
            "parts_reused": o.parts_reused,
            "parts_sent": o.parts_sent,
        }),
        &format!(
            "{} -> {target} ({}, {}, keys: {}; resumed: {} of {} parts were already stored)",
            input.display(),
            util::human_size(up.plaintext_len),
            header.suite().name(),
            keys_human(header),
            o.parts_reused,
            up.parts
        ),
        false,
    );
}
