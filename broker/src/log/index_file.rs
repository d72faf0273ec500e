//! The file behind a segment's offset or time index. Entries live in memory; the file is
//! written only when the segment is flushed or sealed (opened, appended to, fsynced and
//! closed again), so an index holds no descriptor between writes, active segment or not.
//!
//! Losing entries not written yet is safe: the index is derived from the log. A load trusts a
//! file only as a whole, increasing prefix and indexes the batches after its last entry again
//! (`LogSegment::open`), and after an unclean stop every segment past the recovery point,
//! which includes the active one, is re-indexed from its batches.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use super::disk;

#[derive(Debug)]
pub(super) struct IndexFile {
    path: PathBuf,
    entry_len: usize,
    /// The file holds the first this many entries of those in memory.
    written: usize,
    /// The file may hold bytes past `written` entries (a write that failed half-way, or
    /// entries an append rollback forgot): it is cut back before anything else is written.
    excess: bool,
    /// The file was created or cut since its last fsync.
    unsynced: bool,
}

impl IndexFile {
    /// A new, empty index file (anything at `path` is discarded). It is created now, so that
    /// a segment's files all exist from its start, and closed at once.
    pub(super) fn create(path: &Path, entry_len: usize) -> io::Result<Self> {
        drop(disk::create_segment_file(path)?);
        Ok(IndexFile { path: path.to_owned(), entry_len, written: 0, excess: false, unsynced: true })
    }

    /// An existing file holding `entries` entries, all loaded into memory.
    pub(super) fn existing(path: &Path, entry_len: usize, entries: usize) -> Self {
        IndexFile { path: path.to_owned(), entry_len, written: entries, excess: false, unsynced: false }
    }

    /// How many of memory's entries the file holds; the rest are still to write.
    pub(super) fn written(&self) -> usize {
        self.written
    }

    /// Memory keeps only its first `keep` entries: the file must not hold more.
    pub(super) fn forget_after(&mut self, keep: usize) {
        if self.written > keep {
            self.written = keep;
            self.excess = true;
        }
    }

    /// Cuts the file back to the entries memory holds, if it may hold more.
    pub(super) fn cut(&mut self) -> io::Result<()> {
        if self.excess {
            let file = OpenOptions::new().write(true).open(&self.path)?;
            disk::truncate(&self.path, &file, (self.written * self.entry_len) as u64)?;
            self.excess = false;
            self.unsynced = true;
        }
        Ok(())
    }

    /// Appends `pending` (the encoded entries after the first `written`, up to `total`), then
    /// fsyncs and closes the file. Nothing to write and nothing unsynced costs no system call.
    /// On failure the file may hold part of `pending`; it is cut back before the next write.
    pub(super) fn write(&mut self, pending: &[u8], total: usize) -> io::Result<()> {
        debug_assert_eq!(pending.len(), (total - self.written) * self.entry_len);
        self.cut()?;
        if pending.is_empty() && !self.unsynced {
            return Ok(());
        }
        let file = OpenOptions::new().append(true).open(&self.path)?;
        if !pending.is_empty() {
            if let Err(e) = disk::append_index_entry(&self.path, &file, pending) {
                self.excess = true;
                return Err(e);
            }
            self.written = total;
            self.unsynced = true;
        }
        disk::sync(&self.path, &file)?;
        self.unsynced = false;
        Ok(())
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file was renamed (a cleaned segment swapped in); later writes name the new path.
    pub(super) fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }
}
