//! `encrypt` and `decrypt`: a file or stdin to a file or stdout.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use serde_json::json;

use sealstream_format::{BodyPrefix, DataKey, Header};

use super::{context_json, keys_human, records_json};
use crate::app::{App, blocking};
use crate::cli::{DecryptArgs, EncryptArgs, KeyArgs};
use crate::error::{CliError, Result};
use crate::local::{self, AtomicOutput};
use crate::progress::Progress;
use crate::{keys, util};

/// `-` (or nothing) means stdin/stdout.
fn path_arg(s: Option<&str>) -> Option<PathBuf> {
    s.filter(|s| *s != "-")
        .map(|s| util::absolute(&util::expand_tilde(std::path::Path::new(s))))
}

/// Fails early if `path` cannot be read.
pub(super) fn check_readable(path: &std::path::Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::io("reading", path, &e))?;
    if meta.is_dir() {
        return Err(CliError::usage(format!(
            "{} is a folder; seal one file at a time (for a folder: tar c DIR | sealstream encrypt -)",
            path.display()
        )));
    }
    Ok(())
}

/// Refuses a folder where a sealed file is expected (exit 2, as for every
/// verb), before anything is opened.
fn check_sealed_file(path: &std::path::Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(CliError::usage(format!(
            "{} is a folder; pass a sealed file",
            path.display()
        )));
    }
    Ok(())
}

/// Unwraps the data key of `header`'s object, whose body starts with
/// `prefix`, with the configured keys. Every unwrapped key is checked
/// against the body's commitment, so a planted record is skipped, not used.
/// `expected_name`: the object's name in its local store (`None` for a file
/// outside any store), checked before any key is tried, so an object
/// swapped with another one of the store fails (exit 4).
pub(crate) async fn open_key(
    app: &App,
    keys_args: &crate::cli::KeyArgs,
    header: &Header,
    prefix: &sealstream_format::BodyPrefix,
    shown: &str,
    expected_name: Option<&str>,
) -> Result<sealstream_format::DataKey> {
    if let Some(name) = expected_name {
        header
            .check_name(name)
            .map_err(|e| CliError::format(shown, &e))?;
    }
    let keys = app.cfg.keys_for(keys_args);
    let ring = keys::opening(&app.cfg, &keys.value, header, shown).await?;
    ring.open_key(header, prefix, expected_name)
        .await
        .map_err(|e| CliError::kms(shown, &e))
}

/// A local sealed file opened for reading: its header read, nothing authenticated yet.
pub(super) struct StoredFile {
    /// Its name in the local store; `None` for a file outside it.
    pub(super) name: Option<String>,
    pub(super) file: File,
    /// Its header, bound to the body by the key commitment ([`Self::data_key`] checks it).
    pub(super) header: Header,
    /// The header's length in bytes: where the body starts.
    pub(super) header_len: usize,
    /// The file's size in bytes.
    pub(super) size: u64,
}

impl StoredFile {
    /// Opens `path` off the runtime and reads its header; a missing object of the
    /// local store is named as such ([`local::not_in_store`]).
    pub(super) async fn open(app: &App, path: &Path) -> Result<Self> {
        let p = path.to_path_buf();
        let (file, header, header_len, size) = blocking(move || local::open_sealed(&p))
            .await
            .map_err(|e| local::not_in_store(e, app.store().ok().as_ref(), path))?;
        let name = app.store().ok().and_then(|s| local::store_name(&s, path));
        Ok(StoredFile {
            name,
            file,
            header,
            header_len,
            size,
        })
    }

    /// Its body prefix: what every unwrapped data key is checked against.
    pub(super) fn prefix(&self, shown: &str) -> Result<BodyPrefix> {
        local::body_prefix(&self.file, self.header_len, shown)
    }

    /// Unwraps its data key with `keys` ([`open_key`], with its name in the store).
    pub(super) async fn data_key(&self, app: &App, keys: &KeyArgs, shown: &str) -> Result<DataKey> {
        let prefix = self.prefix(shown)?;
        open_key(
            app,
            keys,
            &self.header,
            &prefix,
            shown,
            self.name.as_deref(),
        )
        .await
    }
}

