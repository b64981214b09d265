//! Local files: atomic outputs (temporary name, then rename), sealing and
//! opening through the format crate's multi-core pipeline, header reads,
//! and listing a local store.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sealstream_atomic::{AtomicFile, Mode, Publish};
use sealstream_format::pipeline::{self, PipelineOptions};
use sealstream_format::{
    BODY_PREFIX_LEN, BodyPrefix, DataKey, Header, ReadAt, Salt, layout, read_header_at,
};

use crate::error::{CliError, Result, io_class};
use crate::progress::Progress;

/// A file written under a temporary name in its final folder and renamed
/// into place by [`AtomicOutput::commit`] (the one writer,
/// [`sealstream_atomic::AtomicFile`], with its one naming scheme). Dropped uncommitted (an error,
/// Ctrl-C), the temporary file is removed: the final name never holds a
/// half-written or unauthenticated file.
#[derive(Debug)]
pub(crate) struct AtomicOutput {
    sink: Sink,
    dest: PathBuf,
    overwrite: bool,
}

/// Where an [`AtomicOutput`] writes.
#[derive(Debug)]
enum Sink {
    /// A temporary file renamed over the destination on commit.
    Temp(AtomicFile, Tracked),
    /// A character device or FIFO (`/dev/null`, a named pipe), written
    /// through: it is never replaced by a regular file. Like stdout, it
    /// receives each chunk's plaintext once that chunk authenticated.
    Direct(File),
}

/// Temporary files being written, removed by [`remove_temp_files`] when the
/// process exits after Ctrl-C while a worker is still blocked (reading a
/// stdin that never ends, say) and cannot drop its [`AtomicOutput`].
static ACTIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn track(path: &Path, add: bool) {
    if let Ok(mut v) = ACTIVE.lock() {
        if add {
            v.push(path.to_path_buf());
        } else {
            v.retain(|p| p != path);
        }
    }
}

/// Removes every temporary file still being written.
pub(crate) fn remove_temp_files() {
    if let Ok(mut v) = ACTIVE.lock() {
        for p in v.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Keeps a temporary file in [`ACTIVE`] while it lives.
#[derive(Debug)]
struct Tracked(PathBuf);

impl Tracked {
    fn new(path: &Path) -> Self {
        track(path, true);
        Tracked(path.to_path_buf())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        track(&self.0, false);
    }
}

impl AtomicOutput {
    /// Starts writing `dest`. Fails at once if `dest` exists and
    /// `overwrite` is false.
    ///
    /// A character device or FIFO (also through a symlink, as
    /// `/dev/stdout` is) is written through, with or without `overwrite`.
    /// A symlink to anything else, a block device or a socket is refused
    /// even with `overwrite`: `--force` never replaces them with a file.
    pub(crate) fn create(dest: &Path, overwrite: bool) -> Result<Self> {
        if let Ok(meta) = dest.symlink_metadata() {
            use std::os::unix::fs::FileTypeExt;
            let target = std::fs::metadata(dest).map(|m| m.file_type());
            let ft = target.as_ref().unwrap_or(&meta.file_type()).to_owned();
            if ft.is_char_device() || ft.is_fifo() {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(dest)
                    .map_err(|e| CliError::io("opening", dest, &e))?;
                return Ok(AtomicOutput {
                    sink: Sink::Direct(file),
                    dest: dest.to_path_buf(),
                    overwrite,
                });
            }
            if meta.file_type().is_symlink() {
                let shown = std::fs::read_link(dest)
                    .map(|t| t.display().to_string())
                    .unwrap_or_else(|_| "?".to_owned());
                return Err(CliError::usage(format!(
                    "{} is a symbolic link (to {shown}); sealstream does not write through \
                     or replace symbolic links",
                    dest.display()
                ))
                .hint("name the link's target as the destination, or remove the link first"));
            }
            if ft.is_block_device() || ft.is_socket() {
                return Err(CliError::usage(format!(
                    "{} is a block device or socket; sealstream writes plaintext only to \
                     regular files, character devices and FIFOs",
                    dest.display()
                )));
            }
        }
        if !overwrite && dest.symlink_metadata().is_ok() {
            return Err(
                CliError::usage(format!("{} already exists", dest.display()))
                    .hint("pass --force to replace it, or choose another name"),
            );
        }
        if dest.file_name().is_none() {
            return Err(CliError::usage(format!(
                "{} is not a file name",
                dest.display()
            )));
        }
        let tmp = AtomicFile::create(dest, Mode::Private).map_err(|e| {
            let dir = match dest.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            CliError::io("creating a temporary file in", dir, &e)
        })?;
        let tracked = Tracked::new(tmp.temp_path());
        Ok(AtomicOutput {
            sink: Sink::Temp(tmp, tracked),
            dest: dest.to_path_buf(),
            overwrite,
        })
    }

    /// The temporary file.
    pub(crate) fn file(&self) -> &File {
        match &self.sink {
            Sink::Temp(tmp, _) => tmp.file(),
            Sink::Direct(f) => f,
        }
    }

    /// The final path.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes to disk and renames into place.
    pub(crate) fn commit(self) -> Result<()> {
        let AtomicOutput {
            sink,
            dest,
            overwrite,
        } = self;
        let tmp = match sink {
            Sink::Temp(tmp, tracked) => {
                drop(tracked);
                tmp
            }
            // Written through already; a device or FIFO has nothing to sync.
            Sink::Direct(_) => return Ok(()),
        };
        tmp.commit(if overwrite {
            Publish::Replace
        } else {
            Publish::CreateNew
        })
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                CliError::usage(format!("{} already exists", dest.display()))
                    .hint("pass --force to replace it")
            } else {
                CliError::io("writing and renaming into place", &dest, &e)
            }
        })
    }
}

