//! The one store abstraction the verbs use for both store kinds: a
//! [`StoreHandle`] over a parsed [`Store`] (a local folder, or an S3 bucket
//! and prefix) lists the objects under a prefix, reads one object's header,
//! seals a local file into an object, opens an object into a local file and
//! deletes objects. `check`, `rm -r` and the tree verbs (`put -r`,
//! `get -r`) are written once against it.
//!
//! S3 listing, heads and deletes go through `sealstream_s3::SealClient`
//! (`list`, `stat`, `delete_many`); this module never builds an S3 request
//! itself. Plaintext sizes in a listing come from the stored size alone
//! (docs/FORMAT.md, "Lengths and offsets"): a claim until the object is
//! opened.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use futures_util::StreamExt;
use sealstream_format::pipeline::{self, PipelineOptions};
use sealstream_format::{EncryptionContext, FileMetadata, FileTime, Header, Suite};
use sealstream_kms::Keyring;
use sealstream_s3::{SealClient, UploadOptions};

use crate::app::{App, blocking};
use crate::cli::KeyArgs;
use crate::error::{Class, CliError, Result};
use crate::local::{self, AtomicOutput};
use crate::location::{Store, Target};
use crate::s3::{self, SseKeys, s3_error};
use crate::{keys, util};

/// One object found under a prefix.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The name relative to the store (local: the path under the root with
    /// `/` separators; S3: the key without the store's prefix).
    pub(crate) name: String,
    /// Where it lives.
    pub(crate) target: Target,
    /// The stored (ciphertext) size in bytes.
    pub(crate) size: u64,
    /// The plaintext size the stored size implies (`None`: no valid object
    /// has that size). Not authenticated.
    pub(crate) plaintext_size: Option<u64>,
    /// Stored time, seconds since the Unix epoch.
    pub(crate) modified: Option<i64>,
    /// What identifies this stored version: the ETag on S3; on a local
    /// store the file's modification time in nanoseconds and its size.
    pub(crate) etag: Option<String>,
}

/// The S3 side of a handle: clients and the SSE setting of the run.
struct S3Side {
    s3c: aws_sdk_s3::Client,
    admin: SealClient,
    sse: SseKeys,
}

/// A store with the clients its operations need.
pub(crate) struct StoreHandle<'a> {
    app: &'a App,
    store: Store,
    s3: Option<S3Side>,
}

/// A local store's version identity of a file: mtime (ns) and size.
fn local_etag(meta: &std::fs::Metadata) -> Option<String> {
    let ns = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{ns}-{}", meta.len()))
}

impl<'a> StoreHandle<'a> {
    /// A handle on `store`, with `sse` for S3 requests (objects uploaded
    /// with an SSE-C key need it for every read).
    pub(crate) async fn new(app: &'a App, store: Store, sse: &crate::cli::SseArgs) -> Result<Self> {
        let s3 = match &store {
            Store::Local(_) => None,
            Store::S3 { .. } => {
                let s3c = s3::client(app).await;
                let sse = s3::sse(&app.cfg.sse_for(sse))?;
                let admin = s3::admin_client_for(app, s3c.clone(), &sse)?;
                Some(S3Side { s3c, admin, sse })
            }
        };
        Ok(StoreHandle { app, store, s3 })
    }

    fn s3(&self) -> Result<&S3Side> {
        self.s3
            .as_ref()
            .ok_or_else(|| CliError::new(Class::Internal, "no S3 client for an S3 store"))
    }

