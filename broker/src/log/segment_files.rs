//! The broker-wide cap on sealed segments' open `.log` files.
//!
//! A sealed segment is only read, and most are read rarely (a consumer catching up, a
//! timestamp lookup, the cleaner), so holding each one's file open would cost a descriptor per
//! segment for nothing. Instead a sealed segment's file is opened when it is read and kept in
//! this cache, which closes the least recently used once more than its cap are open. A handle
//! is an `Arc<File>`: one handed out before it was evicted (a fetch reading outside the
//! partition lock) stays valid until its holder drops it, so the cap can be passed briefly by
//! the reads in flight, never by idle segments.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Open handles of sealed segments' log files, keyed by segment id, shared by every partition
/// of a broker.
pub struct SegmentFiles {
    cap: usize,
    lru: Mutex<Lru>,
}

impl std::fmt::Debug for SegmentFiles {
    /// The counts only: every log holds the cache, and a log's debug output should not list
    /// the whole broker's open files.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFiles").field("cap", &self.cap).field("open", &self.open_count()).finish()
    }
}

#[derive(Default)]
struct Lru {
    /// Ticks on every use: a handle's last use orders evictions.
    clock: u64,
    open: HashMap<u64, (Arc<File>, u64)>,
    /// Last use → segment id, oldest first.
    by_use: BTreeMap<u64, u64>,
}

impl Lru {
    fn touch(&mut self, id: u64) -> Option<Arc<File>> {
        self.clock += 1;
        let (file, used) = self.open.get_mut(&id)?;
        self.by_use.remove(used);
        *used = self.clock;
        self.by_use.insert(self.clock, id);
        Some(Arc::clone(file))
    }
}

impl SegmentFiles {
    /// A cache keeping at most `cap` files open (at least one, so a read can proceed).
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(SegmentFiles { cap: cap.max(1), lru: Mutex::new(Lru::default()) })
    }

    /// The most files kept open.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many files are open now (not counting evicted handles still held by readers).
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    /// The file of segment `id`, opened from `path` unless it is open already. The caller
    /// holds its partition's lock, so the segment is not renamed or removed meanwhile.
    pub(super) fn get(&self, id: u64, path: &Path) -> io::Result<Arc<File>> {
        if let Some(file) = self.lock().touch(id) {
            return Ok(file);
        }
        // Opened without the cache's lock: other partitions' reads go on meanwhile.
        let file = Arc::new(File::open(path)?);
        let evicted = {
            let mut lru = self.lock();
            if let Some(raced) = lru.touch(id) {
                return Ok(raced);
            }
            let mut evicted = Vec::new();
            while lru.open.len() >= self.cap {
                let Some((_, oldest)) = lru.by_use.pop_first() else { break };
                evicted.extend(lru.open.remove(&oldest).map(|(f, _)| f));
            }
            lru.clock += 1;
            let used = lru.clock;
            lru.open.insert(id, (Arc::clone(&file), used));
            lru.by_use.insert(used, id);
            evicted
        };
        // Closing happens here, outside the lock.
        drop(evicted);
        Ok(file)
    }

    /// Closes segment `id`'s file, if open: the segment was deleted or replaced.
    pub(super) fn forget(&self, id: u64) {
        let removed = {
            let mut lru = self.lock();
            let removed = lru.open.remove(&id);
            if let Some((_, used)) = &removed {
                lru.by_use.remove(used);
            }
            removed
        };
        drop(removed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A new segment id, never given out before in this process. A segment keeps its id for its
/// life, and a cleaned copy swapped in for it gets a new one, so an id also says "unchanged".
pub(super) fn next_segment_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn keeps_at_most_cap_open_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..4)
            .map(|i| {
                let p = dir.path().join(format!("{i}.log"));
                std::fs::write(&p, [i as u8]).unwrap();
                p
            })
            .collect();
        let files = SegmentFiles::new(2);
        let held = files.get(10, &paths[0]).unwrap();
        files.get(11, &paths[1]).unwrap();
        files.get(10, &paths[0]).unwrap(); // 10 is now the most recently used
        files.get(12, &paths[2]).unwrap(); // evicts 11
        assert_eq!(files.open_count(), 2);
        let lru = files.lock();
        assert!(lru.open.contains_key(&10) && lru.open.contains_key(&12));
        drop(lru);
        files.get(13, &paths[3]).unwrap(); // evicts 10, which a reader still holds
        let mut b = [0u8; 1];
        held.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(b, [0]);
        files.forget(13);
        assert_eq!(files.open_count(), 1);
        assert!(files.get(14, &dir.path().join("missing")).is_err());
    }
}