/// The name of the file `path` in the local store `store`: its path
/// relative to the store root with `/` separators, the same string
/// [`crate::location::Store::object`] resolves. `None` for a file outside
/// the store (or an S3 store). A store object's key records are bound to
/// this name (docs/FORMAT.md, "Key records"), so a file swapped with another
/// one of the store fails to open.
pub(crate) fn store_name(store: &crate::location::Store, path: &Path) -> Option<String> {
    let crate::location::Store::Local(root) = store else {
        return None;
    };
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `e` (a failure opening `path`) reworded when `path` names an object of
/// the local store that does not exist: "no object NAME in store ROOT",
/// exit 3, with the verb that lists what is there.
pub(crate) fn not_in_store(
    e: CliError,
    store: Option<&crate::location::Store>,
    path: &Path,
) -> CliError {
    if e.class() != crate::error::Class::NotFound || path.exists() {
        return e;
    }
    match (store, store.and_then(|s| store_name(s, path))) {
        (Some(crate::location::Store::Local(root)), Some(name)) => CliError::new(
            crate::error::Class::NotFound,
            format!(
                "no object {} in store {}",
                crate::output::escape(&name),
                root.display()
            ),
        )
        .hint("see `sealstream ls` for the objects it holds"),
        _ => e,
    }
}

/// Opens a local sealed file and reads its header.
pub(crate) fn open_sealed(path: &Path) -> Result<(File, Header, usize, u64)> {
    crate::util::not_a_folder(path, "a sealed file")?;
    let file = File::open(path).map_err(|e| CliError::io("opening", path, &e))?;
    let size = file
        .metadata()
        .map_err(|e| CliError::io("reading", path, &e))?
        .len();
    let (header, header_len) =
        read_header_at(&file).map_err(|e| CliError::format(&path.display().to_string(), &e))?;
    Ok((file, header, header_len, size))
}

/// The body prefix (salt and key commitment) of the sealed file `file`
/// whose header is `header_len` bytes: what every unwrapped data key is
/// checked against before it is used.
pub(crate) fn body_prefix(file: &File, header_len: usize, shown: &str) -> Result<BodyPrefix> {
    let mut bytes = [0u8; BODY_PREFIX_LEN];
    file.read_exact_at(&mut bytes, header_len as u64)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                CliError::format(
                    shown,
                    &sealstream_format::Error::Truncated {
                        detail: "it ends inside its salt and commitment",
                    },
                )
            } else {
                io_class(shown, &e)
            }
        })?;
    Ok(BodyPrefix::from_bytes(&bytes))
}