/// Opens the sealed `file` (header already read) into `out`, or stdout for `None`,
/// off the runtime; `out` is committed only once every chunk has authenticated.
/// Returns the plaintext length.
pub(super) async fn open_file_into(
    file: File,
    shown: &str,
    out: Option<AtomicOutput>,
    header: &Header,
    key: DataKey,
    progress: &Progress,
) -> Result<u64> {
    if out.is_none() {
        progress.before_stdout();
    }
    let (h, p, s) = (header.clone(), progress.clone(), shown.to_owned());
    blocking(move || match out {
        Some(out) => {
            let n = local::open_file_to(&file, &s, out.file(), &h, &key, &p)?;
            out.commit()?;
            Ok(n)
        }
        None => local::open_file_to(&file, &s, io::stdout(), &h, &key, &p),
    })
    .await
}

/// Says so when the plaintext to seal is read from a terminal (a command
/// waiting for typed input looks hung otherwise).
pub(super) fn stdin_note(app: &App) {
    if io::stdin().is_terminal() {
        app.out.note(
            "sealstream: reading the plaintext from the terminal (stdin); type it and end with \
             Ctrl-D, or press Ctrl-C and pass a file",
        );
    }
}

pub(crate) async fn encrypt(app: &App, a: EncryptArgs) -> Result<()> {
    let input = path_arg(Some(&a.input));
    let output = path_arg(a.output.as_deref());
    if let Some(p) = &input {
        check_readable(p)?;
    }
    if output.is_none() && io::stdout().is_terminal() {
        return Err(
            CliError::usage("refusing to write a sealed object to a terminal")
                .hint("pass -o FILE, or redirect stdout to a file or a pipe"),
        );
    }
    if input.is_none() {
        stdin_note(app);
    }
    let context = util::parse_context(&a.context.pairs)?;
    let out_file = output
        .as_deref()
        .map(|p| AtomicOutput::create(p, a.force))
        .transpose()?;
    let keys = app.cfg.keys_for(&a.keys.all());
    let ring = keys::sealing(&app.cfg, &keys.value, app.out).await?;
    // An output inside the local store is bound to its name there, as `put`
    // binds it; any other file is bound to no name.
    let name = output
        .as_deref()
        .and_then(|p| app.store().ok().and_then(|s| local::store_name(&s, p)))
        .unwrap_or_default();
    let sealed = ring
        .seal_key(app.suite(a.suite), context, &name)
        .await
        .map_err(|e| CliError::kms("sealing", &e))?;
    let header = sealed.header;
    let data_key = sealed.key;
    let salt = sealed.salt;
    let progress = app.progress(None, "encrypt");
    let (h, p) = (header.clone(), progress.clone());
    let src = input.clone();
    let plain_len = blocking(move || match out_file {
        Some(out) => {
            let n = local::seal_to(src.as_deref(), out.file(), &h, &data_key, salt, &p)?;
            out.commit()?;
            Ok(n)
        }
        None => local::seal_to(src.as_deref(), io::stdout(), &h, &data_key, salt, &p),
    })
    .await?;
    progress.finish();
    let sealed_len = sealstream_format::layout::body_len(plain_len)
        .map(|b| b.saturating_add(header.encoded_len() as u64))
        .ok();
    let shown_in = input
        .as_ref()
        .map_or("-".to_owned(), |p| p.display().to_string());
    let shown_out = output
        .as_ref()
        .map_or("-".to_owned(), |p| p.display().to_string());
    app.out.result(
        &json!({
            "verb": "encrypt",
            "input": shown_in,
            "output": shown_out,
            "plaintext_size": plain_len,
            "size": sealed_len,
            "suite": header.suite().name(),
            "context": context_json(&header),
            "keys": records_json(&header),
        }),
        &format!(
            "sealed {shown_in} -> {shown_out} ({}, {}, keys: {})",
            util::human_size(plain_len),
            header.suite().name(),
            keys_human(&header)
        ),
        output.is_none(),
    );
    Ok(())
}

