//! Choosing a partition for a record. The default sends keyed records where the Java client
//! and librdkafka's `murmur2_random` do, so mixed-client producers agree on key placement.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Chooses a partition for a record. Implement it for a custom partitioner.
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// `partitions` is at least 1. `key` is `None` for a null key (distinct from empty).
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> usize;

    /// What the producer calls, with the record's approximate size. Sticky partitioners use
    /// the size to decide when to move on; the default ignores it.
    fn partition_record(&self, topic: &str, key: Option<&[u8]>, _size: usize, partitions: usize) -> usize {
        self.partition(topic, key, partitions)
    }
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client picks for a key: `toPositive(murmur2(key)) % n`.
pub fn murmur2_partition(key: &[u8], partitions: usize) -> usize {
    ((murmur2(key) & 0x7fff_ffff) as usize) % partitions
}

/// librdkafka's `consistent` hash: CRC-32 (IEEE) of the key.
pub fn crc32_partition(key: &[u8], partitions: usize) -> usize {
    crc32fast::hash(key) as usize % partitions
}

/// The built-in strategies, by their librdkafka names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// murmur2 for keys (where the Java client puts them); null keys sticky.
    Murmur2Random,
    /// murmur2 for every key; a null key hashes as empty.
    Murmur2,
    /// CRC-32 for keys (librdkafka's default); null keys sticky.
    ConsistentRandom,
    /// Every record to a random partition.
    Random,
    /// Every record to the next partition.
    RoundRobin,
}

/// A built-in partitioner. Records with null keys stick to one partition per topic until
/// `batch.size` bytes have gone there, then move to another at random (KIP-480, KIP-794), so
/// unkeyed traffic fills whole batches instead of many small ones.
#[derive(Debug)]
pub struct BuiltinPartitioner {
    strategy: Strategy,
    sticky_bytes: usize,
    /// Per topic: the sticky partition and the bytes sent to it so far.
    sticky: Mutex<HashMap<String, (usize, usize)>>,
    next: AtomicUsize,
}

impl BuiltinPartitioner {
    /// `murmur2_random`, `murmur2`, `consistent_random`, `random` or `round_robin`.
    pub fn from_name(name: &str) -> Option<Self> {
        let strategy = match name {
            "murmur2_random" => Strategy::Murmur2Random,
            "murmur2" => Strategy::Murmur2,
            "consistent_random" => Strategy::ConsistentRandom,
            "random" => Strategy::Random,
            "round_robin" => Strategy::RoundRobin,
            _ => return None,
        };
        Some(BuiltinPartitioner {
            strategy,
            sticky_bytes: 1_000_000,
            sticky: Mutex::default(),
            next: AtomicUsize::new(0),
        })
    }

    /// Moves unkeyed records to a new partition after this many bytes (`batch.size`).
    pub fn sticky_for(mut self, bytes: usize) -> Self {
        self.sticky_bytes = bytes.max(1);
        self
    }

    fn sticky_partition(&self, topic: &str, size: usize, partitions: usize) -> usize {
        let mut sticky = self.sticky.lock().unwrap_or_else(|p| p.into_inner());
        let entry = sticky.entry(topic.to_owned()).or_insert_with(|| (rand::random_range(0..partitions), 0));
        if entry.0 >= partitions || entry.1 >= self.sticky_bytes {
            // Another partition than the last, when there is one.
            let next =
                if partitions > 1 { (entry.0 + 1 + rand::random_range(0..partitions - 1)) % partitions } else { 0 };
            *entry = (next, 0);
        }
        entry.1 += size;
        entry.0
    }
}

impl Partitioner for BuiltinPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> usize {
        self.partition_record(topic, key, 0, partitions)
    }

    fn partition_record(&self, topic: &str, key: Option<&[u8]>, size: usize, partitions: usize) -> usize {
        match (self.strategy, key) {
            (Strategy::Murmur2Random | Strategy::Murmur2, Some(k)) => murmur2_partition(k, partitions),
            (Strategy::Murmur2, None) => murmur2_partition(&[], partitions),
            (Strategy::ConsistentRandom, Some(k)) => crc32_partition(k, partitions),
            (Strategy::Murmur2Random | Strategy::ConsistentRandom, None) => {
                self.sticky_partition(topic, size, partitions)
            }
            (Strategy::Random, _) => rand::random_range(0..partitions),
            (Strategy::RoundRobin, _) => self.next.fetch_add(1, Ordering::Relaxed) % partitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_clients_murmur2() {
        // Vectors from Apache Kafka's UtilsTest.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn null_keys_stick_until_batch_size_then_move() {
        let p = BuiltinPartitioner::from_name("murmur2_random").unwrap().sticky_for(1000);
        let first = p.partition_record("t", None, 400, 8);
        assert_eq!(p.partition_record("t", None, 400, 8), first);
        assert_eq!(p.partition_record("t", None, 400, 8), first, "800 bytes < 1000: still sticky");
        assert_ne!(p.partition_record("t", None, 400, 8), first, "past batch.size it moves on");
        // Keys are unaffected, and consistent_random is librdkafka's CRC-32 of the key.
        assert_eq!(p.partition_record("t", Some(b"foobar"), 10, 8), murmur2_partition(b"foobar", 8));
        let c = BuiltinPartitioner::from_name("consistent_random").unwrap();
        assert_eq!(c.partition("t", Some(b"123456789"), 1000), 0xCBF4_3926usize % 1000);
    }
}
