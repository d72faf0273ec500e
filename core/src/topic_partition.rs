//! [`TopicPartition`] names a partition of a topic; [`TopicPartitionOffset`] is an offset in
//! one, as commits store it.

use std::fmt;

/// A topic and one of its partitions. Ordered by topic, then partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }

    /// This partition at `offset`, without metadata.
    pub fn with_offset(self, offset: i64) -> TopicPartitionOffset {
        TopicPartitionOffset { topic_partition: self, offset, metadata: None }
    }
}

/// `topic-3`, as Kafka's Java client prints a partition.
impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

impl From<(String, i32)> for TopicPartition {
    fn from((topic, partition): (String, i32)) -> Self {
        TopicPartition { topic, partition }
    }
}

impl From<(&str, i32)> for TopicPartition {
    fn from((topic, partition): (&str, i32)) -> Self {
        TopicPartition::new(topic, partition)
    }
}

impl From<TopicPartition> for (String, i32) {
    fn from(tp: TopicPartition) -> Self {
        (tp.topic, tp.partition)
    }
}

/// An offset of a partition as Kafka commits it: the next offset to read (one past the last
/// record processed), with optional metadata stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitionOffset {
    pub topic_partition: TopicPartition,
    /// The next offset to read.
    pub offset: i64,
    pub metadata: Option<String>,
}

impl TopicPartitionOffset {
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        TopicPartition::new(topic, partition).with_offset(offset)
    }

    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    pub fn topic(&self) -> &str {
        &self.topic_partition.topic
    }

    pub fn partition(&self) -> i32 {
        self.topic_partition.partition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_sorts_as_kafka_and_the_tuple_do() {
        assert_eq!(TopicPartition::new("events", 3).to_string(), "events-3");
        let mut tps: Vec<TopicPartition> =
            [("b", 0), ("a", 10), ("a", 2)].into_iter().map(TopicPartition::from).collect();
        tps.sort();
        let tuples: Vec<(String, i32)> = tps.into_iter().map(Into::into).collect();
        assert_eq!(tuples, [("a".into(), 2), ("a".into(), 10), ("b".into(), 0)]);
    }

    #[test]
    fn an_offset_carries_its_partition_and_metadata() {
        let o = TopicPartitionOffset::new("t", 1, 42).with_metadata("m");
        assert_eq!((o.topic(), o.partition(), o.offset, o.metadata.as_deref()), ("t", 1, 42, Some("m")));
        assert_eq!(TopicPartition::from(("t".to_string(), 1)).with_offset(42), TopicPartitionOffset::new("t", 1, 42));
    }
}
