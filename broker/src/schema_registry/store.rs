//! The registry's durable state: the compacted topic `_schemas`, one partition, written as
//! Confluent's Schema Registry writes it (JSON keys such as
//! `{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}` and JSON values; a tombstone
//! deletes permanently), so its records read the same as theirs. Each write is appended and
//! fsynced before the request is answered; at start the topic is read from the beginning.
//! Records that other clients produce to the topic are read at the next start only.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::{RegistryError, RegistryResult};
use crate::error::Result;
use crate::log::state_log;
use crate::server::BrokerState;
use crate::topics::{Partition, TopicRegistry};
use ferrokafka_schema::Reference;

/// The topic, by the name Confluent's and Redpanda's registries use.
pub(crate) const TOPIC: &str = "_schemas";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum StoreKey {
    Schema { subject: String, version: i32, magic: i32 },
    Config { subject: Option<String>, magic: i32 },
    Mode { subject: Option<String>, magic: i32 },
    DeleteSubject { subject: String, magic: i32 },
    ClearSubject { subject: String, magic: i32 },
    Noop { magic: i32 },
}

impl StoreKey {
    pub(crate) fn schema(subject: &str, version: i32) -> Self {
        StoreKey::Schema { subject: subject.to_owned(), version, magic: 1 }
    }
    pub(crate) fn config(subject: Option<&str>) -> Self {
        StoreKey::Config { subject: subject.map(str::to_owned), magic: 0 }
    }
    pub(crate) fn mode(subject: Option<&str>) -> Self {
        StoreKey::Mode { subject: subject.map(str::to_owned), magic: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SchemaValue {
    pub(crate) subject: String,
    pub(crate) version: i32,
    pub(crate) id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) references: Vec<Reference>,
    pub(crate) schema: String,
    #[serde(default)]
    pub(crate) deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigValue {
    pub(crate) compatibility_level: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ModeValue {
    pub(crate) mode: String,
}

/// One record to write: a key and its value as JSON, or `None` for a tombstone.
pub(crate) type StoreRecord = (StoreKey, Option<serde_json::Value>);

/// The records `_schemas` held at start, in order.
pub(crate) type Recovered = Vec<(Bytes, Option<Bytes>)>;

/// Reads `_schemas`, if it exists. Blocking.
pub(crate) fn recover(topics: &TopicRegistry) -> Result<Recovered> {
    let mut records = Vec::new();
    let Some(partition) = topics.get(TOPIC).and_then(|t| t.partition(0)) else {
        return Ok(records);
    };
    partition.with_log(|log| {
        state_log::replay(log, TOPIC, |k, v| {
            if let Some(k) = k {
                records.push((Bytes::copy_from_slice(k), v.map(Bytes::copy_from_slice)));
            }
            Ok(())
        })
    })?;
    Ok(records)
}

/// Writes to `_schemas`, created (compacted, one partition) by the first write, so a broker
/// whose registry is never used has no such topic.
#[derive(Debug)]
pub(crate) struct SchemaStore {
    broker: Arc<BrokerState>,
}

impl SchemaStore {
    pub(crate) fn new(broker: Arc<BrokerState>) -> Self {
        SchemaStore { broker }
    }

    fn partition(&self) -> Result<Arc<Partition>> {
        let topics = &self.broker.topics;
        let topic = match topics.get(TOPIC) {
            Some(t) => t,
            None => {
                let configs = BTreeMap::from([("cleanup.policy".to_owned(), "compact".to_owned())]);
                match topics.create(TOPIC, 1, configs, false) {
                    Ok(t) => t,
                    // Created meanwhile (by a client's CreateTopics).
                    Err(crate::error::Error::TopicAlreadyExists(_)) => topics.get(TOPIC).ok_or_else(|| {
                        crate::error::Error::Config(format!("topic {TOPIC} vanished while being created"))
                    })?,
                    Err(e) => return Err(e),
                }
            }
        };
        if !topic.log_config().cleanup_policy.compact {
            tracing::warn!(
                "schema registry: topic {TOPIC} is not compacted (cleanup.policy=compact); retention may delete schemas"
            );
        }
        topic.partition(0).ok_or_else(|| crate::error::Error::Config(format!("topic {TOPIC} has no partition 0")))
    }

    /// Appends `records` in one batch and fsyncs it.
    pub(crate) fn write(&self, records: &[StoreRecord]) -> RegistryResult<()> {
        let json = |v: serde_json::Result<Vec<u8>>| v.map(Bytes::from).map_err(|e| RegistryError::store(e.to_string()));
        let mut entries = Vec::with_capacity(records.len());
        for (key, value) in records {
            let value = match value {
                Some(v) => Some(json(serde_json::to_vec(v))?),
                None => None,
            };
            entries.push((json(serde_json::to_vec(key))?, value));
        }
        let batch = state_log::encode(entries, TOPIC).map_err(|e| RegistryError::store(e.to_string()))?;
        let partition = self.partition().map_err(|e| RegistryError::store(e.to_string()))?;
        partition
            .with_log(|log| {
                let now = crate::log::now_ms();
                log.append(&batch, now)?;
                log.flush(now).map_err(crate::error::Error::io(format!("flushing {TOPIC}")))?;
                Ok(())
            })
            .map_err(|e| RegistryError::store(e.to_string()))?;
        partition.wake_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_as_confluent_writes_them() {
        let key = serde_json::to_string(&StoreKey::schema("s", 3)).unwrap();
        assert_eq!(key, r#"{"keytype":"SCHEMA","subject":"s","version":3,"magic":1}"#);
        let key = serde_json::to_string(&StoreKey::config(None)).unwrap();
        assert_eq!(key, r#"{"keytype":"CONFIG","subject":null,"magic":0}"#);
        let parsed: StoreKey = serde_json::from_str(r#"{"keytype":"NOOP","magic":0}"#).unwrap();
        assert_eq!(parsed, StoreKey::Noop { magic: 0 });
    }
}
