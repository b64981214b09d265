//! A bounded cache of opened objects, keyed by location and ETag, so that
//! repeated ranged reads of one object (Parquet readers) unwrap its data
//! key once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::path::Path;
use sealstream_format::ChunkOpener;

/// An object whose header was parsed, name checked and data key unwrapped
/// and checked against the commitment.
pub(crate) struct Opened {
    /// The ETag of the stored object the header was read from.
    pub(crate) e_tag: Option<String>,
    /// Its stored length.
    pub(crate) object_len: u64,
    /// The plaintext length that follows from `object_len`.
    pub(crate) plaintext_len: u64,
    pub(crate) cipher: ChunkOpener,
    /// Set once the final chunk at `plaintext_len` authenticated for this
    /// stored length, so that later reads need not fetch it again.
    length_proven: AtomicBool,
}

impl Opened {
    pub(crate) fn new(
        e_tag: Option<String>,
        object_len: u64,
        plaintext_len: u64,
        cipher: ChunkOpener,
    ) -> Self {
        Opened {
            e_tag,
            object_len,
            plaintext_len,
            cipher,
            length_proven: AtomicBool::new(false),
        }
    }

    pub(crate) fn length_proven(&self) -> bool {
        self.length_proven.load(Ordering::Acquire)
    }

    pub(crate) fn prove_length(&self) {
        self.length_proven.store(true, Ordering::Release);
    }
}

/// At most `capacity` opened objects, the most recently used last; one per
/// location (a new ETag replaces the old entry).
pub(crate) struct OpenCache {
    capacity: usize,
    entries: Mutex<VecDeque<(Path, Arc<Opened>)>>,
}

impl OpenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        OpenCache {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Path, Arc<Opened>)>> {
        // A panic while holding the lock leaves the deque consistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `location`, whatever its ETag (the caller checks the
    /// ETag of the response it gets against the entry's).
    pub(crate) fn latest(&self, location: &Path) -> Option<Arc<Opened>> {
        let mut entries = self.lock();
        let pos = entries.iter().position(|(p, _)| p == location)?;
        let entry = entries.remove(pos)?;
        let opened = Arc::clone(&entry.1);
        entries.push_back(entry);
        Some(opened)
    }

    /// The entry for `location` with exactly this ETag.
    pub(crate) fn get(&self, location: &Path, e_tag: Option<&str>) -> Option<Arc<Opened>> {
        let e_tag = e_tag?;
        self.latest(location)
            .filter(|o| o.e_tag.as_deref() == Some(e_tag))
    }

    pub(crate) fn insert(&self, location: &Path, opened: Arc<Opened>) {
        if self.capacity == 0 || opened.e_tag.is_none() {
            return;
        }
        let mut entries = self.lock();
        entries.retain(|(p, _)| p != location);
        while entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back((location.clone(), opened));
    }

    pub(crate) fn remove(&self, location: &Path) {
        self.lock().retain(|(p, _)| p != location);
    }
}
