//! One segment of a partition's log: a `.log` file of record batches back to back, named by
//! the offset of its first record, with its offset and time indexes.
//!
//! The segment taking appends holds its `.log` open. Once sealed, a segment holds no
//! descriptor: its file is opened through the broker's [`SegmentFiles`] when read, and closed
//! when it has been idle longest. Its indexes are in memory, their files written at flushes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, BatchHeader, LOG_OVERHEAD};
use super::disk;
use super::offset_index::OffsetIndex;
use super::segment_files::{self, SegmentFiles};
use super::time_index::TimeIndex;

/// File name stem of the segment whose first offset is `base_offset` (Kafka's naming).
pub(super) fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// The extensions of a segment's files.
pub(super) const EXTENSIONS: [&str; 3] = ["log", "index", "timeindex"];

/// Suffix of the files of a segment the cleaner is writing, before they are swapped in.
pub(super) const CLEANED_SUFFIX: &str = ".cleaned";

/// Removes a segment's files without opening it.
pub(super) fn remove_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    let stem = file_stem(base_offset);
    for ext in EXTENSIONS {
        disk::remove_file(&dir.join(format!("{stem}.{ext}")))?;
    }
    Ok(())
}

/// Removes the files of a cleaned segment that was not swapped in.
pub(super) fn remove_cleaned_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    let stem = file_stem(base_offset);
    for ext in EXTENSIONS {
        disk::remove_file(&dir.join(format!("{stem}.{ext}{CLEANED_SUFFIX}")))?;
    }
    Ok(())
}

#[derive(Debug)]
pub(super) struct LogSegment {
    base_offset: i64,
    /// Names this segment (not its files) for the file cache, and tells the cleaner whether
    /// the segment it read is still the one in the log.
    id: u64,
    log_path: PathBuf,
    /// The `.log`, held open until the segment is sealed; a sealed segment's goes through
    /// `files`. Handles are shared with fetches in progress, which read outside the partition
    /// lock; a deleted or evicted file stays readable to them until they drop it.
    file: Option<Arc<File>>,
    files: Arc<SegmentFiles>,
    /// Bytes of whole, appended batches. The file may be longer only while `dirty`.
    size: u64,
    /// Offset after the last record in this segment.
    next_offset: i64,
    max_timestamp: i64,
    index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index_entry: u64,
    index_interval_bytes: u64,
    /// Wall-clock ms when the segment was opened for appends; it rolls by age from here.
    created_ms: i64,
    /// A failed append could not be cut back: the files hold bytes past what is recorded in
    /// memory. Nothing is appended (the file is in append mode) until they are cut.
    dirty: bool,
}

/// What a scan of a segment's file found.
#[derive(Debug)]
pub(super) struct ScanOutcome {
    /// Bytes of whole, valid batches from the start of the file.
    pub(super) valid_len: u64,
    /// Whether bytes after `valid_len` were dropped (a torn or corrupt tail).
    pub(super) truncated: bool,
}

/// The state of a segment before an append, to go back to if the append fails.
#[derive(Debug, Clone, Copy)]
pub(super) struct AppendMark {
    size: u64,
    next_offset: i64,
    max_timestamp: i64,
    bytes_since_index_entry: u64,
    index_entries: usize,
    time_entries: usize,
}

impl LogSegment {
    /// Creates a new empty segment in `dir`. On failure no file of it is left behind.
    pub(super) fn create(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        now_ms: i64,
        files: &Arc<SegmentFiles>,
    ) -> io::Result<Self> {
        Self::create_with_suffix(dir, base_offset, index_interval_bytes, now_ms, "", files)
    }

    /// Creates the files of a segment the cleaner writes (`*.log.cleaned` and its indexes),
    /// which [`LogSegment::drop_suffix`] later names as the segment they replace.
    pub(super) fn create_cleaned(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        files: &Arc<SegmentFiles>,
    ) -> io::Result<Self> {
        Self::create_with_suffix(dir, base_offset, index_interval_bytes, super::now_ms(), CLEANED_SUFFIX, files)
    }

    fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        now_ms: i64,
        suffix: &str,
        files: &Arc<SegmentFiles>,
    ) -> io::Result<Self> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log{suffix}"));
        let made = (|| {
            let file = disk::create_segment_file(&log_path)?;
            let index = OffsetIndex::create(&dir.join(format!("{stem}.index{suffix}")))?;
            let time_index = TimeIndex::create(&dir.join(format!("{stem}.timeindex{suffix}")))?;
            Ok((file, index, time_index))
        })();
        let (file, index, time_index) = match made {
            Ok(parts) => parts,
            Err(e) => {
                let _ = if suffix.is_empty() {
                    remove_files(dir, base_offset)
                } else {
                    remove_cleaned_files(dir, base_offset)
                };
                return Err(e);
            }
        };
        Ok(LogSegment {
            base_offset,
            id: segment_files::next_segment_id(),
            log_path,
            file: Some(Arc::new(file)),
            files: Arc::clone(files),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            index,
            time_index,
            bytes_since_index_entry: 0,
            index_interval_bytes,
            created_ms: now_ms,
            dirty: false,
        })
    }

    /// Opens an existing segment and checks its tail.
    ///
    /// With `verify_all` (recovery after an unclean stop), every batch is read whole, its CRC
    /// checked and the indexes rebuilt. Otherwise the indexes are trusted where whole, and the
    /// batches after the last index entry are read whole and CRC-checked, so a torn or
    /// corrupt tail is found even after a clean stop; if anything there is wrong, the segment
    /// is verified whole after all. Either way the file is cut at the first bad byte.
    /// `on_batch` sees each batch walked, in order. The segment comes back holding its file
    /// open, as the active segment does, until [`LogSegment::seal`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        max_batch_bytes: usize,
        verify_all: bool,
        now_ms: i64,
        files: &Arc<SegmentFiles>,
        mut on_batch: impl FnMut(&BatchHeader),
    ) -> io::Result<(Self, ScanOutcome)> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let index_path = dir.join(format!("{stem}.index"));
        let time_path = dir.join(format!("{stem}.timeindex"));
        let file = Arc::new(OpenOptions::new().read(true).append(true).open(&log_path)?);
        let file_len = file.metadata()?.len();
        let segment = |index, time_index| LogSegment {
            base_offset,
            id: segment_files::next_segment_id(),
            log_path: log_path.clone(),
            file: Some(Arc::clone(&file)),
            files: Arc::clone(files),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            index,
            time_index,
            bytes_since_index_entry: 0,
            index_interval_bytes,
            created_ms: now_ms,
            dirty: false,
        };

        if !verify_all {
            if let (Some(index), Some(time_index)) =
                (OffsetIndex::load(&index_path, file_len)?, TimeIndex::load(&time_path)?)
            {
                let mut seg = segment(index, time_index);
                let start = seg.index.last().map_or(0, |(_, pos)| pos as u64);
                let mut walked = Vec::new();
                // The batches after the last entry are indexed again: the files may lack
                // entries made after their last write (a flush writes them, a crash does not),
                // and a time index missing a larger timestamp would send lookups too far.
                let end = seg.walk(start, file_len, true, max_batch_bytes, true, &mut |h| walked.push(*h))?;
                // A last index entry that points at a torn batch leaves nothing to trust from it.
                if end == file_len && (start == 0 || !walked.is_empty()) {
                    walked.iter().for_each(&mut on_batch);
                    seg.finish_open(end)?;
                    return Ok((seg, ScanOutcome { valid_len: end, truncated: false }));
                }
            }
        }
        let mut seg = segment(OffsetIndex::create(&index_path)?, TimeIndex::create(&time_path)?);
        let valid_len = seg.walk(0, file_len, true, max_batch_bytes, true, &mut on_batch)?;
        let truncated = valid_len < file_len;
        if truncated {
            disk::truncate(&seg.log_path, &file, valid_len)?;
        }
        seg.finish_open(valid_len)?;
        Ok((seg, ScanOutcome { valid_len, truncated }))
    }

    /// Records the walked length and drops time index entries past the last offset walked
    /// (an index written ahead of a torn append).
    fn finish_open(&mut self, valid_len: u64) -> io::Result<()> {
        self.size = valid_len;
        let rel_end = (self.next_offset - self.base_offset) as u32;
        self.time_index.truncate_to_offset(rel_end)?;
        self.max_timestamp = self.max_timestamp.max(self.time_index.max_timestamp().unwrap_or(-1));
        Ok(())
    }

    /// Walks batches from `pos` to `end`, updating offsets, timestamps and (when `reindex`)
    /// the indexes. Returns where the last whole valid batch ends.
    fn walk(
        &mut self,
        mut pos: u64,
        end: u64,
        verify: bool,
        max_batch_bytes: usize,
        reindex: bool,
        on_batch: &mut impl FnMut(&BatchHeader),
    ) -> io::Result<u64> {
        let file = self.file()?;
        let mut header_buf = [0u8; batch::HEADER_LEN];
        let mut body = Vec::new();
        let mut expected_base: Option<i64> = None;
        while pos + batch::HEADER_LEN as u64 <= end {
            file.read_exact_at(&mut header_buf, pos)?;
            let Ok(header) = BatchHeader::parse(&header_buf) else { break };
            let len = header.total_len() as u64;
            if pos + len > end || len as usize > max_batch_bytes.saturating_add(LOG_OVERHEAD) {
                break;
            }
            if header.base_offset < self.base_offset
                || header.last_offset() - self.base_offset > u32::MAX as i64
                || expected_base.is_some_and(|e| header.base_offset < e)
            {
                break;
            }
            if verify {
                body.resize(len as usize, 0);
                file.read_exact_at(&mut body, pos)?;
                if batch::compute_crc(&body) != header.crc {
                    break;
                }
            }
            if reindex {
                self.index_batch(&header, pos as u32, len);
            } else {
                self.bytes_since_index_entry += len;
            }
            self.next_offset = header.last_offset() + 1;
            self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
            expected_base = Some(self.next_offset);
            on_batch(&header);
            pos += len;
        }
        Ok(pos)
    }

    /// Records index entries for a batch, in memory: the files get them at the next flush.
    fn index_batch(&mut self, header: &BatchHeader, position: u32, len: u64) {
        let rel = (header.base_offset - self.base_offset) as u32;
        if self.bytes_since_index_entry >= self.index_interval_bytes || position == 0 {
            self.index.append(rel, position);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += len;
        self.time_index.maybe_append(header.max_timestamp, rel);
    }

    /// Where the segment stands, for [`LogSegment::rollback`].
    pub(super) fn mark(&self) -> AppendMark {
        AppendMark {
            size: self.size,
            next_offset: self.next_offset,
            max_timestamp: self.max_timestamp,
            bytes_since_index_entry: self.bytes_since_index_entry,
            index_entries: self.index.len(),
            time_entries: self.time_index.len(),
        }
    }

    /// Undoes the appends since `mark`: the log and its indexes are cut back to it. When a
    /// file cannot be cut (the device is failing), the segment stays dirty and refuses appends
    /// until a later attempt succeeds; reads never go past the recorded size either way.
    pub(super) fn rollback(&mut self, mark: AppendMark) {
        self.size = mark.size;
        self.next_offset = mark.next_offset;
        self.max_timestamp = mark.max_timestamp;
        self.bytes_since_index_entry = mark.bytes_since_index_entry;
        self.index.forget_after(mark.index_entries);
        self.time_index.forget_after(mark.time_entries);
        self.dirty = true;
        if let Err(e) = self.repair() {
            tracing::error!(segment = %self.log_path.display(), error = %e, "cannot cut back a failed append; the partition refuses writes until it can");
        }
    }

    /// Cuts the files back to what memory records, if a rollback left them longer.
    fn repair(&mut self) -> io::Result<()> {
        if self.dirty {
            disk::truncate(&self.log_path, self.writable()?, self.size)?;
            self.index.cut_file()?;
            self.time_index.cut_file()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Appends one batch as `bytes` holds it, but with `header.base_offset` written in place
    /// of the producer's base offset (which lies outside the CRC). On an error the segment
    /// may hold part of the batch: the caller rolls back to a mark taken before.
    pub(super) fn append(&mut self, header: &BatchHeader, bytes: &[u8]) -> io::Result<()> {
        self.repair()?;
        let position = u32::try_from(self.size).map_err(|_| io::Error::other("segment larger than 4 GiB"))?;
        let base = header.base_offset.to_be_bytes();
        disk::append(&self.log_path, self.writable()?, &[&base, &bytes[8..]])?;
        self.size += bytes.len() as u64;
        self.next_offset = header.last_offset() + 1;
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        self.index_batch(header, position, bytes.len() as u64);
        Ok(())
    }

    /// Finds the file position of the first batch holding an offset >= `offset`, or `None`
    /// when no batch in this segment does.
    pub(super) fn position_of(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            // Known without reading, so a sealed segment's file is not opened for nothing.
            return Ok(None);
        }
        self.position_in(&*self.file()?, offset)
    }

    /// As [`LogSegment::position_of`], reading `file` (this segment's, from [`LogSegment::file`]).
    pub(super) fn position_in(&self, file: &File, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let rel = offset.saturating_sub(self.base_offset).clamp(0, u32::MAX as i64) as u32;
        let mut pos = self.index.lookup(rel) as u64;
        let mut header_buf = [0u8; batch::HEADER_LEN];
        while pos + batch::HEADER_LEN as u64 <= self.size {
            file.read_exact_at(&mut header_buf, pos)?;
            let header = BatchHeader::parse(&header_buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if header.last_offset() >= offset {
                return Ok(Some((pos, header)));
            }
            pos += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Walks batch headers from `position` to the end of the segment; `f` also gets the file,
    /// to read a batch whole or to serve it.
    pub(super) fn headers_from(
        &self,
        mut pos: u64,
        mut f: impl FnMut(u64, &BatchHeader, &Arc<File>) -> bool,
    ) -> io::Result<()> {
        if pos + batch::HEADER_LEN as u64 > self.size {
            return Ok(());
        }
        let file = self.file()?;
        let mut header_buf = [0u8; batch::HEADER_LEN];
        while pos + batch::HEADER_LEN as u64 <= self.size {
            file.read_exact_at(&mut header_buf, pos)?;
            let header = BatchHeader::parse(&header_buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if !f(pos, &header, &file) {
                break;
            }
            pos += header.total_len() as u64;
        }
        Ok(())
    }

    /// A relative starting point for a timestamp search.
    pub(super) fn time_lookup(&self, timestamp: i64) -> i64 {
        self.base_offset + self.time_index.lookup(timestamp) as i64
    }

    /// Forces the log to stable storage, then writes the index entries made since the last
    /// flush (each index file opened, appended to, fsynced and closed). The log goes first:
    /// an index is derived from it, never the other way round.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.repair()?;
        disk::sync(&self.log_path, self.writable()?)?;
        self.index.write()?;
        self.time_index.write()
    }

    /// The segment will not be appended to again (rolled, or a cleaned copy swapped in; its
    /// log already synced): its index entries are written and its log file closed, so it
    /// holds no descriptor until it is read. A failed write leaves it open and unsealed.
    pub(super) fn seal(&mut self) -> io::Result<()> {
        self.index.write()?;
        self.time_index.write()?;
        self.file = None;
        Ok(())
    }

    /// Records that the files were renamed from their `.cleaned` names to the segment's own:
    /// open handles stay on the same files, only the names used to open them again change.
    pub(super) fn drop_suffix(&mut self) {
        let strip = |p: &Path| PathBuf::from(p.to_string_lossy().trim_end_matches(CLEANED_SUFFIX).to_owned());
        self.log_path = strip(&self.log_path);
        self.index.set_path(strip(self.index.path()));
        self.time_index.set_path(strip(self.time_index.path()));
    }

    /// Records that the `.log` was renamed to `path` (a cleaned segment's, committed as a
    /// swap file until the swap is finished): a sealed segment's file is opened by name.
    pub(super) fn set_log_path(&mut self, path: PathBuf) {
        self.log_path = path;
    }

    /// The `.log` file's path.
    pub(super) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Removes the segment's files. Readers holding the file keep reading what they have.
    pub(super) fn delete(self) -> io::Result<()> {
        let dir = self.log_path.parent().map(Path::to_owned).unwrap_or_default();
        let base = self.base_offset;
        drop(self);
        remove_files(&dir, base)
    }

    pub(super) fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub(super) fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub(super) fn size(&self) -> u64 {
        self.size
    }
    pub(super) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub(super) fn created_ms(&self) -> i64 {
        self.created_ms
    }
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The `.log` file, to read: the segment's own handle, or a sealed segment's from the
    /// broker's cache (opened if it was closed).
    pub(super) fn file(&self) -> io::Result<Arc<File>> {
        match &self.file {
            Some(file) => Ok(Arc::clone(file)),
            None => self.files.get(self.id, &self.log_path),
        }
    }

    /// The handle appends, cuts and fsyncs go through; a sealed segment has none.
    fn writable(&self) -> io::Result<&File> {
        self.file.as_deref().ok_or_else(|| io::Error::other(format!("{} is sealed", self.log_path.display())))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.size == 0
    }
}

impl Drop for LogSegment {
    /// A deleted or replaced segment's cached handle closes with it (readers holding it keep
    /// theirs).
    fn drop(&mut self) {
        self.files.forget(self.id);
    }
}
