//! The one atomic local-file writer of the sealstream workspace.
//!
//! Every local file sealstream writes (plaintext outputs, sealed outputs,
//! downloads, key files, upload journals, tree manifests, manual pages) is
//! written by [`AtomicFile`]: under a temporary name in the destination's
//! folder, synced, then renamed into place. Readers of the final name never
//! see a half-written or unauthenticated file.
//!
//! # The temporary name
//!
//! ```text
//! .NAME.XXXXXX.sealstream-tmp
//! ^     ^      ^
//! |     |      TEMP_SUFFIX
//! |     six random ASCII letters or digits
//! a dot, then the destination's file name
//! ```
//!
//! The file is created new (`O_CREAT|O_EXCL`, so a file or symbolic link
//! planted at the name is never followed or truncated) with the mode the
//! caller asks for ([`Mode::Private`] is 0600). Dropped before
//! [`AtomicFile::commit`] (an error, a cancelled future, Ctrl-C unwinding),
//! the temporary file is removed. A process killed outright cannot remove
//! it; the next [`AtomicFile::create`] of the same destination removes
//! temporary files of that name untouched for [`STALE_AFTER`] ([`sweep`]).
//! There is no other naming scheme, so the sweep knows every temporary file
//! sealstream can leave.
//!
//! # Which function for which job
//!
//! | job | use |
//! |---|---|
//! | write a file atomically | [`AtomicFile::create`], write, [`AtomicFile::commit`] |
//! | replace an existing file, or never | [`Publish::Replace`], [`Publish::CreateNew`] |
//! | is this file a temporary of that name | [`is_temp_of`] |
//! | remove abandoned temporaries of a name | [`sweep`] (done by `create`) |
//!
//! ```
//! use std::io::Write;
//! use sealstream_atomic::{AtomicFile, Mode, Publish};
//! let dir = tempfile::tempdir()?;
//! let dest = dir.path().join("notes.txt");
//! let mut f = AtomicFile::create(&dest, Mode::Private)?;
//! f.write_all(b"hello")?;
//! f.commit(Publish::CreateNew)?;
//! assert_eq!(std::fs::read(&dest)?, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

/// The suffix of every temporary file, so that listings skip them and people
/// recognise them.
pub const TEMP_SUFFIX: &str = ".sealstream-tmp";

/// The number of random letters or digits in a temporary name.
const RANDOM_LEN: usize = 6;

/// How long a temporary file must be untouched to count as abandoned: a
/// live writer touches its file far more often than that.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The permissions of the new file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 0600: plaintext, secret keys, journals, manifests.
    Private,
    /// 0644: public keys, manual pages.
    Public,
}

/// How [`AtomicFile::commit`] publishes the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Rename over the destination if it exists.
    Replace,
    /// Fail with [`io::ErrorKind::AlreadyExists`] if the destination exists
    /// (checked atomically at the rename, not before).
    CreateNew,
}

/// A file being written under a temporary name beside its destination; see
/// the [crate docs](crate).
#[derive(Debug)]
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
}

