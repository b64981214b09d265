//! Upload journals: what `put` records about a multipart upload to S3 so
//! that `put --resume` can continue it after the process died.
//!
//! One file per destination (endpoint, bucket, key) in the state folder
//! ([`journal_dir`]), mode 0600 in a 0700 folder. One record per line, each
//! line `JSON <TAB> CRC32-of-the-JSON-in-hex <LF>`:
//!
//! ```text
//!  {"journal":"sealstream-upload","version":1,"endpoint":…,"bucket":…,"key":…,
//!   "upload_id":…,"part_size":…,"plaintext_len":…,
//!   "header":"<base64>","body_prefix":"<base64 of salt||commitment, 56 bytes>",
//!   "source":{"path":…,"size":…,"mtime_ns":…},"created":<unix seconds>}   ← start
//!  {"intent":3,"first_chunk":640,"plaintext_len":5242880,"sha256":"<hex>"} ← before part 3 is sent
//!  {"done":3,"etag":"\"…\"","crc32":"<base64>"}                         ← part 3 stored
//! ```
//!
//! The start record is written to a temporary file, `fsync`ed and linked
//! into place (never over another journal); later records are appended and
//! `fsync`ed before the upload goes on. A crash can only leave the last
//! line torn: it fails its CRC or has no newline, and is dropped when the
//! journal is read; resuming rewrites the journal (temporary file, rename)
//! without it. The data key is never written: the header holds only its
//! wrapped forms, and resuming unwraps it again with the configured keys.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sealstream_atomic::{AtomicFile, Mode, Publish};

use base64ct::{Base64, Encoding};
use sealstream_format::BODY_PREFIX_LEN;
use sealstream_s3::{JournalStart, PartIntent, PartStored, ResumeState, UploadJournal};
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::{keys, util};

const MAGIC: &str = "sealstream-upload";
const VERSION: u64 = 1;

/// The folder holding upload journals: `$SEALSTREAM_HOME/journal`, else
/// `$XDG_STATE_HOME/sealstream/journal` (`~/.local/state/sealstream/journal`).
pub(crate) fn journal_dir() -> Result<PathBuf> {
    let env = |v: &str| std::env::var(v).ok().filter(|s| !s.is_empty());
    if let Some(home) = env("SEALSTREAM_HOME") {
        return Ok(util::absolute(&util::expand_tilde(Path::new(&home))).join("journal"));
    }
    if let Some(state) = env("XDG_STATE_HOME").map(PathBuf::from)
        && state.is_absolute()
    {
        return Ok(state.join("sealstream").join("journal"));
    }
    let home = env("HOME").ok_or_else(|| {
        CliError::usage("cannot find the state folder for upload journals: HOME is not set")
            .hint("set HOME, XDG_STATE_HOME or SEALSTREAM_HOME")
    })?;
    Ok(PathBuf::from(home).join(".local/state/sealstream/journal"))
}

/// Which S3 object a journal is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    /// The S3 endpoint URL, or empty for AWS.
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
    pub(crate) key: String,
}

impl Destination {
    /// The journal file of this destination.
    pub(crate) fn path(&self) -> Result<PathBuf> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [&self.endpoint, &self.bucket, &self.key] {
            ctx.update(part.as_bytes());
            ctx.update(&[0]);
        }
        let name = hex(ctx.finish().as_ref().get(..16).unwrap_or(&[]));
        Ok(journal_dir()?.join(format!("{name}.journal")))
    }

    fn shown(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// The identity of a source file: a resumed upload must read the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    /// Absolute path.
    pub(crate) path: String,
    pub(crate) size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub(crate) mtime_ns: u64,
}