/// The plaintext length implied by an object's size, if the size is valid.
/// Not authenticated: a reader must still authenticate the final chunk.
pub(crate) fn claimed_plaintext_len(size: u64, header_len: usize) -> Option<u64> {
    size.checked_sub(header_len as u64)
        .and_then(|b| layout::plaintext_len(b).ok())
}

/// Seals the file at `src` (or `None`: stdin) into `dst`. Returns the
/// plaintext length. Runs on the calling (blocking) thread.
pub(crate) fn seal_to<W: Write + Send>(
    src: Option<&Path>,
    dst: W,
    header: &Header,
    key: &DataKey,
    salt: Salt,
    progress: &Progress,
) -> Result<u64> {
    let opts = PipelineOptions::default();
    let shown = src.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let res = match src {
        Some(p) => {
            let f = File::open(p).map_err(|e| CliError::io("opening", p, &e))?;
            let len = f
                .metadata()
                .map_err(|e| CliError::io("reading", p, &e))?
                .len();
            if let Ok(body) = layout::body_len(len) {
                progress.set_total(body.saturating_add(header.encoded_len() as u64));
            }
            pipeline::seal_file(&f, progress.writer(dst), header, key, salt, &opts)
        }
        // Stdin's length is unknown: the bar counts the plaintext read (once:
        // the sealed bytes written are not added to it).
        None => pipeline::seal_stream(
            progress.reader(crate::progress::stdin()),
            progress.uncounted_writer(dst),
            header,
            key,
            salt,
            &opts,
        ),
    };
    res.map_err(|e| sealing_error(&shown, e))
}

fn sealing_error(shown: &str, e: sealstream_format::Error) -> CliError {
    match e {
        sealstream_format::Error::Io(inner) => io_class(&format!("sealing {shown}"), &inner),
        other => CliError::format(&format!("sealing {shown}"), &other),
    }
}

/// Opens the sealed file `src` (header already read) into `dst`; returns
/// the plaintext length. Every chunk is authenticated before its plaintext
/// is written.
pub(crate) fn open_file_to<W: Write + Send>(
    src: &File,
    shown: &str,
    dst: W,
    header: &Header,
    key: &DataKey,
    progress: &Progress,
) -> Result<u64> {
    let opts = PipelineOptions::default();
    pipeline::open_file(src, progress.writer(dst), header, key, &opts)
        .map_err(|e| opening_error(shown, e))
}

/// Opens a sealed stream positioned after its header into `dst`.
pub(crate) fn open_stream_to<R: io::Read + Send, W: Write>(
    src: R,
    shown: &str,
    dst: W,
    header: &Header,
    key: &DataKey,
    progress: &Progress,
) -> Result<u64> {
    let opts = PipelineOptions::default();
    pipeline::open_stream(progress.reader(src), dst, header, key, &opts)
        .map_err(|e| opening_error(shown, e))
}

/// The error for a failure while opening `shown`, naming it.
pub(crate) fn opening_error(shown: &str, e: sealstream_format::Error) -> CliError {
    match e {
        sealstream_format::Error::Io(inner) => io_class(shown, &inner),
        other => CliError::format(shown, &other),
    }
}

/// One object found in a local store.
#[derive(Debug)]
pub(crate) struct Listed {
    /// The name relative to the store root, with `/` separators.
    pub(crate) name: String,
    /// The file.
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Seconds since the Unix epoch.
    pub(crate) modified: Option<u64>,
}

/// Lists the files under `root` whose names start with `prefix`, sorted,
/// skipping temporary files.
pub(crate) fn list_store(root: &Path, prefix: &str) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            CliError::io("listing store folder", &dir, &e)
                .hint("check --store; `sealstream put` creates a local store on first use")
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| CliError::io("listing", &dir, &e))?;
            let path = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| CliError::io("listing", &path, &e))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            if !ft.is_file() || file_name.ends_with(sealstream_atomic::TEMP_SUFFIX) {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if !rel.starts_with(prefix) {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(|e| CliError::io("reading", &path, &e))?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            out.push(Listed {
                name: rel,
                path,
                size: meta.len(),
                modified,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