pub(crate) async fn decrypt(app: &App, a: DecryptArgs) -> Result<()> {
    let input = path_arg(Some(&a.input));
    if input.is_none() && io::stdin().is_terminal() {
        return Err(
            CliError::usage("refusing to read a sealed object from a terminal")
                .hint("pass the sealed file, or pipe it in: sealstream decrypt - < FILE"),
        );
    }
    if let Some(p) = &input {
        check_sealed_file(p)?;
    }
    let output = path_arg(a.output.as_deref());
    let wanted = util::parse_context(&a.context.pairs)?;
    let out_file = output
        .as_deref()
        .map(|p| AtomicOutput::create(p, a.force))
        .transpose()?;
    let progress;
    let (header, plain_len, shown_in) = match &input {
        Some(path) => {
            let shown = path.display().to_string();
            let (file, header, header_len, size) = {
                let p = path.clone();
                blocking(move || local::open_sealed(&p)).await?
            };
            util::check_context(&shown, header.context(), &wanted)?;
            let prefix = local::body_prefix(&file, header_len, &shown)?;
            // A file of the local store is checked against its name there.
            let name = app.store().ok().and_then(|s| local::store_name(&s, path));
            let data_key = open_key(
                app,
                &a.keys.all(),
                &header,
                &prefix,
                &shown,
                name.as_deref(),
            )
            .await?;
            progress = app.progress(local::claimed_plaintext_len(size, header_len), "decrypt");
            let n = open_file_into(file, &shown, out_file, &header, data_key, &progress).await?;
            (header, n, shown)
        }
        None => {
            let shown = "stdin".to_owned();
            let (header, prefix, stdin) = blocking(|| {
                // Interrupted by Ctrl-C even while stdin sends nothing.
                let mut stdin = crate::progress::stdin();
                let (header, _) =
                    Header::read_from(&mut stdin).map_err(|e| local::opening_error("stdin", e))?;
                let mut prefix = [0u8; sealstream_format::BODY_PREFIX_LEN];
                io::Read::read_exact(&mut stdin, &mut prefix).map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        CliError::format(
                            "stdin",
                            &sealstream_format::Error::Truncated {
                                detail: "it ends inside its salt and commitment",
                            },
                        )
                    } else {
                        crate::error::io_class("stdin", &e)
                    }
                })?;
                Ok((header, prefix, stdin))
            })
            .await?;
            util::check_context(&shown, header.context(), &wanted)?;
            let body_prefix = sealstream_format::BodyPrefix::from_bytes(&prefix);
            let data_key =
                open_key(app, &a.keys.all(), &header, &body_prefix, &shown, None).await?;
            // The body prefix was read to check the key; the stream opener
            // reads the body from its start.
            let body = move || io::Read::chain(io::Cursor::new(prefix), stdin);
            progress = app.progress(None, "decrypt");
            if out_file.is_none() {
                progress.before_stdout();
            }
            let (h, p) = (header.clone(), progress.clone());
            let n = blocking(move || match out_file {
                Some(out) => {
                    let n = local::open_stream_to(body(), "stdin", out.file(), &h, &data_key, &p)?;
                    out.commit()?;
                    Ok(n)
                }
                None => {
                    local::open_stream_to(body(), "stdin", io::stdout().lock(), &h, &data_key, &p)
                }
            })
            .await?;
            (header, n, shown)
        }
    };
    progress.finish();
    let shown_out = output
        .as_ref()
        .map_or("-".to_owned(), |p| p.display().to_string());
    app.out.result(
        &json!({
            "verb": "decrypt",
            "input": shown_in,
            "output": shown_out,
            "plaintext_size": plain_len,
            "suite": header.suite().name(),
            "context": context_json(&header),
            "keys": records_json(&header),
        }),
        &format!(
            "opened {shown_in} -> {shown_out} ({}, authenticated)",
            util::human_size(plain_len)
        ),
        output.is_none(),
    );
    Ok(())
}