    /// Every object whose name starts with `prefix`, sorted by name. A
    /// local store that does not exist is an error (exit 3); S3 lists in
    /// pages of 1000 keys.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<Entry>> {
        match &self.store {
            Store::Local(root) => {
                if !root.is_dir() {
                    return Err(CliError::new(
                        Class::NotFound,
                        format!("the store {} does not exist", root.display()),
                    )
                    .hint("check --store"));
                }
                let (r, p) = (root.clone(), prefix.to_owned());
                blocking(move || {
                    let listed = local::list_store(&r, &p)?;
                    Ok(listed
                        .into_iter()
                        .map(|l| {
                            let meta = std::fs::symlink_metadata(&l.path).ok();
                            Entry {
                                name: l.name,
                                plaintext_size:
                                    sealstream_format::layout::plaintext_len_from_object_len(l.size)
                                        .ok(),
                                size: l.size,
                                modified: l.modified.and_then(|m| i64::try_from(m).ok()),
                                etag: meta.as_ref().and_then(local_etag),
                                target: Target::Local(l.path),
                            }
                        })
                        .collect())
                })
                .await
            }
            Store::S3 {
                bucket,
                prefix: store_prefix,
            } => {
                let full = format!("{store_prefix}{prefix}");
                let listed = self
                    .s3()?
                    .admin
                    .list(bucket, &full)
                    .await
                    .map_err(|e| s3_error(&e))?;
                Ok(listed
                    .into_iter()
                    .map(|e| Entry {
                        name: e
                            .key
                            .strip_prefix(store_prefix.as_str())
                            .unwrap_or(&e.key)
                            .to_owned(),
                        target: Target::S3 {
                            bucket: bucket.clone(),
                            key: e.key.clone(),
                        },
                        size: e.size,
                        plaintext_size: e.plaintext_size,
                        modified: e.last_modified,
                        etag: e.etag,
                    })
                    .collect())
            }
        }
    }

    /// The header of `entry`, read without any key (not authenticated:
    /// for deciding, never for releasing anything).
    pub(crate) async fn read_header(&self, entry: &Entry) -> Result<Header> {
        match &entry.target {
            Target::Local(p) => {
                let p = p.clone();
                blocking(move || local::open_sealed(&p).map(|(_, h, _, _)| h)).await
            }
            Target::S3 { bucket, key } => {
                let side = self.s3()?;
                s3::read_header(&side.admin, bucket, key)
                    .await
                    .map(|(h, _, _)| h)
            }
            Target::Link(_) => Err(CliError::new(Class::Internal, "a link in a store listing")),
        }
    }

    /// Aborts the multipart uploads of the objects `names` started since
    /// `since` (after Ctrl-C stopped their uploads); returns how many. A
    /// local store has none.
    pub(crate) async fn abort_uploads(
        &self,
        names: &[String],
        since: std::time::SystemTime,
    ) -> Result<usize> {
        let (Some(side), Store::S3 { bucket, prefix }) = (&self.s3, &self.store) else {
            return Ok(0);
        };
        let mut n = 0;
        for name in names {
            n += side
                .admin
                .abort_uploads_since(bucket, &format!("{prefix}{name}"), since)
                .await
                .map_err(|e| s3_error(&e))?;
        }
        Ok(n)
    }

    /// A sealer for this store: one keyring for every file of the run.
    pub(crate) fn sealer(&self, ring: Keyring, suite: Suite) -> Result<Sealer> {
        let client = match &self.s3 {
            Some(side) => Some(s3::seal_client(
                self.app,
                side.s3c.clone(),
                ring.clone(),
                suite,
                &side.sse,
            )?),
            None => None,
        };
        Ok(Sealer {
            ring,
            suite,
            client,
        })
    }

    /// Seals the local file `src` into the object `name` (replacing it),
    /// with `context` plus the file's mode and mtime (docs/FORMAT.md, "File
    /// metadata") bound to it. Returns the plaintext length, the stored
    /// size and the new version's ETag (local: mtime and size).
    pub(crate) async fn seal_file(
        &self,
        sealer: &Sealer,
        src: &Path,
        name: &str,
        context: &EncryptionContext,
        meta: FileMetadata,
    ) -> Result<(u64, u64, Option<String>)> {
        let mut context = context.clone();
        context
            .set_file_metadata(meta)
            .map_err(|e| CliError::format(&src.display().to_string(), &e))?;
        match self.store.object(name)? {
            Target::Local(path) => {
                let file = File::open(src).map_err(|e| CliError::io("opening", src, &e))?;
                let sealed = sealer
                    .ring
                    .seal_key(sealer.suite, context, name)
                    .await
                    .map_err(|e| CliError::kms("sealing", &e))?;
                let shown = src.display().to_string();
                blocking(move || {
                    if let Some(dir) = path.parent() {
                        mkdirs(dir)?;
                    }
                    let out = AtomicOutput::create(&path, true)?;
                    let n = pipeline::seal_file(
                        &file,
                        out.file(),
                        &sealed.header,
                        &sealed.key,
                        sealed.salt,
                        &PipelineOptions::default(),
                    )
                    .map_err(|e| match e {
                        sealstream_format::Error::Io(inner) => {
                            crate::error::io_class(&format!("sealing {shown}"), &inner)
                        }
                        other => CliError::format(&format!("sealing {shown}"), &other),
                    })?;
                    out.commit()?;
                    let stored = std::fs::symlink_metadata(&path)
                        .map_err(|e| CliError::io("reading", &path, &e))?;
                    Ok((n, stored.len(), local_etag(&stored)))
                })
                .await
            }
            Target::S3 { bucket, key } => {
                let client = sealer
                    .client
                    .as_ref()
                    .ok_or_else(|| CliError::new(Class::Internal, "no S3 sealing client"))?;
                // Opened here so that an unreadable file fails before any request.
                File::open(src).map_err(|e| CliError::io("opening", src, &e))?;
                let out = client
                    .upload_file(
                        &bucket,
                        &key,
                        src,
                        UploadOptions::default().context(context),
                    )
                    .await
                    .map_err(|e| s3_error(&e))?;
                Ok((out.plaintext_len, out.object_len, out.etag))
            }
            Target::Link(_) => Err(CliError::usage("a store object cannot be a URL")),
        }
    }

    /// Opens `entry` into `sink` (every chunk authenticated before its
    /// plaintext is written); returns the plaintext length and the
    /// authenticated header.
    async fn open_to<W: Write + Send + 'static>(
        &self,
        keys: &KeyArgs,
        entry: &Entry,
        mut sink: W,
    ) -> Result<(u64, Header, W)> {
        let shown = entry.target.to_string();
        match &entry.target {
            Target::Local(path) => {
                let p = path.clone();
                let s = shown.clone();
                let (file, header, prefix) = blocking(move || {
                    let (file, header, header_len, _) = local::open_sealed(&p)?;
                    let prefix = local::body_prefix(&file, header_len, &s)?;
                    Ok((file, header, prefix))
                })
                .await?;
                let key = crate::verbs::open_key(
                    self.app,
                    keys,
                    &header,
                    &prefix,
                    &shown,
                    Some(&entry.name),
                )
                .await?;
                blocking(move || {
                    let n = pipeline::open_file(
                        &file,
                        &mut sink,
                        &header,
                        &key,
                        &PipelineOptions::default(),
                    )
                    .map_err(|e| local::opening_error(&shown, e))?;
                    Ok((n, header, sink))
                })
                .await
            }
            Target::S3 { bucket, key } => {
                let side = self.s3()?;
                let head = s3::head(&side.s3c, bucket, key, &side.sse).await?;
                let kset = self.app.cfg.keys_for(keys);
                let ring = keys::opening(&self.app.cfg, &kset.value, head.header(), &shown).await?;
                let client = s3::seal_client(
                    self.app,
                    side.s3c.clone(),
                    ring,
                    head.header().suite(),
                    &side.sse,
                )?;
                let mut dl = client
                    .download_head(&head)
                    .await
                    .map_err(|e| s3_error(&e))?;
                let header = dl.header().clone();
                let mut n = 0u64;
                while let Some(piece) = dl.next().await {
                    let piece = piece.map_err(|e| s3_error(&e))?;
                    sink.write_all(&piece)
                        .map_err(|e| crate::error::io_class(&shown, &e))?;
                    n += piece.len() as u64;
                }
                Ok((n, header, sink))
            }
            Target::Link(_) => Err(CliError::new(Class::Internal, "a link in a store listing")),
        }
    }

    /// Opens `entry` into the new local file `dest`: written under a
    /// temporary name, given the mode (permission bits without setuid,
    /// setgid and sticky) and mtime of the authenticated header, and renamed
    /// into place only after every chunk authenticated.
    pub(crate) async fn open_into(
        &self,
        keys: &KeyArgs,
        entry: &Entry,
        dest: &Path,
        overwrite: bool,
    ) -> Result<u64> {
        let out = AtomicOutput::create(dest, overwrite)?;
        let file = out
            .file()
            .try_clone()
            .map_err(|e| CliError::io("writing", dest, &e))?;
        let (n, header, file) = self
            .open_to(keys, entry, io::BufWriter::with_capacity(1 << 20, file))
            .await?;
        let file = file
            .into_inner()
            .map_err(|e| CliError::io("writing", dest, e.error()))?;
        let meta = header.context().file_metadata();
        let d = dest.to_path_buf();
        blocking(move || {
            apply_metadata(&file, &d, meta)?;
            out.commit()
        })
        .await?;
        Ok(n)
    }

    /// Whether `entry`'s plaintext equals the file `local`'s content
    /// (decrypted and compared as it streams; nothing is kept or hashed).
    pub(crate) async fn same_content(
        &self,
        keys: &KeyArgs,
        entry: &Entry,
        local: &Path,
    ) -> Result<bool> {
        let f = File::open(local).map_err(|e| CliError::io("opening", local, &e))?;
        let cmp = Compare {
            file: io::BufReader::with_capacity(1 << 20, f),
            equal: true,
            buf: Vec::new(),
        };
        let (_, _, mut cmp) = self.open_to(keys, entry, cmp).await?;
        let mut rest = [0u8; 1];
        let more = io::Read::read(&mut cmp.file, &mut rest)
            .map_err(|e| CliError::io("reading", local, &e))?;
        Ok(cmp.equal && more == 0)
    }

    /// Deletes the objects `entries` (S3: DeleteObjects in batches of
    /// 1000; local: each file, then the folders it leaves empty). Returns
    /// the names deleted and the failures, each with its reason.
    pub(crate) async fn delete(
        &self,
        entries: &[Entry],
    ) -> Result<(Vec<String>, Vec<(String, String)>)> {
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        match &self.store {
            Store::Local(root) => {
                for e in entries {
                    if let Target::Local(p) = &e.target {
                        let (p, r) = (p.clone(), root.clone());
                        match blocking(move || remove_local(&p, Some(&r))).await {
                            Ok(()) => done.push(e.name.clone()),
                            Err(err) => failed.push((e.name.clone(), err.message().to_owned())),
                        }
                    }
                }
            }
            Store::S3 { bucket, prefix } => {
                let keys: Vec<String> = entries
                    .iter()
                    .filter_map(|e| match &e.target {
                        Target::S3 { key, .. } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                let outcome = self
                    .s3()?
                    .admin
                    .delete_many(bucket, &keys)
                    .await
                    .map_err(|e| s3_error(&e))?;
                let strip = |k: String| {
                    k.strip_prefix(prefix.as_str())
                        .map(str::to_owned)
                        .unwrap_or(k)
                };
                done.extend(outcome.deleted.into_iter().map(strip));
                failed.extend(outcome.failed.into_iter().map(|(k, w)| (strip(k), w)));
            }
        }
        Ok((done, failed))
    }
}

/// Seals many files with one keyring (and, on S3, one client).
pub(crate) struct Sealer {
    ring: Keyring,
    suite: Suite,
    client: Option<SealClient>,
}

/// A writer that compares what it is given with a file's next bytes.
struct Compare {
    file: io::BufReader<File>,
    equal: bool,
    buf: Vec<u8>,
}

impl Write for Compare {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.equal {
            self.buf.resize(data.len(), 0);
            match io::Read::read_exact(&mut self.file, &mut self.buf) {
                Ok(()) => self.equal = self.buf == data,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.equal = false,
                Err(e) => return Err(e),
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Compare {
    fn drop(&mut self) {
        // The buffer held plaintext.
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

/// A file's mode (permission bits) and mtime as stored in a header.
pub(crate) fn file_metadata(meta: &std::fs::Metadata) -> FileMetadata {
    use std::os::unix::fs::MetadataExt;
    let mtime = FileTime {
        secs: meta.mtime(),
        nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
    };
    FileMetadata {
        mode: Some(meta.mode() & 0o7777),
        mtime: Some(mtime),
    }
}

/// Gives `file` (the temporary file of `dest`) the stored mode and mtime.
fn apply_metadata(file: &File, dest: &Path, meta: FileMetadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = meta.mode {
        // setuid, setgid and sticky are never restored from an object.
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| CliError::io("setting the mode of", dest, &e))?;
    }
    if let Some(t) = meta.mtime {
        let when = if t.secs >= 0 {
            UNIX_EPOCH + Duration::new(t.secs.unsigned_abs(), t.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs())
                + Duration::from_nanos(u64::from(t.nanos))
        };
        file.set_modified(when)
            .map_err(|e| CliError::io("setting the mtime of", dest, &e))?;
    }
    Ok(())
}

/// Creates `dir` and the folders above it, private for a new store root.
fn mkdirs(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating folder", dir, &e))?;
    }
    Ok(())
}

/// Removes a local object, then the folders above it that became empty
/// (up to, not including, the store root).
pub(crate) fn remove_local(path: &Path, root: Option<&Path>) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| CliError::io("removing", path, &e))?;
    if let Some(root) = root {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(())
}

/// A store and a name prefix as written on the command line: a store URL
/// (`s3://bucket/prefix/`, `file:///path`) is that store with an empty
/// name prefix, anything else a name prefix in the configured store.
pub(crate) fn store_and_prefix(app: &App, prefix: Option<&str>) -> Result<(Store, String)> {
    Ok(match prefix {
        Some(p) if p.starts_with("s3://") || p.starts_with("file://") => {
            (Store::parse(p)?, String::new())
        }
        Some(p) => (app.store()?, p.to_owned()),
        None => (app.store()?, String::new()),
    })
}

/// The state folder for tree runs: `trees/` beside the upload journals.
fn trees_dir() -> Result<PathBuf> {
    let j = crate::journal::journal_dir()?;
    Ok(j.parent()
        .map_or_else(|| j.join("trees"), |p| p.join("trees")))
}

/// The file stem for `store` + `prefix` in the state folder: the first 16
/// bytes of SHA-256 over both, in hex.
fn state_stem(store: &Store, prefix: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{store}\u{0}{prefix}").as_bytes(),
    );
    d.as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn private_state_dir() -> Result<PathBuf> {
    let dir = trees_dir()?;
    keys::create_private_dir(&dir)?;
    keys::check_private_dir(&dir, "tree state folder")?;
    Ok(dir)
}

/// Takes the exclusive lock of tree runs into `store` + `prefix`
/// (`flock` on `trees/HASH.lock` in the state folder), held until the
/// file is dropped or the process ends. A second `put -r` into the same
/// prefix fails at once (exit 2, as for a second upload to one
/// destination).
pub(crate) fn lock_prefix(store: &Store, prefix: &str) -> Result<File> {
    let path = private_state_dir()?.join(format!("{}.lock", state_stem(store, prefix)));
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let f = opts
        .open(&path)
        .map_err(|e| CliError::io("opening the tree lock", &path, &e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::usage(format!(
            "another sealstream process is storing a tree into {store}{prefix} (it holds {})",
            path.display()
        ))
        .hint("wait for it to finish, or stop it; then run the command again")),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(CliError::io("locking the tree lock", &path, &e))
        }
    }
}

/// What the manifest remembers of one object: the stored version it saw
/// (ETag and stored size) and the file metadata that version's header
/// holds. No plaintext hash, no content.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Remembered {
    /// The stored version's ETag (local store: mtime in ns and size).
    pub(crate) etag: String,
    /// The stored size.
    pub(crate) size: u64,
    /// The header's `sealstream:mode`.
    pub(crate) mode: Option<u32>,
    /// The header's `sealstream:mtime`, seconds.
    pub(crate) mtime_secs: Option<i64>,
    /// The header's `sealstream:mtime`, nanoseconds.
    pub(crate) mtime_nanos: Option<u32>,
}

impl Remembered {
    /// The file metadata recorded.
    pub(crate) fn metadata(&self) -> FileMetadata {
        FileMetadata {
            mode: self.mode,
            mtime: self.mtime_secs.map(|secs| FileTime {
                secs,
                nanos: self.mtime_nanos.unwrap_or(0),
            }),
        }
    }

    /// A record of `meta` for the stored version `entry`.
    pub(crate) fn of(entry: &Entry, meta: FileMetadata) -> Option<Self> {
        Some(Remembered {
            etag: entry.etag.clone()?,
            size: entry.size,
            mode: meta.mode,
            mtime_secs: meta.mtime.map(|t| t.secs),
            mtime_nanos: meta.mtime.map(|t| t.nanos),
        })
    }

    /// Whether this record describes the stored version `entry`.
    pub(crate) fn matches(&self, entry: &Entry) -> bool {
        entry.etag.as_deref() == Some(self.etag.as_str()) && entry.size == self.size
    }
}

/// The per-prefix manifest of a tree (`trees/HASH.json` in the state
/// folder, mode 0600): object name -> [`Remembered`]. Only a cache: every
/// record is checked against the listing and ignored when the stored
/// version changed.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Manifest {
    /// The store and prefix it describes (for people reading it).
    pub(crate) store: String,
    /// Records by object name.
    pub(crate) objects: std::collections::BTreeMap<String, Remembered>,
}

