//! Producer ids for InitProducerId, unique across restarts: ids are handed out from blocks
//! whose end is recorded on disk before the first id of the block is used. Also the current
//! epoch of each id handed out since start, so an epoch bump (KIP-360) is granted only to the
//! producer holding the current epoch and a stale one is fenced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use crate::error::{Error, Result};

const FILE: &str = "producer-id-block";
const BLOCK: i64 = 1000;
/// Producer ids whose epoch is tracked; past this the oldest are forgotten (a forgotten id
/// that asks for a bump gets a new id instead, and its batches meet only the partitions'
/// own epoch checks), so clients calling InitProducerId in a loop cannot grow the table.
const TRACKED: usize = 100_000;

/// The epoch of one producer id, and the bump that produced it: a client whose InitProducerId
/// response was lost asks again with the epoch it had, and gets the same answer.
#[derive(Debug, Clone, Copy)]
struct EpochState {
    epoch: i16,
    /// (epoch bumped from, the id and epoch that bump answered)
    last_bump: Option<(i16, (i64, i16))>,
}

/// The answer to an epoch bump request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bump {
    /// The id and epoch to use now (a new id when the epoch would overflow).
    Granted(i64, i16),
    /// The caller's epoch is older than the current one: another producer instance holds the id.
    Fenced,
    /// This broker has not handed out the id since it started: the caller gets a new id.
    Unknown,
}

#[derive(Debug)]
pub(crate) struct ProducerIdAllocator {
    path: PathBuf,
    /// (next id to hand out, end of the reserved block)
    state: Mutex<(i64, i64)>,
    /// Read on every produce request, written only by InitProducerId. Ids grow, so the
    /// first entry is the oldest.
    epochs: RwLock<BTreeMap<i64, EpochState>>,
}

impl ProducerIdAllocator {
    pub(crate) fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(FILE);
        let reserved_end = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0);
        // Ids below the recorded end may have been handed out before a crash: skip them.
        Ok(ProducerIdAllocator { path, state: Mutex::new((reserved_end, reserved_end)), epochs: RwLock::default() })
    }

    fn next(&self) -> Result<i64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 >= state.1 {
            let end = state.1 + BLOCK;
            // Durable before the first id of the block is handed out, or a power loss could
            // hand the same ids out again.
            crate::log::disk::replace_file(&self.path, format!("{end}\n").as_bytes(), true)
                .map_err(Error::io("recording producer id block"))?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }

    /// A fresh producer id at epoch 0.
    pub(crate) fn new_producer(&self) -> Result<(i64, i16)> {
        let id = self.next()?;
        track(&mut self.epochs.write().unwrap_or_else(|p| p.into_inner()), id);
        Ok((id, 0))
    }

    /// KIP-360: the holder of `id` at its current `epoch` moves to the next epoch (or, when the
    /// epoch would overflow, to a new id at epoch 0). A newer epoch than the one recorded is
    /// taken as current: idempotent producers of the Java client bump their epoch locally.
    pub(crate) fn bump(&self, id: i64, epoch: i16) -> Result<Bump> {
        // One write lock over check and update: two racing bumps of one epoch get one answer.
        let mut epochs = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = epochs.get_mut(&id) else { return Ok(Bump::Unknown) };
        if let Some((from, (i, e))) = entry.last_bump {
            if from == epoch {
                return Ok(Bump::Granted(i, e));
            }
        }
        if epoch < entry.epoch {
            return Ok(Bump::Fenced);
        }
        // i16::MAX itself is never handed out: it is what fences the old id after it moves on.
        let answer = if epoch < i16::MAX - 1 { (id, epoch + 1) } else { (self.next()?, 0) };
        entry.epoch = if answer.0 == id { answer.1 } else { i16::MAX };
        entry.last_bump = Some((epoch, answer));
        if answer.0 != id {
            track(&mut epochs, answer.0);
        }
        Ok(Bump::Granted(answer.0, answer.1))
    }

    /// Whether a batch of `id` at `epoch` comes from an instance whose epoch was bumped since
    /// (the current epoch, if so). Ids this broker did not hand out since it started are left
    /// to the partitions' own checks.
    pub(crate) fn stale_epoch(&self, id: i64, epoch: i16) -> Option<i16> {
        let epochs = self.epochs.read().unwrap_or_else(|p| p.into_inner());
        epochs.get(&id).map(|s| s.epoch).filter(|&current| epoch < current)
    }
}

fn track(epochs: &mut BTreeMap<i64, EpochState>, id: i64) {
    epochs.insert(id, EpochState { epoch: 0, last_bump: None });
    if epochs.len() > TRACKED {
        epochs.pop_first();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_epoch_is_bumped_and_a_lost_answer_is_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIdAllocator::open(dir.path()).unwrap();
        let (id, epoch) = ids.new_producer().unwrap();
        assert_eq!(ids.bump(id, epoch).unwrap(), Bump::Granted(id, 1));
        assert_eq!(ids.bump(id, epoch).unwrap(), Bump::Granted(id, 1), "a retried bump gets the same answer");
        assert_eq!(ids.bump(id, 1).unwrap(), Bump::Granted(id, 2));
        assert_eq!(ids.bump(id, epoch).unwrap(), Bump::Fenced, "two bumps behind");
        assert_eq!(ids.stale_epoch(id, 1), Some(2));
        assert_eq!(ids.stale_epoch(id, 2), None);
        assert_eq!(ids.bump(id, 5).unwrap(), Bump::Granted(id, 6), "bumped locally to 5 by the client");
        assert_eq!(ids.bump(id, 2).unwrap(), Bump::Fenced);
        assert_eq!(ids.bump(id + 100, 0).unwrap(), Bump::Unknown);
    }

    #[test]
    fn an_epoch_about_to_overflow_moves_to_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIdAllocator::open(dir.path()).unwrap();
        let (id, _) = ids.new_producer().unwrap();
        ids.epochs.write().unwrap().get_mut(&id).unwrap().epoch = i16::MAX - 1;
        let Bump::Granted(new_id, new_epoch) = ids.bump(id, i16::MAX - 1).unwrap() else { panic!("granted") };
        assert_ne!(new_id, id);
        assert_eq!(new_epoch, 0);
        assert_eq!(ids.stale_epoch(id, i16::MAX - 1), Some(i16::MAX), "the old id is fenced");
    }
}
