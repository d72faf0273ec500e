//! Every write the broker makes to its data directory goes through this module: appends,
//! index entries, segment creation, truncation, fsync and the small metadata files.
//!
//! Being one seam, it is also where tests make storage fail. [`inject`] arms a [`Fault`] that
//! fires on the chosen [`WritePoint`] for files whose path contains a given string (each test
//! uses its own temporary directory, so tests running side by side do not see each other's
//! faults). A fault can fail the call outright (ENOSPC, EIO) or let part of an append reach
//! the file first (a short write), which is what a full disk does half-way through a batch.
//! Unarmed, the seam costs one relaxed atomic load per write.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The kinds of storage write, each a place a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WritePoint {
    /// A record batch appended to a segment's `.log`.
    Append,
    /// Entries appended to an `.index` or `.timeindex` (when the segment is flushed or sealed).
    IndexAppend,
    /// A new segment's files created (a roll, a new partition).
    SegmentCreate,
    /// A file cut back (an append rolled back, a torn tail removed at recovery).
    Truncate,
    /// An fsync of a segment, index or directory.
    Sync,
    /// A small metadata file replaced whole: a partition's checkpoint, the clean-shutdown marker,
    /// `topics.json`, the producer-id block.
    Metadata,
    /// A directory created (a partition's, the data dir).
    CreateDir,
    /// A file renamed: the log cleaner swapping cleaned segments in (`path_contains` matches
    /// the name renamed from).
    Rename,
    /// A file removed: a segment replaced by a cleaned one, a cleaning's leftovers.
    Remove,
    /// Every kind above: with `skip(n)` and no `times`, the first `n` writes go through and
    /// every later one fails, which leaves the files as a `kill -9` after `n` writes would.
    Any,
}

/// How an injected fault fails the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// `ENOSPC`: the disk is full.
    NoSpace,
    /// `EIO`: the device failed.
    Io,
    /// The first `bytes` of an append reach the file, then the write fails with `ENOSPC`.
    /// Other write points fail outright.
    ShortWrite { bytes: usize },
}

/// A fault to inject: `kind` on calls at `point` whose file path contains `path_contains`,
/// after `skip` such calls have gone through, for `times` calls (`None`: until removed).
#[derive(Debug, Clone)]
pub struct Fault {
    pub point: WritePoint,
    pub path_contains: String,
    pub kind: FaultKind,
    pub skip: u64,
    pub times: Option<u64>,
}

impl Fault {
    /// Fails every call at `point` under `path_contains` with `kind` until removed.
    pub fn new(point: WritePoint, path_contains: impl Into<String>, kind: FaultKind) -> Self {
        Fault { point, path_contains: path_contains.into(), kind, skip: 0, times: None }
    }

    /// Lets the first `n` matching calls through.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Fires on `n` calls only.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
}

#[derive(Debug)]
struct Armed {
    id: u64,
    fault: Fault,
    seen: u64,
    fired: u64,
}

static ANY_ARMED: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

/// An armed fault; dropping it (or [`FaultHandle::clear`]) disarms it.
#[derive(Debug)]
pub struct FaultHandle {
    id: u64,
}

impl FaultHandle {
    /// How many calls the fault has failed so far.
    pub fn fired(&self) -> u64 {
        let armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
        armed.iter().find(|a| a.id == self.id).map_or(0, |a| a.fired)
    }

    /// Disarms the fault: the disk has room again, the device is back.
    pub fn clear(self) {}
}

impl Drop for FaultHandle {
    fn drop(&mut self) {
        let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
        armed.retain(|a| a.id != self.id);
        ANY_ARMED.store(!armed.is_empty(), Ordering::Release);
    }
}

/// Arms `fault` for this process until the handle is dropped. For tests.
pub fn inject(fault: Fault) -> FaultHandle {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
    armed.push(Armed { id, fault, seen: 0, fired: 0 });
    ANY_ARMED.store(true, Ordering::Release);
    FaultHandle { id }
}

/// The fault due on this call, if any.
fn due(point: WritePoint, path: &Path) -> Option<FaultKind> {
    if !ANY_ARMED.load(Ordering::Relaxed) {
        return None;
    }
    let path = path.to_string_lossy();
    let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
    for a in armed.iter_mut() {
        if (a.fault.point != point && a.fault.point != WritePoint::Any)
            || !path.contains(a.fault.path_contains.as_str())
        {
            continue;
        }
        a.seen += 1;
        if a.seen <= a.fault.skip || a.fault.times.is_some_and(|t| a.fired >= t) {
            continue;
        }
        a.fired += 1;
        return Some(a.fault.kind);
    }
    None
}

fn fault_error(kind: FaultKind, point: WritePoint, path: &Path) -> io::Error {
    let raw = match kind {
        FaultKind::Io => libc::EIO,
        FaultKind::NoSpace | FaultKind::ShortWrite { .. } => libc::ENOSPC,
    };
    let os = io::Error::from_raw_os_error(raw);
    io::Error::new(os.kind(), format!("{os} (injected at {point:?} on {})", path.display()))
}

