//! The broker crate's one error type. Every variant that a client can cause maps to the Kafka
//! error code a real broker answers with, in one place: [`Error::kafka_code`].

use kafka_protocol::ResponseError;

use crate::log::batch::BatchError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting in the config file or on the command line is unknown or has a bad value.
    #[error("configuration error: {0}")]
    Config(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    /// A filesystem operation failed; `context` says which.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("invalid record batch: {0}")]
    InvalidBatch(BatchError),
    #[error("corrupt record batch: {0}")]
    CorruptBatch(BatchError),
    #[error("record batch of {size} bytes exceeds max.message.bytes={max}")]
    BatchTooLarge { size: usize, max: usize },
    #[error("out of order sequence number: expected {expected}, got {got}")]
    OutOfOrderSequence { expected: i32, got: i32 },
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch { current: i16, got: i16 },
    /// A record Kafka refuses, e.g. one without a key on a compacted topic.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("produce request carries no records")]
    EmptyProduce,
    /// A transactional batch outside its producer's transaction.
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    #[error("offset {offset} out of range: the log holds offsets {log_start}..{log_end}")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error("unknown topic or partition: {0}")]
    UnknownTopicOrPartition(String),
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: String },
    #[error("topic {0:?} already exists")]
    TopicAlreadyExists(String),
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    #[error("invalid replication factor {0}: this broker has one node")]
    InvalidReplicationFactor(i16),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// The Kafka error a client gets for this error.
    pub fn kafka_code(&self) -> ResponseError {
        match self {
            Error::InvalidBatch(_) | Error::EmptyProduce | Error::InvalidRecord(_) => ResponseError::InvalidRecord,
            Error::CorruptBatch(_) => ResponseError::CorruptMessage,
            Error::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
            Error::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            Error::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            Error::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            Error::InvalidTxnState(_) => ResponseError::InvalidTxnState,
            Error::UnknownTopicOrPartition(_) => ResponseError::UnknownTopicOrPartition,
            Error::InvalidTopic { .. } => ResponseError::InvalidTopicException,
            Error::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            Error::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            Error::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            Error::InvalidConfig(_) | Error::Config(_) => ResponseError::InvalidConfig,
            Error::Bind { .. } | Error::Io { .. } => ResponseError::KafkaStorageError,
        }
    }

    /// The Kafka error code number for this error.
    pub fn code(&self) -> i16 {
        self.kafka_code().code()
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { context: "storage".into(), source }
    }
}
