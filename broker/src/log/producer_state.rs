//! Idempotent-producer bookkeeping for one partition: the epoch and the last few batches of
//! each producer id, so a retried batch is answered with its first append's offset instead of
//! being written twice, and a gap in sequence numbers is refused.

use std::collections::{HashMap, VecDeque};

use super::batch::BatchHeader;

/// Producers may have this many batches in flight; a retry can only be one of them.
const BATCHES_REMEMBERED: usize = 5;
/// The first line of a snapshot file (its format's version).
const SNAPSHOT_HEADER: &str = "ferrokafka-producer-state 1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
    timestamp: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already appended at this base offset: acknowledge without writing.
    Duplicate { base_offset: i64, timestamp: i64 },
    /// Sequence does not follow the last one appended.
    OutOfOrder { expected: i32, got: i32 },
    /// Epoch older than the producer's current one: a zombie.
    FencedEpoch { current: i16, got: i16 },
}

#[derive(Debug, Default)]
pub(super) struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStateTable {
    pub(super) fn check(&self, header: &BatchHeader) -> SequenceCheck {
        if !header.has_producer_id() || header.base_sequence < 0 {
            return SequenceCheck::Append;
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // Unknown producer (new, or its state aged out): accept any starting sequence,
            // as Kafka does since KIP-360.
            return SequenceCheck::Append;
        };
        if header.producer_epoch < entry.epoch {
            return SequenceCheck::FencedEpoch { current: entry.epoch, got: header.producer_epoch };
        }
        if header.producer_epoch > entry.epoch {
            return if header.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder { expected: 0, got: header.base_sequence }
            };
        }
        if let Some(dup) =
            entry.batches.iter().find(|b| b.first_seq == header.base_sequence && b.last_seq == header.last_sequence())
        {
            return SequenceCheck::Duplicate { base_offset: dup.base_offset, timestamp: dup.timestamp };
        }
        match entry.batches.back() {
            Some(last) if next_seq(last.last_seq) != header.base_sequence => {
                SequenceCheck::OutOfOrder { expected: next_seq(last.last_seq), got: header.base_sequence }
            }
            _ => SequenceCheck::Append,
        }
    }

    /// Forgets the producers whose last batch's timestamp is `max_age_ms` or more before
    /// `now_ms`, except those `keep` names (a transaction open in the partition), as Kafka's
    /// `producer.id.expiration.ms` does; returns how many. A forgotten producer is new to
    /// the partition: its next batch is taken at any sequence (KIP-360).
    pub(super) fn expire(&mut self, now_ms: i64, max_age_ms: i64, keep: impl Fn(i64) -> bool) -> usize {
        let before = self.producers.len();
        self.producers.retain(|&pid, entry| {
            keep(pid) || entry.batches.back().is_none_or(|b| now_ms.saturating_sub(b.timestamp) < max_age_ms)
        });
        before - self.producers.len()
    }

    /// The last offset of each producer's last batch, for the cleaner, which keeps that batch.
    pub(super) fn last_offsets(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.producers.iter().filter_map(|(&pid, e)| e.batches.back().map(|b| (pid, b.last_offset)))
    }

    /// Each producer's epoch, last sequence and last batch's timestamp (DescribeProducers).
    pub(super) fn describe(&self) -> impl Iterator<Item = (i64, i16, i32, i64)> + '_ {
        self.producers.iter().filter_map(|(&pid, e)| e.batches.back().map(|b| (pid, e.epoch, b.last_seq, b.timestamp)))
    }

    /// The table as text, taken when every batch below `offset` (and none above) is in it: a
    /// header, the offset, one line per remembered batch, and a closing line counting them,
    /// so a file cut short is never taken for a whole one.
    pub(super) fn snapshot(&self, offset: i64) -> String {
        let mut out = format!("{SNAPSHOT_HEADER}\n{offset}\n");
        let mut lines = 0usize;
        // In producer-id order, so that equal tables write equal snapshots.
        let mut producers: Vec<_> = self.producers.iter().collect();
        producers.sort_unstable_by_key(|(pid, _)| **pid);
        for (pid, entry) in producers {
            for b in &entry.batches {
                out.push_str(&format!(
                    "{pid} {} {} {} {} {} {}\n",
                    entry.epoch, b.first_seq, b.last_seq, b.base_offset, b.last_offset, b.timestamp
                ));
                lines += 1;
            }
        }
        out.push_str(&format!("end {lines}\n"));
        out
    }

    /// Reads a [`ProducerStateTable::snapshot`]: the offset it was taken at, and the table;
    /// `None` unless it is whole.
    pub(super) fn from_snapshot(text: &str) -> Option<(i64, ProducerStateTable)> {
        let mut lines = text.lines();
        if lines.next()? != SNAPSHOT_HEADER {
            return None;
        }
        let offset: i64 = lines.next()?.parse().ok()?;
        let mut table = ProducerStateTable::default();
        for (count, line) in lines.enumerate() {
            if let Some(n) = line.strip_prefix("end ") {
                return (n.parse::<usize>().ok()? == count).then_some((offset, table));
            }
            let f: Vec<i64> = line.split(' ').map(str::parse).collect::<Result<_, _>>().ok()?;
            let [pid, epoch, first_seq, last_seq, base_offset, last_offset, timestamp] = f[..] else { return None };
            let entry = table.producers.entry(pid).or_default();
            entry.epoch = i16::try_from(epoch).ok()?;
            if entry.batches.len() == BATCHES_REMEMBERED {
                return None;
            }
            entry.batches.push_back(BatchMeta {
                first_seq: i32::try_from(first_seq).ok()?,
                last_seq: i32::try_from(last_seq).ok()?,
                base_offset,
                last_offset,
                timestamp,
            });
        }
        None
    }

    /// Records a batch that was appended (or found in the log on load).
    pub(super) fn record(&mut self, header: &BatchHeader, timestamp: i64) {
        if !header.has_producer_id() || header.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_REMEMBERED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: header.base_sequence,
            last_seq: header.last_sequence(),
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{BatchHeader, set_base_offset, tests::sample_batch};

    fn header(count: i32, pid: i64, seq: i32, base: i64) -> BatchHeader {
        let mut b = sample_batch(count, 0, pid, seq);
        set_base_offset(&mut b, base);
        BatchHeader::parse(&b).unwrap()
    }

    #[test]
    fn a_snapshot_reads_back_whole_or_not_at_all() {
        let mut t = ProducerStateTable::default();
        for i in 0..7 {
            t.record(&header(2, 9, i * 2, i64::from(i) * 2), 5);
        }
        t.record(&header(1, 4, 0, 14), 6);
        let text = t.snapshot(15);
        let (offset, back) = ProducerStateTable::from_snapshot(&text).unwrap();
        assert_eq!(offset, 15);
        assert_eq!(back.snapshot(15), text);
        assert_eq!(back.check(&header(2, 9, 12, 99)), SequenceCheck::Duplicate { base_offset: 12, timestamp: 5 });
        let cut = &text[..text.len() - 8];
        assert!(ProducerStateTable::from_snapshot(cut).is_none(), "cut short");
        assert!(ProducerStateTable::from_snapshot(&text.replace("end 6", "end 5")).is_none());
        assert!(ProducerStateTable::from_snapshot("garbage").is_none());
    }

    #[test]
    fn producers_idle_past_the_expiration_are_forgotten_unless_kept() {
        let mut t = ProducerStateTable::default();
        t.record(&header(2, 9, 0, 0), 1_000);
        t.record(&header(2, 10, 0, 2), 1_000);
        t.record(&header(2, 11, 0, 4), 5_000);
        assert_eq!(t.expire(5_999, 5_000, |_| false), 0, "not yet");
        assert_eq!(t.expire(6_000, 5_000, |pid| pid == 10), 1, "9 goes; 10 has a transaction open");
        assert_eq!(t.check(&header(2, 9, 42, 99)), SequenceCheck::Append, "9 is new again");
        assert_eq!(t.check(&header(2, 10, 0, 99)), SequenceCheck::Duplicate { base_offset: 2, timestamp: 1_000 });
        assert_eq!(t.check(&header(2, 11, 0, 99)), SequenceCheck::Duplicate { base_offset: 4, timestamp: 5_000 });
    }

    #[test]
    fn duplicates_and_gaps() {
        let mut t = ProducerStateTable::default();
        let b0 = header(3, 9, 0, 0);
        assert_eq!(t.check(&b0), SequenceCheck::Append);
        t.record(&b0, 1);
        let b1 = header(2, 9, 3, 3);
        assert_eq!(t.check(&b1), SequenceCheck::Append);
        t.record(&b1, 1);
        assert_eq!(t.check(&header(3, 9, 0, 99)), SequenceCheck::Duplicate { base_offset: 0, timestamp: 1 });
        assert_eq!(t.check(&header(1, 9, 7, 99)), SequenceCheck::OutOfOrder { expected: 5, got: 7 });
        assert_eq!(t.check(&header(1, 9, 5, 99)), SequenceCheck::Append);
        assert_eq!(t.check(&header(1, 10, 42, 99)), SequenceCheck::Append, "unknown producer");
    }

    #[test]
    fn five_batches_in_flight_are_remembered_and_a_bumped_epoch_restarts_at_zero() {
        let mut t = ProducerStateTable::default();
        for i in 0..6 {
            let b = header(2, 9, i * 2, i64::from(i) * 2);
            assert_eq!(t.check(&b), SequenceCheck::Append);
            t.record(&b, 1);
        }
        // A client with 5 requests in flight may retry any of the last 5 batches.
        for i in 1..6 {
            assert_eq!(
                t.check(&header(2, 9, i * 2, 99)),
                SequenceCheck::Duplicate { base_offset: i64::from(i) * 2, timestamp: 1 }
            );
        }
        // The sixth-from-last has been forgotten: it can no longer be told from a gap.
        assert_eq!(t.check(&header(2, 9, 0, 99)), SequenceCheck::OutOfOrder { expected: 12, got: 0 });

        // KIP-360: after InitProducerId bumps the epoch, sequences restart at 0 and the old
        // epoch is fenced.
        let mut bumped = header(2, 9, 0, 12);
        bumped.producer_epoch = 1;
        assert_eq!(t.check(&bumped), SequenceCheck::Append);
        let mut not_from_zero = bumped;
        not_from_zero.base_sequence = 4;
        assert_eq!(t.check(&not_from_zero), SequenceCheck::OutOfOrder { expected: 0, got: 4 });
        t.record(&bumped, 2);
        assert_eq!(t.check(&header(2, 9, 12, 99)), SequenceCheck::FencedEpoch { current: 1, got: 0 });
        assert_eq!(t.check(&bumped), SequenceCheck::Duplicate { base_offset: 12, timestamp: 2 });
    }
}