fn check(point: WritePoint, path: &Path) -> io::Result<()> {
    match due(point, path) {
        Some(kind) => Err(fault_error(kind, point, path)),
        None => Ok(()),
    }
}

/// Writes every buffer in `bufs`, in order, at the end of `file` (opened for appending), with
/// as few system calls as the kernel allows. On an error part of the data may have reached the
/// file: the caller cuts the file back.
pub(super) fn append(path: &Path, file: &File, bufs: &[&[u8]]) -> io::Result<()> {
    let mut limit = usize::MAX;
    let mut injected = None;
    if let Some(kind) = due(WritePoint::Append, path) {
        match kind {
            FaultKind::ShortWrite { bytes } => {
                limit = bytes;
                injected = Some(kind);
            }
            other => return Err(fault_error(other, WritePoint::Append, path)),
        }
    }
    let mut parts: Vec<&[u8]> = bufs.iter().copied().filter(|b| !b.is_empty()).collect();
    let mut out = file;
    let mut written = 0usize;
    while !parts.is_empty() {
        if written >= limit {
            break;
        }
        let slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let n = if limit == usize::MAX {
            out.write_vectored(&slices)?
        } else {
            // A short write under test: only the first `limit` bytes may land.
            let first = parts[0];
            out.write(&first[..first.len().min(limit - written)])?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
        let mut left = n;
        while left > 0 {
            if parts[0].len() <= left {
                left -= parts[0].len();
                parts.remove(0);
            } else {
                parts[0] = &parts[0][left..];
                left = 0;
            }
        }
    }
    match injected {
        Some(kind) if !parts.is_empty() => Err(fault_error(kind, WritePoint::Append, path)),
        _ => Ok(()),
    }
}

/// Appends index entries (those made since the index file was last written) to `file`.
pub(super) fn append_index_entry(path: &Path, mut file: &File, entries: &[u8]) -> io::Result<()> {
    check(WritePoint::IndexAppend, path)?;
    file.write_all(entries)
}

/// Creates (or empties) `path` for a new segment or index, opened for appending and reading.
pub(super) fn create_segment_file(path: &Path) -> io::Result<File> {
    check(WritePoint::SegmentCreate, path)?;
    let file = OpenOptions::new().create(true).read(true).append(true).truncate(false).open(path)?;
    file.set_len(0)?;
    Ok(file)
}

/// Cuts `file` back to `len` bytes.
pub(super) fn truncate(path: &Path, file: &File, len: u64) -> io::Result<()> {
    check(WritePoint::Truncate, path)?;
    file.set_len(len)
}

/// Forces `file`'s data to stable storage.
pub(super) fn sync(path: &Path, file: &File) -> io::Result<()> {
    check(WritePoint::Sync, path)?;
    file.sync_data()
}

/// Renames `from` to `to`, replacing `to` if it exists. Durable once the directory is synced.
pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    check(WritePoint::Rename, from)?;
    std::fs::rename(from, to)
}

/// Forces the directory entries of `dir` (creations, renames, removals) to stable storage.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    check(WritePoint::Sync, dir)?;
    File::open(dir)?.sync_all()
}

/// Removes `path`; a file that is already gone is not an error.
pub(super) fn remove_file(path: &Path) -> io::Result<()> {
    check(WritePoint::Remove, path)?;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Replaces `path` with `bytes` through a temporary file and a rename, so a reader sees the
/// old content or the new, never a mix. With `durable`, the data and the rename are fsynced.
pub fn replace_file(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    check(WritePoint::Metadata, path)?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durable {
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates an empty marker file.
pub(super) fn create_marker(path: &Path) -> io::Result<()> {
    check(WritePoint::Metadata, path)?;
    File::create(path).map(drop)
}

/// Creates `path` and any missing parents.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    check(WritePoint::CreateDir, path)?;
    std::fs::create_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn short_write_lands_a_prefix_then_fails_with_enospc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let file = create_segment_file(&path).unwrap();
        append(&path, &file, &[b"0123", b"456789"]).unwrap();
        let fault = inject(
            Fault::new(WritePoint::Append, dir.path().to_str().unwrap(), FaultKind::ShortWrite { bytes: 6 }).times(1),
        );
        let err = append(&path, &file, &[b"abcd", b"efghij"]).unwrap_err();
        assert_eq!(err.raw_os_error(), None);
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fault.fired(), 1);
        let mut content = String::new();
        File::open(&path).unwrap().read_to_string(&mut content).unwrap();
        assert_eq!(content, "0123456789abcdef");
        append(&path, &file, &[b"!"]).unwrap();
        drop(fault);
        let other = inject(Fault::new(WritePoint::Append, "elsewhere", FaultKind::Io));
        append(&path, &file, &[b"?"]).unwrap();
        drop(other);
    }
}
