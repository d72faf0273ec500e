//! Sparse time index of one segment: `(max timestamp so far, relative offset)`, written when
//! the segment's max timestamp grows, so ListOffsets by timestamp starts near its answer.
//! Rebuilt with the offset index whenever that one is.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::index_file::IndexFile;

const ENTRY_LEN: usize = 12;

#[derive(Debug)]
pub(super) struct TimeIndex {
    file: IndexFile,
    /// `(timestamp, relative offset)`, timestamps strictly increasing.
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub(super) fn create(path: &Path) -> io::Result<Self> {
        Ok(TimeIndex { file: IndexFile::create(path, ENTRY_LEN)?, entries: Vec::new() })
    }

    /// Loads an index written earlier; `None` when missing or not whole.
    pub(super) fn load(path: &Path) -> io::Result<Option<Self>> {
        let mut raw = Vec::new();
        match File::open(path) {
            Ok(mut f) => f.read_to_end(&mut raw)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if raw.len() % ENTRY_LEN != 0 {
            return Ok(None);
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(raw.len() / ENTRY_LEN);
        for chunk in raw.chunks_exact(ENTRY_LEN) {
            let ts = i64::from_be_bytes(chunk[0..8].try_into().expect("8 bytes"));
            let rel = u32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes"));
            if entries.last().is_some_and(|&(t, r)| ts <= t || rel < r) {
                return Ok(None);
            }
            entries.push((ts, rel));
        }
        Ok(Some(TimeIndex { file: IndexFile::existing(path, ENTRY_LEN, entries.len()), entries }))
    }

    /// Records an entry in memory if `timestamp` is a new maximum; [`TimeIndex::write`] puts it
    /// in the file.
    pub(super) fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        if self.entries.last().is_some_and(|&(t, _)| timestamp <= t) {
            return;
        }
        self.entries.push((timestamp, relative_offset));
    }

    /// A relative offset from which every record with timestamp >= `timestamp` follows: the
    /// offset of the last entry whose timestamp is below it (records before an entry all have
    /// smaller timestamps than that entry).
    pub(super) fn lookup(&self, timestamp: i64) -> u32 {
        match self.entries.partition_point(|&(t, _)| t < timestamp) {
            0 => 0,
            i => self.entries[i - 1].1,
        }
    }

    pub(super) fn max_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|&(t, _)| t)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets the entries after the first `keep` (an append rolled back); the file is cut by
    /// [`TimeIndex::cut_file`], or before its next write.
    pub(super) fn forget_after(&mut self, keep: usize) {
        self.entries.truncate(keep);
        self.file.forget_after(keep);
    }

    /// Cuts the file to the entries held in memory, if it may hold more.
    pub(super) fn cut_file(&mut self) -> io::Result<()> {
        self.file.cut()
    }

    /// Writes the entries the file lacks, and fsyncs it.
    pub(super) fn write(&mut self) -> io::Result<()> {
        let pending: Vec<u8> = self.entries[self.file.written()..]
            .iter()
            .flat_map(|&(ts, rel)| {
                let mut entry = [0u8; ENTRY_LEN];
                entry[0..8].copy_from_slice(&ts.to_be_bytes());
                entry[8..12].copy_from_slice(&rel.to_be_bytes());
                entry
            })
            .collect();
        self.file.write(&pending, self.entries.len())
    }

    /// Drops entries for offsets at or past `relative_end` (the log ends there after a torn
    /// tail was cut), in memory and on disk.
    pub(super) fn truncate_to_offset(&mut self, relative_end: u32) -> io::Result<()> {
        let keep = self.entries.partition_point(|&(_, rel)| rel < relative_end);
        if keep < self.entries.len() {
            self.forget_after(keep);
            self.cut_file()?;
        }
        Ok(())
    }

    pub(super) fn path(&self) -> &Path {
        self.file.path()
    }

    /// The file was renamed (a cleaned segment swapped in); later writes name the new path.
    pub(super) fn set_path(&mut self, path: PathBuf) {
        self.file.set_path(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_gives_a_safe_starting_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut idx = TimeIndex::create(&path).unwrap();
        idx.maybe_append(100, 0);
        idx.maybe_append(90, 3); // not increasing: ignored
        idx.maybe_append(200, 5);
        assert_eq!(idx.lookup(50), 0);
        assert_eq!(idx.lookup(150), 0);
        assert_eq!(idx.lookup(201), 5);
        idx.write().unwrap();
        drop(idx);
        let idx = TimeIndex::load(&path).unwrap().unwrap();
        assert_eq!(idx.max_timestamp(), Some(200));
    }
}
