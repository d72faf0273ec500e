//! The file behind a segment's offset or time index. Entries live in memory; the file takes
//! appends while the segment is active and is closed once the segment is sealed (synced
//! first), so an older segment costs no descriptor for its indexes. A later cut reopens it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::disk;

#[derive(Debug)]
pub(super) struct IndexFile {
    path: PathBuf,
    file: Option<File>,
}

impl IndexFile {
    /// A new, empty index file (anything at `path` is discarded).
    pub(super) fn create(path: &Path) -> io::Result<Self> {
        Ok(IndexFile { path: path.to_owned(), file: Some(disk::create_segment_file(path)?) })
    }

    /// An existing file, opened on first write: a loaded index is usually only read.
    pub(super) fn existing(path: &Path) -> Self {
        IndexFile { path: path.to_owned(), file: None }
    }

    pub(super) fn append(&mut self, entry: &[u8]) -> io::Result<()> {
        let (path, file) = self.open()?;
        disk::append_index_entry(path, file, entry)
    }

    /// Cuts the file to `len` bytes.
    pub(super) fn truncate(&mut self, len: u64) -> io::Result<()> {
        let (path, file) = self.open()?;
        disk::truncate(path, file, len)
    }

    /// Forces what was appended to stable storage; a closed file has nothing unsynced (it is
    /// closed only after a sync).
    pub(super) fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(file) => disk::sync(&self.path, file),
            None => Ok(()),
        }
    }

    /// Closes the file of a synced, sealed segment's index: one descriptor less.
    pub(super) fn close(&mut self) {
        self.file = None;
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file was renamed (a cleaned segment swapped in); later writes name the new path.
    pub(super) fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// The path and the file, opened for appends if closed.
    fn open(&mut self) -> io::Result<(&Path, &File)> {
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().append(true).open(&self.path)?);
        }
        Ok((&self.path, self.file.as_ref().expect("opened above")))
    }
}
