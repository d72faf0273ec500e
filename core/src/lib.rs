//! `ferrokafka`: a Kafka client on tokio.
//!
//! ```no_run
//! # async fn run() -> ferrokafka::Result<()> {
//! use ferrokafka::{ClientConfig, Producer, ProducerRecord};
//! let config = ClientConfig::from_pairs([("bootstrap.servers", "127.0.0.1:9092"), ("linger.ms", "5")])?;
//! let producer = Producer::new(config)?;
//! let meta = producer.send_and_wait(ProducerRecord::new("events").key("k").value("hello")).await?;
//! println!("stored at {}-{}@{}", meta.topic, meta.partition, meta.offset);
//! # Ok(()) }
//! ```

pub mod admin;
mod backoff;
mod cluster;
pub mod config;
mod connection;
pub mod consumer;
mod coordinator;
pub mod error;
pub mod partitioner;
pub mod producer;
pub mod schema_registry;
mod security;
pub mod serde;
mod topic_partition;

pub use admin::{Admin, NewTopic, OffsetSpec};
pub use config::ClientConfig;
pub use consumer::{
    Consumer, ConsumerGroupMetadata, ConsumerRecord, Offset, PartitionConsumer, RebalanceCommits, RebalanceEvent,
};
pub use error::{Error, Result};
pub use producer::{
    Compression, Delivered, DeliveryFuture, DeliveryReport, DeliveryReports, Producer, ProducerRecord, ProducerStats,
    RecordMetadata, SendOptions,
};
pub use schema_registry::{RegisteredSchema, Schema, SchemaReference, SchemaRegistryClient, SchemaType};
pub use security::{OAuthBearerToken, OAuthBearerTokenProvider};
pub use topic_partition::{TopicPartition, TopicPartitionOffset};