impl Manifest {
    /// The manifest of `store` + `prefix`; empty when there is none or it
    /// cannot be read (it is only a cache).
    pub(crate) fn load(store: &Store, prefix: &str) -> Self {
        let Ok(dir) = trees_dir() else {
            return Manifest::default();
        };
        let path = dir.join(format!("{}.json", state_stem(store, prefix)));
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the manifest (temporary file, then rename).
    pub(crate) fn save(&mut self, store: &Store, prefix: &str) -> Result<()> {
        self.store = format!("{store}{prefix}");
        let dir = private_state_dir()?;
        let path = dir.join(format!("{}.json", state_stem(store, prefix)));
        let text = serde_json::to_vec(self)
            .map_err(|e| CliError::new(Class::Internal, format!("encoding the manifest: {e}")))?;
        let mut tmp =
            sealstream_atomic::AtomicFile::create(&path, sealstream_atomic::Mode::Private)
                .map_err(|e| CliError::io("creating a temporary file in", &dir, &e))?;
        tmp.write_all(&text)
            .map_err(|e| CliError::io("writing", tmp.temp_path(), &e))?;
        tmp.commit(sealstream_atomic::Publish::Replace)
            .map_err(|e| CliError::io("renaming into place", &path, &e))?;
        Ok(())
    }
}

/// Checks the part of an object name below a tree prefix before it
/// becomes a local path under DIR: plain segments only (no empty, `.` or
/// `..` segment, no leading `/`, no NUL or backslash, no control
/// characters). Returns the segments.
pub(crate) fn safe_relative(rel: &str) -> std::result::Result<Vec<&str>, &'static str> {
    if rel.is_empty() {
        return Err("the name is empty below the prefix");
    }
    if rel.starts_with('/') {
        return Err("an absolute name");
    }
    if rel.chars().any(|c| c.is_control() || c == '\\') {
        return Err("a control character or backslash in the name");
    }
    let segs: Vec<&str> = rel.split('/').collect();
    for s in &segs {
        match *s {
            "" => return Err("an empty segment (`//` or a trailing `/`)"),
            "." | ".." => return Err("a `.` or `..` segment"),
            _ => {}
        }
    }
    util::safe_file_name(segs.last().copied().unwrap_or_default())?;
    Ok(segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_that_leave_the_folder_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "..",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a/",
            "x\\y",
            "x\ny",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_relative("a b/ü.txt").ok(), Some(vec!["a b", "ü.txt"]));
        assert_eq!(safe_relative("a..b/.x").ok(), Some(vec!["a..b", ".x"]));
    }
}
