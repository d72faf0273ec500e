//! Sparse offset index of one segment: `(offset - base, file position)` every
//! `log.index.interval.bytes`, so a fetch seeks near its offset and scans only a few headers.
//!
//! The entries live in memory (a segment of 1 GiB at one entry per 4 KiB is 2 MiB) and reach
//! the `.index` file when the segment is flushed or sealed; on load a file that is not whole
//! is rebuilt from the log instead of trusted.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::index_file::IndexFile;

const ENTRY_LEN: usize = 8;

#[derive(Debug)]
pub(super) struct OffsetIndex {
    file: IndexFile,
    /// `(relative offset, position)`, both strictly increasing.
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Opens an index file empty, discarding anything it held.
    pub(super) fn create(path: &Path) -> io::Result<Self> {
        Ok(OffsetIndex { file: IndexFile::create(path, ENTRY_LEN)?, entries: Vec::new() })
    }

    /// Loads an index written earlier. Returns `None` when the file is missing or is not a
    /// whole, increasing run of entries within `segment_len` (then the caller rebuilds it).
    pub(super) fn load(path: &Path, segment_len: u64) -> io::Result<Option<Self>> {
        let mut raw = Vec::new();
        match File::open(path) {
            Ok(mut f) => f.read_to_end(&mut raw)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if raw.len() % ENTRY_LEN != 0 {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(raw.len() / ENTRY_LEN);
        for chunk in raw.chunks_exact(ENTRY_LEN) {
            let rel = u32::from_be_bytes(chunk[0..4].try_into().expect("4 bytes"));
            let pos = u32::from_be_bytes(chunk[4..8].try_into().expect("4 bytes"));
            if let Some(&(last_rel, last_pos)) = entries.last() {
                if rel <= last_rel || pos <= last_pos {
                    return Ok(None);
                }
            }
            if pos as u64 >= segment_len {
                return Ok(None);
            }
            entries.push((rel, pos));
        }
        Ok(Some(OffsetIndex { file: IndexFile::existing(path, ENTRY_LEN, entries.len()), entries }))
    }

    /// Records an entry in memory; [`OffsetIndex::write`] puts it in the file.
    pub(super) fn append(&mut self, relative_offset: u32, position: u32) {
        if let Some(&(rel, pos)) = self.entries.last() {
            if relative_offset <= rel || position <= pos {
                return;
            }
        }
        self.entries.push((relative_offset, position));
    }

    /// The position of the last indexed batch starting at or before `relative_offset`
    /// (0 when none is).
    pub(super) fn lookup(&self, relative_offset: u32) -> u32 {
        match self.entries.partition_point(|&(rel, _)| rel <= relative_offset) {
            0 => 0,
            i => self.entries[i - 1].1,
        }
    }

    /// The last entry, from which a load resumes scanning.
    pub(super) fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets the entries after the first `keep` (an append rolled back); the file is cut by
    /// [`OffsetIndex::cut_file`], or before its next write.
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
            .flat_map(|&(rel, pos)| {
                let mut entry = [0u8; ENTRY_LEN];
                entry[0..4].copy_from_slice(&rel.to_be_bytes());
                entry[4..8].copy_from_slice(&pos.to_be_bytes());
                entry
            })
            .collect();
        self.file.write(&pending, self.entries.len())
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
    fn lookup_finds_floor_entry_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::create(&path).unwrap();
        idx.append(0, 0);
        idx.append(10, 4096);
        idx.append(25, 9000);
        assert_eq!(idx.lookup(0), 0);
        assert_eq!(idx.lookup(9), 0);
        assert_eq!(idx.lookup(10), 4096);
        assert_eq!(idx.lookup(24), 4096);
        assert_eq!(idx.lookup(1000), 9000);
        idx.write().unwrap();
        drop(idx);
        let idx = OffsetIndex::load(&path, 10_000).unwrap().unwrap();
        assert_eq!(idx.lookup(24), 4096);
        assert!(OffsetIndex::load(&path, 5000).unwrap().is_none(), "entry past the log end");
    }

    #[test]
    fn torn_index_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 11]).unwrap();
        assert!(OffsetIndex::load(&path, 1 << 20).unwrap().is_none());
    }
}