impl Source {
    /// Reads the identity of the file at `path`.
    pub(crate) fn of(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| CliError::io("reading", path, &e))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(0);
        Ok(Source {
            path: path.to_string_lossy().into_owned(),
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// A journal read back from disk.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) dest: Destination,
    pub(crate) source: Source,
    pub(crate) created: u64,
    pub(crate) state: ResumeState,
    /// `(etag, crc32)` of each part recorded as stored.
    pub(crate) done: BTreeMap<i32, (String, String)>,
    /// Whether a torn last line was dropped.
    pub(crate) torn_tail: bool,
}

impl Loaded {
    /// The upload id.
    pub(crate) fn upload_id(&self) -> &str {
        &self.state.upload_id
    }

    /// `upload id U, started 3m ago, 2 of 8 parts stored` for messages.
    pub(crate) fn describe(&self) -> String {
        let parts = self
            .state
            .plaintext_len
            .div_ceil(self.state.part_size.max(1))
            .max(1);
        let age = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(self.created);
        format!(
            "upload id {}, from {}, started {}s ago, {} of {parts} parts recorded as stored",
            self.state.upload_id,
            self.source.path,
            age,
            self.done.len()
        )
    }
}

fn line(v: &Value) -> String {
    let text = v.to_string();
    format!("{text}\t{:08x}\n", crc32fast::hash(text.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> CliError {
    CliError::usage(format!(
        "the upload journal {} is damaged ({what})",
        path.display()
    ))
    .hint(
        "abort the interrupted upload with `sealstream cleanup s3://BUCKET/KEY --older-than 0` \
         (which also removes the journal), then put again",
    )
}

/// Reads the journal of `dest`, if there is one.
pub(crate) fn load(dest: &Destination) -> Result<Option<Loaded>> {
    let path = dest.path()?;
    if let Some(dir) = path.parent() {
        keys::check_private_dir(dir, "upload-journal folder")?;
    }
    let bytes = match read_nofollow(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io("reading the upload journal", &path, &e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut records = Vec::new();
    let mut torn_tail = false;
    let pieces: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let parsed = piece
            .strip_suffix('\n')
            .and_then(|l| l.rsplit_once('\t'))
            .filter(|(json, crc)| {
                u32::from_str_radix(crc, 16).ok() == Some(crc32fast::hash(json.as_bytes()))
            })
            .and_then(|(json, _)| serde_json::from_str::<Value>(json).ok());
        match parsed {
            Some(v) => records.push(v),
            // A crash mid-append leaves at most the last line torn.
            None if last => torn_tail = true,
            None => return Err(corrupt(&path, format!("line {} is invalid", i + 1))),
        }
    }
    let mut it = records.into_iter();
    let start = it.next().ok_or_else(|| corrupt(&path, "no start record"))?;
    let s = |k: &str| start.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    if s("journal").as_deref() != Some(MAGIC) || n(&start, "version") != Some(VERSION) {
        return Err(corrupt(
            &path,
            "not a sealstream upload journal of version 1",
        ));
    }
    let found = Destination {
        endpoint: s("endpoint").unwrap_or_default(),
        bucket: s("bucket").unwrap_or_default(),
        key: s("key").unwrap_or_default(),
    };
    if found != *dest {
        return Err(corrupt(
            &path,
            format!("it belongs to {}, not {}", found.shown(), dest.shown()),
        ));
    }
    let field = |k: &str| corrupt(&path, format!("the start record has no valid {k}"));
    let upload_id = s("upload_id").ok_or_else(|| field("upload_id"))?;
    let part_size = n(&start, "part_size").ok_or_else(|| field("part_size"))?;
    let plaintext_len = n(&start, "plaintext_len").ok_or_else(|| field("plaintext_len"))?;
    let header = s("header")
        .and_then(|h| Base64::decode_vec(&h).ok())
        .ok_or_else(|| field("header"))?;
    let body_prefix: [u8; BODY_PREFIX_LEN] = s("body_prefix")
        .and_then(|h| Base64::decode_vec(&h).ok())
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| field("body_prefix"))?;
    let src = start.get("source").ok_or_else(|| field("source"))?;
    let source = Source {
        path: src
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| field("source path"))?
            .to_owned(),
        size: n(src, "size").ok_or_else(|| field("source size"))?,
        mtime_ns: n(src, "mtime_ns").ok_or_else(|| field("source mtime"))?,
    };
    let mut state = ResumeState::new(upload_id, part_size, plaintext_len, header, body_prefix);
    let mut done = BTreeMap::new();
    for (i, r) in it.enumerate() {
        let bad = || corrupt(&path, format!("record {} is invalid", i + 2));
        let part = |k: &str| n(&r, k).and_then(|x| i32::try_from(x).ok()).ok_or_else(bad);
        if r.get("intent").is_some() {
            let number = part("intent")?;
            let sha = r
                .get("sha256")
                .and_then(Value::as_str)
                .and_then(unhex32)
                .ok_or_else(bad)?;
            let intent = PartIntent::new(
                number,
                n(&r, "first_chunk").ok_or_else(bad)?,
                n(&r, "plaintext_len").ok_or_else(bad)?,
                sha,
            );
            if state.intents.get(&number).is_some_and(|old| *old != intent) {
                return Err(corrupt(
                    &path,
                    format!("part {number} has two different intents"),
                ));
            }
            state = state.intent(intent);
        } else if r.get("done").is_some() {
            let number = part("done")?;
            let get = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
            done.insert(
                number,
                (get("etag").ok_or_else(bad)?, get("crc32").ok_or_else(bad)?),
            );
        } else {
            return Err(bad());
        }
    }
    Ok(Some(Loaded {
        path,
        dest: found,
        source,
        created: n(&start, "created").unwrap_or(0),
        state,
        done,
        torn_tail,
    }))
}

/// Removes the journal of `dest` if it records `upload_id` (after that
/// upload completed or was aborted). Returns whether one was removed.
pub(crate) fn forget(dest: &Destination, upload_id: &str) -> bool {
    let Ok(path) = dest.path() else {
        return false;
    };
    match load(dest) {
        Ok(Some(j)) if j.upload_id() == upload_id => remove(&path),
        // A damaged journal of this destination is useless once its upload
        // is gone; whose upload it was cannot be told, so it stays.
        _ => false,
    }
}

/// Removes a journal file (and makes that durable). Returns whether it
/// existed.
pub(crate) fn remove(path: &Path) -> bool {
    let removed = std::fs::remove_file(path).is_ok();
    if removed && let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    removed
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        // Makes a rename or removal durable; some file systems refuse it.
        let _ = d.sync_all();
    }
}

/// Takes the exclusive lock of `dest`'s uploads: `HASH.lock` beside its
/// journal, held (`flock`, [`File::try_lock`]) until the returned file is
/// dropped or the process ends, however it ends. A second `put` of a file
/// to the same destination (`--resume` or not) fails at once instead of
/// resuming or replacing the same journal and multipart upload
/// concurrently (issue 10 item 11). The lock file itself stays (removing
/// it would race with a process that just opened it).
pub(crate) fn lock(dest: &Destination) -> Result<File> {
    let path = dest.path()?.with_extension("lock");
    if let Some(dir) = path.parent() {
        keys::create_private_dir(dir)?;
        keys::check_private_dir(dir, "upload-journal folder")?;
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let f = opts
        .open(&path)
        .map_err(|e| CliError::io("opening the upload lock", &path, &e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::usage(format!(
            "another sealstream process is uploading to {} (it holds {})",
            dest.shown(),
            path.display()
        ))
        .hint(
            "wait for it to finish, or stop it (Ctrl-C) and run `sealstream put --resume` again",
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(CliError::io("locking the upload lock", &path, &e))
        }
    }
}

/// Opens a journal without following a symbolic link at its name
/// (`O_NOFOLLOW`): `append` for writing, else for reading.
fn open_nofollow(path: &Path, append: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    if append {
        opts.append(true);
    } else {
        opts.read(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
}

fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut open_nofollow(path, false)?, &mut buf)?;
    Ok(buf)
}

/// Writes `text` to a new temporary file beside `path` (the one writer,
/// [`AtomicFile`]: a random name, created new, mode 0600, never following a
/// file or symbolic link planted there; issue 10 item 10), for the caller
/// to commit.
fn write_temp(path: &Path, text: &str) -> io::Result<AtomicFile> {
    let mut f = AtomicFile::create(path, Mode::Private)?;
    f.write_all(text.as_bytes())?;
    Ok(f)
}

/// The journal an upload reports to ([`UploadJournal`]): it creates the
/// file when the multipart upload starts and appends to it after that.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    dest: Destination,
    source: Source,
    file: Mutex<Option<File>>,
    /// The destination's lock ([`lock`]), held as long as the journal.
    _lock: Option<File>,
}

impl Journal {
    /// A journal for a new upload of `source` to `dest`; no file is
    /// written until the multipart upload starts.
    pub(crate) fn create(dest: Destination, source: Source, lock: Option<File>) -> Result<Self> {
        let path = dest.path()?;
        if let Some(dir) = path.parent() {
            keys::create_private_dir(dir)?;
            keys::check_private_dir(dir, "upload-journal folder")?;
        }
        Ok(Journal {
            path,
            dest,
            source,
            file: Mutex::new(None),
            _lock: lock,
        })
    }

    /// Continues `loaded` for a resumed upload: rewrites it without a torn
    /// last line (temporary file, rename) and opens it for appending.
    /// The caller holds the destination's [`lock`] until the upload ends.
    pub(crate) fn reopen(loaded: &Loaded) -> Result<Self> {
        let j = Journal {
            path: loaded.path.clone(),
            dest: loaded.dest.clone(),
            source: loaded.source.clone(),
            file: Mutex::new(None),
            _lock: None,
        };
        let st = &loaded.state;
        let mut text = line(&j.start_record(
            &st.upload_id,
            st.part_size,
            st.plaintext_len,
            &st.header,
            &st.body_prefix,
            loaded.created,
        ));
        for p in st.intents.values() {
            text.push_str(&line(&intent_record(p)));
        }
        for (n, (etag, crc)) in &loaded.done {
            text.push_str(&line(&json!({"done": n, "etag": etag, "crc32": crc})));
        }
        let io_err = |e: &io::Error| CliError::io("rewriting the upload journal", &j.path, e);
        write_temp(&j.path, &text)
            .and_then(|t| t.commit(Publish::Replace))
            .map_err(|e| io_err(&e))?;
        let f = open_nofollow(&j.path, true).map_err(|e| io_err(&e))?;
        *j.lock() = Some(f);
        Ok(j)
    }

    /// The journal file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file was created (the multipart upload started).
    pub(crate) fn is_written(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<File>> {
        // A panic while holding the lock cannot leave the file half-updated
        // in memory (it holds only the handle), so a poisoned lock is fine.
        self.file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_record(
        &self,
        upload_id: &str,
        part_size: u64,
        plaintext_len: u64,
        header: &[u8],
        body_prefix: &[u8; BODY_PREFIX_LEN],
        created: u64,
    ) -> Value {
        json!({
            "journal": MAGIC,
            "version": VERSION,
            "endpoint": self.dest.endpoint,
            "bucket": self.dest.bucket,
            "key": self.dest.key,
            "upload_id": upload_id,
            "part_size": part_size,
            "plaintext_len": plaintext_len,
            "header": Base64::encode_string(header),
            "body_prefix": Base64::encode_string(body_prefix),
            "source": {
                "path": self.source.path,
                "size": self.source.size,
                "mtime_ns": self.source.mtime_ns,
            },
            "created": created,
        })
    }

    fn append(&self, v: &Value) -> io::Result<()> {
        let mut guard = self.lock();
        let f = guard
            .as_mut()
            .ok_or_else(|| io::Error::other("the journal was not started"))?;
        f.write_all(line(v).as_bytes())?;
        f.sync_data()
    }
}

fn intent_record(p: &PartIntent) -> Value {
    json!({
        "intent": p.number,
        "first_chunk": p.first_chunk,
        "plaintext_len": p.plaintext_len,
        "sha256": hex(&p.plaintext_sha256),
    })
}

impl UploadJournal for Journal {
    fn started(&self, s: &JournalStart<'_>) -> io::Result<()> {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let v = self.start_record(
            s.upload_id,
            s.part_size,
            s.plaintext_len,
            s.header,
            s.body_prefix,
            created,
        );
        // Never replaces an existing journal (another upload of the same
        // destination that started meanwhile).
        let tmp = write_temp(&self.path, &line(&v))?;
        tmp.commit(Publish::CreateNew).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    format!(
                        "another upload of {} started meanwhile (its journal is {})",
                        self.dest.shown(),
                        self.path.display()
                    ),
                )
            } else {
                e
            }
        })?;
        let f = open_nofollow(&self.path, true)?;
        *self.lock() = Some(f);
        Ok(())
    }

    fn intent(&self, p: &PartIntent) -> io::Result<()> {
        self.append(&intent_record(p))
    }

    fn done(&self, p: &PartStored<'_>) -> io::Result<()> {
        self.append(&json!({"done": p.number, "etag": p.etag, "crc32": p.crc32}))?;
        crate::testhook::pause_after_part(p.number);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_a_checksum() {
        let l = line(&json!({"done": 1}));
        let (json, crc) = l.trim_end().rsplit_once('\t').unwrap();
        assert_eq!(
            u32::from_str_radix(crc, 16).unwrap(),
            crc32fast::hash(json.as_bytes())
        );
        assert_eq!(unhex32(&hex(&[7u8; 32])), Some([7u8; 32]));
        assert_eq!(unhex32("zz"), None);
    }

    /// Issue 10 item 10: the temporary journal used to be
    /// `.NAME.<pid>.tmp`, opened with create+truncate, following a symbolic
    /// link planted there by anyone who can write to the folder.
    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_old_predictable_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let journal = dir.path().join("abc.journal");
        let planted = dir
            .path()
            .join(format!(".abc.journal.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let held = write_temp(&journal, "new journal\n").unwrap();
        let tmp = held.temp_path().to_path_buf();
        assert_ne!(tmp, planted);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&tmp).unwrap(), b"new journal\n");
        assert!(
            std::fs::symlink_metadata(&tmp)
                .unwrap()
                .file_type()
                .is_file()
        );
        // Two temporary files never share a name.
        let other = write_temp(&journal, "x").unwrap();
        assert_ne!(tmp, other.temp_path());
        // An abandoned temporary journal has the one name the sweep knows.
        let shown = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            sealstream_atomic::is_temp_of(&shown, "abc.journal"),
            "{shown}"
        );

        // A symbolic link at the journal's own name is neither read nor
        // appended to.
        std::os::unix::fs::symlink(&victim, &journal).unwrap();
        assert!(read_nofollow(&journal).is_err());
        assert!(open_nofollow(&journal, true).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
