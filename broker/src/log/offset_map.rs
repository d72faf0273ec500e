//! The cleaner's key → last offset map over the dirty part of a log (Kafka's `SkeinMap`).
//!
//! Keys are stored as 128-bit hashes, so the map's size depends on the number of keys, not on
//! their length, and it is bounded by `log.cleaner.dedupe.buffer.size`. The hash is SipHash with
//! keys drawn at random for each map: a producer cannot choose two keys that collide (which
//! would make the cleaner drop the latest value of one of them).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Bytes one entry takes: the 16-byte hash, the offset and the table's overhead at its load factor.
pub(super) const BYTES_PER_ENTRY: usize = 32;

/// The key is already a uniform hash: its low bits index the table.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

#[derive(Debug)]
pub(super) struct OffsetMap {
    entries: HashMap<u128, i64, BuildHasherDefault<PassThrough>>,
    max_entries: usize,
    high: RandomState,
    low: RandomState,
    /// The last offset put in the map; records past it were not mapped.
    latest_offset: i64,
}

impl OffsetMap {
    /// A map using at most about `memory` bytes.
    pub(super) fn new(memory: usize) -> OffsetMap {
        let max_entries = (memory / BYTES_PER_ENTRY).max(1);
        OffsetMap {
            entries: HashMap::default(),
            max_entries,
            high: RandomState::new(),
            low: RandomState::new(),
            latest_offset: -1,
        }
    }

    fn hash(&self, key: &[u8]) -> u128 {
        let hi = self.high.hash_one(key);
        let lo = self.low.hash_one(key);
        (u128::from(hi) << 64) | u128::from(lo)
    }

    /// Records `offset` as the latest of `key`. Offsets are put in increasing order.
    pub(super) fn put(&mut self, key: &[u8], offset: i64) {
        let h = self.hash(key);
        self.entries.insert(h, offset);
        self.latest_offset = offset;
    }

    /// The latest offset of `key`, if the map has seen it.
    pub(super) fn get(&self, key: &[u8]) -> Option<i64> {
        self.entries.get(&self.hash(key)).copied()
    }

    /// Whether a batch of `more` records might not fit.
    pub(super) fn would_overflow(&self, more: usize) -> bool {
        self.entries.len().saturating_add(more) > self.max_entries
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Marks everything up to `offset` as mapped (a batch without keyed records was passed).
    pub(super) fn mapped_through(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_and_knows_when_it_is_full() {
        let mut m = OffsetMap::new(BYTES_PER_ENTRY * 3);
        m.put(b"a", 1);
        m.put(b"b", 2);
        m.put(b"a", 3);
        assert_eq!(m.get(b"a"), Some(3));
        assert_eq!(m.get(b"b"), Some(2));
        assert_eq!(m.get(b"c"), None);
        assert_eq!(m.latest_offset(), 3);
        assert!(!m.would_overflow(1));
        assert!(m.would_overflow(2));
    }
}