/// The folder of `dest`, `.` for a bare file name.
fn folder(dest: &Path) -> &Path {
    match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Creates the temporary file for `dest` in `dest`'s folder, after
    /// removing abandoned temporary files of the same name ([`sweep`]).
    /// Nothing is checked about `dest` itself: the caller decides at
    /// [`commit`](Self::commit) whether an existing file may be replaced.
    pub fn create(dest: &Path, mode: Mode) -> io::Result<Self> {
        let dir = folder(dest);
        let name = dest.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} does not name a file", dest.display()),
            )
        })?;
        sweep(dir, &name.to_string_lossy());
        let mut prefix = OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix).suffix(TEMP_SUFFIX).rand_bytes(RANDOM_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(std::fs::Permissions::from_mode(match mode {
                Mode::Private => 0o600,
                Mode::Public => 0o644,
            }));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let tmp = b.tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file, for writing (also through `&File`).
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The temporary file's path (removed on drop unless committed).
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// The destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Syncs the file to disk, renames it to the destination as `publish`
    /// says, and syncs the folder so that the new name is durable (a folder
    /// that refuses to sync is not an error). On failure the temporary file
    /// is removed and the destination is left as it was.
    pub fn commit(self, publish: Publish) -> io::Result<()> {
        let AtomicFile { tmp, dest } = self;
        tmp.as_file().sync_all()?;
        let placed = match publish {
            Publish::Replace => tmp.persist(&dest),
            Publish::CreateNew => tmp.persist_noclobber(&dest),
        };
        // The error drops the temporary file with it, which removes it.
        placed.map_err(|e| e.error)?;
        if let Ok(d) = File::open(folder(&dest)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.as_file().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tmp.as_file().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.as_file().flush()
    }
}

/// Whether `file_name` is a temporary file of the destination name `name`:
/// `.NAME.`, then six random letters or digits, then [`TEMP_SUFFIX`].
pub fn is_temp_of(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|mid| {
            mid.len() == RANDOM_LEN && mid.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Removes the temporary files of `name` in `dir` that were not modified for
/// [`STALE_AFTER`]; returns how many. Best effort: a folder or file that
/// cannot be read is skipped.
pub fn sweep(dir: &Path, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        if !is_temp_of(&entry.file_name().to_string_lossy(), name) {
            continue;
        }
        let old = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn age(p: &Path) {
        let two_days = SystemTime::now() - Duration::from_secs(48 * 3600);
        File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
    }

    #[test]
    fn matches_only_temp_files_of_that_name() {
        assert!(is_temp_of(".a.b.Xy12z9.sealstream-tmp", "a.b"));
        assert!(!is_temp_of(".a.b.Xy12z9.sealstream-tmp", "a"));
        assert!(!is_temp_of(".a.Xy12z9.sealstream-tmp", "a.b"));
        assert!(!is_temp_of("a.Xy12z9.sealstream-tmp", "a"));
        assert!(!is_temp_of(".a.Xy12z.sealstream-tmp", "a"));
        assert!(!is_temp_of(".a.Xy1-z9.sealstream-tmp", "a"));
    }

    #[test]
    fn sweeps_old_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".f.AAAAAA.sealstream-tmp");
        let new = dir.path().join(".f.BBBBBB.sealstream-tmp");
        let other = dir.path().join(".g.CCCCCC.sealstream-tmp");
        for p in [&old, &new, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        for p in [&old, &other] {
            age(p);
        }
        assert_eq!(sweep(dir.path(), "f"), 1);
        assert!(!old.exists() && new.exists() && other.exists());
    }

    #[test]
    fn the_temporary_name_is_swept_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let f = AtomicFile::create(&dest, Mode::Private).unwrap();
        let tmp = f.temp_path().to_path_buf();
        let shown = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(is_temp_of(&shown, "out.bin"), "{shown}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&tmp).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600);
        }
        drop(f);
        assert!(!tmp.exists() && !dest.exists());

        // A killed writer's file is removed by the next create once stale.
        let f = AtomicFile::create(&dest, Mode::Public).unwrap();
        let left = f.temp_path().to_path_buf();
        std::mem::forget(f);
        age(&left);
        let g = AtomicFile::create(&dest, Mode::Public).unwrap();
        assert!(!left.exists());
        g.commit(Publish::Replace).unwrap();
        assert!(dest.exists());
    }

    #[test]
    fn create_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("k");
        std::fs::write(&dest, b"old").unwrap();
        let mut f = AtomicFile::create(&dest, Mode::Private).unwrap();
        f.write_all(b"new").unwrap();
        let tmp = f.temp_path().to_path_buf();
        let e = f.commit(Publish::CreateNew).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert!(!tmp.exists());
        let mut f = AtomicFile::create(&dest, Mode::Private).unwrap();
        f.write_all(b"new").unwrap();
        f.commit(Publish::Replace).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_destination_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let (victim, dest) = (dir.path().join("victim"), dir.path().join("j"));
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, &dest).unwrap();
        let mut f = AtomicFile::create(&dest, Mode::Private).unwrap();
        f.write_all(b"y")
            .and_then(|()| f.commit(Publish::Replace))
            .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&dest).unwrap().is_file());
    }
}
