//! Transaction bookkeeping for one partition: which producers have a transaction open here
//! (and from which offset), and which transactions were aborted, so a read_committed fetch
//! stops at the last stable offset and gets the aborted ranges to drop.
//!
//! Kept in memory (aborted transactions below the log start forgotten). A snapshot is written
//! at each roll and at a clean close; a start loads it and replays only the batches after
//! its offset, so reopening a long transactional log reads its active segment, not all of
//! it (this is the job of Kafka's per-segment `.txnindex` files). Only logs that ever held a
//! transactional batch keep one (see `TRANSACTIONAL_MARKER`).

use std::collections::HashMap;

use super::batch::BatchHeader;

/// One aborted transaction of a partition: its producer and its offsets, the last being the
/// abort marker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// A control record's type, as its key says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

/// The first line of a snapshot file (its format's version).
const SNAPSHOT_HEADER: &str = "ferrokafka-txn-index 2";

#[derive(Debug, Default)]
pub(super) struct TxnIndex {
    /// Producer id -> first offset of its open transaction here.
    ongoing: HashMap<i64, i64>,
    /// In marker order, so in `last_offset` order.
    aborted: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Records an appended (or replayed) batch; `control` is the type of a control batch.
    pub(super) fn record(&mut self, header: &BatchHeader, control: Option<ControlType>) {
        if !header.is_transactional() {
            return;
        }
        match control {
            None if header.is_control() => {}
            None => {
                self.ongoing.entry(header.producer_id).or_insert(header.base_offset);
            }
            Some(kind) => {
                let Some(first_offset) = self.ongoing.remove(&header.producer_id) else { return };
                if kind == ControlType::Abort {
                    self.aborted.push(AbortedTxn {
                        producer_id: header.producer_id,
                        first_offset,
                        last_offset: header.last_offset(),
                    });
                }
            }
        }
    }

    /// Whether `producer_id` has a transaction open here.
    pub(super) fn is_ongoing(&self, producer_id: i64) -> bool {
        self.ongoing.contains_key(&producer_id)
    }

    /// The first offset of `producer_id`'s open transaction here, if it has one.
    pub(super) fn ongoing_first_offset(&self, producer_id: i64) -> Option<i64> {
        self.ongoing.get(&producer_id).copied()
    }

    /// The first offset of the earliest open transaction, else `end`.
    pub(super) fn last_stable_offset(&self, end: i64) -> i64 {
        self.ongoing.values().copied().min().map_or(end, |first| first.min(end))
    }

    /// The aborted transactions with records in `[from, upper)`.
    pub(super) fn aborted_between(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..].iter().filter(|a| a.first_offset < upper).copied().collect()
    }

    /// Forgets aborted transactions wholly below the log start.
    pub(super) fn trim(&mut self, log_start: i64) {
        let below = self.aborted.partition_point(|a| a.last_offset < log_start);
        self.aborted.drain(..below);
    }

    /// The index as text, as of `offset` (every batch below it recorded, none above), with
    /// a closing line count so that a file cut short is never believed.
    pub(super) fn snapshot(&self, offset: i64) -> String {
        let mut out = format!("{SNAPSHOT_HEADER}\n{offset}\n");
        let mut ongoing: Vec<_> = self.ongoing.iter().collect();
        ongoing.sort_unstable();
        for (pid, first) in &ongoing {
            out.push_str(&format!("ongoing {pid} {first}\n"));
        }
        for a in &self.aborted {
            out.push_str(&format!("aborted {} {} {}\n", a.producer_id, a.first_offset, a.last_offset));
        }
        out.push_str(&format!("end {}\n", ongoing.len() + self.aborted.len()));
        out
    }

    /// Reads a [`TxnIndex::snapshot`]: the offset it was taken at, and the index; `None`
    /// unless it is whole.
    pub(super) fn from_snapshot(text: &str) -> Option<(i64, TxnIndex)> {
        let mut lines = text.lines();
        if lines.next()? != SNAPSHOT_HEADER {
            return None;
        }
        let offset = lines.next()?.parse::<i64>().ok()?;
        let mut index = TxnIndex::default();
        // `count`: the entries before this line, which the `end` line must match.
        for (count, line) in lines.enumerate() {
            let mut words = line.split(' ');
            let kind = words.next()?;
            let fields: Vec<i64> = words.map(|f| f.parse().ok()).collect::<Option<_>>()?;
            match (kind, fields.as_slice()) {
                ("ongoing", &[pid, first]) => {
                    index.ongoing.insert(pid, first);
                }
                ("aborted", &[producer_id, first_offset, last_offset]) => {
                    index.aborted.push(AbortedTxn { producer_id, first_offset, last_offset });
                }
                ("end", &[n]) => {
                    return (usize::try_from(n).ok()? == count).then_some((offset, index));
                }
                _ => return None,
            }
        }
        None
    }

    #[cfg(test)]
    pub(super) fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{self, BatchHeader};

    fn header(bytes: &[u8], base: i64) -> BatchHeader {
        let mut b = bytes.to_vec();
        batch::set_base_offset(&mut b, base);
        BatchHeader::parse(&b).unwrap()
    }

    #[test]
    fn lso_follows_the_earliest_open_transaction_and_aborts_are_listed() {
        let mut t = TxnIndex::default();
        let data = |pid| {
            let mut b = batch::tests::sample_batch(2, 0, pid, 0);
            batch::tests::set_transactional(&mut b);
            b
        };
        t.record(&header(&data(1), 0), None);
        t.record(&header(&data(2), 2), None);
        assert_eq!(t.last_stable_offset(4), 0);
        let abort = batch::control_batch(1, 0, ControlType::Abort, 0);
        t.record(&header(&abort, 4), Some(ControlType::Abort));
        assert_eq!(t.last_stable_offset(5), 2);
        let commit = batch::control_batch(2, 0, ControlType::Commit, 0);
        t.record(&header(&commit, 5), Some(ControlType::Commit));
        assert_eq!(t.last_stable_offset(6), 6);
        assert_eq!(t.aborted(), &[AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 4 }]);
        assert_eq!(t.aborted_between(0, 6).len(), 1);
        assert!(t.aborted_between(5, 6).is_empty());
        let snapshot = t.snapshot(6);
        let (offset, back) = TxnIndex::from_snapshot(&snapshot).unwrap();
        assert_eq!((offset, back.aborted(), back.last_stable_offset(6)), (6, t.aborted(), 6));
        assert_eq!(back.snapshot(6), snapshot);
        assert!(TxnIndex::from_snapshot(&snapshot[..snapshot.len() - 3]).is_none(), "cut short");
        let cut_at_a_line = snapshot.replace("end 1\n", "");
        assert!(TxnIndex::from_snapshot(&cut_at_a_line).is_none(), "cut at a line's end");
        assert!(TxnIndex::from_snapshot(&snapshot.replace("end 1", "end 2")).is_none());
        t.record(&header(&data(3), 6), None);
        let (_, back) = TxnIndex::from_snapshot(&t.snapshot(7)).unwrap();
        assert_eq!(back.last_stable_offset(7), 6, "open transactions are kept");
        t.trim(5);
        assert!(t.aborted().is_empty());
    }
}
