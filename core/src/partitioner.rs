//! Choosing a partition for a record. The default sends keyed records where the Java client
//! and librdkafka's `murmur2_random` do, so mixed-client producers agree on key placement.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Chooses a partition for a record. Implement it for a custom partitioner.
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// `partitions` is at least 1. `key` is `None` for a null key (distinct from empty).
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> usize;
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

/// The built-in partitioners, by their librdkafka names.
#[derive(Debug)]
pub enum BuiltinPartitioner {
    /// murmur2 for keys; null keys spread at random (Java-compatible keyed placement).
    Murmur2Random,
    /// murmur2 for every key; null keys hash as empty.
    Murmur2,
    Random,
    RoundRobin(AtomicUsize),
}

impl BuiltinPartitioner {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "murmur2_random" => Self::Murmur2Random,
            "murmur2" => Self::Murmur2,
            "random" => Self::Random,
            "round_robin" => Self::RoundRobin(AtomicUsize::new(0)),
            _ => return None,
        })
    }
}

impl Partitioner for BuiltinPartitioner {
    fn partition(&self, _topic: &str, key: Option<&[u8]>, partitions: usize) -> usize {
        match (self, key) {
            (Self::Murmur2Random, Some(k)) | (Self::Murmur2, Some(k)) => murmur2_partition(k, partitions),
            (Self::Murmur2, None) => murmur2_partition(&[], partitions),
            (Self::RoundRobin(next), _) => next.fetch_add(1, Ordering::Relaxed) % partitions,
            (Self::Murmur2Random, None) | (Self::Random, _) => rand::random_range(0..partitions),
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
}
