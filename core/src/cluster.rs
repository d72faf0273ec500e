//! What the client knows of the cluster: brokers, topic partitions and their leaders, and one
//! connection per broker. Metadata is refreshed on demand (unknown topic, a leader error, a
//! dropped connection) and when older than `metadata.max.age.ms`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Mutex;

use crate::backoff::ReconnectBackoff;
use crate::config::ClientConfig;
use crate::connection::{BrokerConnection, ConnectionSettings};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub(crate) struct TopicMetadata {
    /// Leader node id per partition index (-1 while leaderless).
    pub(crate) leaders: Vec<i32>,
    /// Fetch v13+ names topics by id.
    pub(crate) id: uuid::Uuid,
}

#[derive(Debug, Default)]
struct Snapshot {
    brokers: HashMap<i32, String>,
    topics: HashMap<String, TopicMetadata>,
    /// The error the last Metadata gave for a topic it did not describe (e.g.
    /// TOPIC_AUTHORIZATION_FAILED), reported instead of a generic "unknown topic".
    topic_errors: HashMap<String, i16>,
    refreshed: Option<Instant>,
}

/// The connection to one broker address, once made; locked while connecting.
type ConnectionSlot = Arc<Mutex<Option<Arc<BrokerConnection>>>>;

#[derive(Debug)]
pub(crate) struct Cluster {
    /// Whether Metadata lookups ask the broker to create unknown topics (producers and
    /// consumers, as Kafka's clients do; never the admin client).
    auto_create: bool,
    bootstrap: Vec<String>,
    settings: ConnectionSettings,
    max_age: Duration,
    retry_backoff: Duration,
    snapshot: std::sync::RwLock<Snapshot>,
    /// One slot per broker address. Connecting happens under the slot's own async lock, so two
    /// callers never open two connections to one broker, while a slow connect (TCP, TLS,
    /// SASL) to one broker holds up no request to the others; the map's lock is held only to
    /// find or add a slot.
    connections: std::sync::Mutex<HashMap<String, ConnectionSlot>>,
    backoff: ReconnectBackoff,
}

impl Cluster {
    pub(crate) fn new(config: &ClientConfig) -> Result<Arc<Self>> {
        Self::build(config, true)
    }

    /// For the admin client: its lookups never create topics on brokers that auto-create.
    pub(crate) fn without_auto_create(config: &ClientConfig) -> Result<Arc<Self>> {
        Self::build(config, false)
    }

    fn build(config: &ClientConfig, auto_create: bool) -> Result<Arc<Self>> {
        Ok(Arc::new(Cluster {
            auto_create,
            bootstrap: config.bootstrap_servers()?,
            settings: ConnectionSettings {
                client_id: config.get("client.id").unwrap_or("ferrokafka").to_owned(),
                request_timeout: config.duration("request.timeout.ms"),
                connect_timeout: config.duration("socket.connection.setup.timeout.ms"),
                nodelay: config.flag("socket.nagle.disable"),
                security: crate::security::Security::from_config(config)?,
            },
            max_age: config.duration("metadata.max.age.ms"),
            retry_backoff: config.duration("retry.backoff.ms"),
            snapshot: Default::default(),
            connections: std::sync::Mutex::new(HashMap::new()),
            backoff: ReconnectBackoff::new(
                config.duration("reconnect.backoff.ms"),
                config.duration("reconnect.backoff.max.ms"),
            ),
        }))
    }

    /// A connection of its own to `addr`, not shared with fetches (the group coordinator's:
    /// a long-polling fetch must not hold up heartbeats queued behind it on the broker).
    pub(crate) async fn dedicated_connection(&self, addr: &str) -> Result<Arc<BrokerConnection>> {
        self.wait_for_backoff(addr, true).await?;
        self.connect(addr).await
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.settings.request_timeout
    }

    pub(crate) fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// The shared connection to `addr`, opened if there is none. While the broker is backing
    /// off after failed attempts, waits that out (`wait`) or fails at once.
    async fn connection_to(&self, addr: &str, wait: bool) -> Result<Arc<BrokerConnection>> {
        let slot =
            Arc::clone(self.connections.lock().unwrap_or_else(|p| p.into_inner()).entry(addr.to_owned()).or_default());
        if let Some(c) = slot.lock().await.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(c));
        }
        self.wait_for_backoff(addr, wait).await?;
        let mut held = slot.lock().await;
        if let Some(c) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(c));
        }
        let conn = self.connect(addr).await?;
        *held = Some(Arc::clone(&conn));
        Ok(conn)
    }

    async fn wait_for_backoff(&self, addr: &str, wait: bool) -> Result<()> {
        let Some(at) = self.backoff.not_before(addr) else { return Ok(()) };
        if !wait {
            let left = at.saturating_duration_since(tokio::time::Instant::now()).as_millis();
            return Err(Error::Connection {
                broker: addr.to_owned(),
                reason: format!("backing off after failed attempts ({left} ms left)"),
            });
        }
        tokio::time::sleep_until(at).await;
        Ok(())
    }

    async fn connect(&self, addr: &str) -> Result<Arc<BrokerConnection>> {
        match BrokerConnection::connect(addr, self.settings.clone()).await {
            Ok(c) => {
                self.backoff.succeeded(addr);
                Ok(c)
            }
            Err(e) => {
                self.backoff.failed(addr);
                Err(e)
            }
        }
    }

    /// A connection to any broker: known brokers first, then the bootstrap list; brokers
    /// backing off are passed over while another answers.
    pub(crate) async fn any_connection(&self) -> Result<Arc<BrokerConnection>> {
        let known: Vec<String> =
            self.snapshot.read().unwrap_or_else(|p| p.into_inner()).brokers.values().cloned().collect();
        let addrs: Vec<&String> = known.iter().chain(self.bootstrap.iter()).collect();
        for addr in &addrs {
            if let Ok(c) = self.connection_to(addr, false).await {
                return Ok(c);
            }
        }
        // None answered: try again the one whose backoff ends first, once it has; its error
        // is the answer if that fails too. (The bootstrap list is never empty.)
        let soonest = addrs.iter().min_by_key(|a| self.backoff.not_before(a));
        match soonest {
            Some(addr) => self.connection_to(addr, true).await,
            None => Err(Error::Connection { broker: self.bootstrap.join(","), reason: "no brokers".into() }),
        }
    }

    /// Connection to a broker by node id.
    pub(crate) async fn broker(&self, node_id: i32) -> Result<Arc<BrokerConnection>> {
        let addr = self.snapshot.read().unwrap_or_else(|p| p.into_inner()).brokers.get(&node_id).cloned();
        match addr {
            Some(a) => self.connection_to(&a, true).await,
            None => Err(Error::Connection { broker: format!("node {node_id}"), reason: "not in metadata".into() }),
        }
    }

    /// Refreshes metadata for `topics` (all topics when empty), creating them when the broker
    /// auto-creates.
    pub(crate) async fn refresh(&self, topics: &[String]) -> Result<()> {
        let conn = self.any_connection().await?;
        let req = MetadataRequest::default().with_allow_auto_topic_creation(self.auto_create).with_topics(
            if topics.is_empty() {
                None
            } else {
                Some(
                    topics
                        .iter()
                        .map(|t| {
                            MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                        })
                        .collect(),
                )
            },
        );
        let resp = conn.send(&req).await?;
        let mut snap = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        for b in &resp.brokers {
            snap.brokers.insert(b.node_id.0, format!("{}:{}", b.host, b.port));
        }
        for t in resp.topics {
            let Some(name) = t.name else { continue };
            if t.error_code != 0 {
                snap.topics.remove(name.0.as_str());
                snap.topic_errors.insert(name.0.to_string(), t.error_code);
                continue;
            }
            snap.topic_errors.remove(name.0.as_str());
            let mut leaders = vec![-1; t.partitions.len()];
            for p in &t.partitions {
                if let Some(slot) = usize::try_from(p.partition_index).ok().and_then(|i| leaders.get_mut(i)) {
                    *slot = if p.error_code == 0 { p.leader_id.0 } else { -1 };
                }
            }
            snap.topics.insert(name.0.to_string(), TopicMetadata { leaders, id: t.topic_id });
        }
        snap.refreshed = Some(Instant::now());
        Ok(())
    }

    /// Every topic the cluster has (internal ones excluded) with its partition count, fresh.
    pub(crate) async fn all_topics(&self) -> Result<std::collections::BTreeMap<String, usize>> {
        let conn = self.any_connection().await?;
        let resp =
            conn.send(&MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false)).await?;
        Ok(resp
            .topics
            .iter()
            .filter(|t| t.error_code == 0 && !t.is_internal)
            .filter_map(|t| Some((t.name.as_ref()?.0.to_string(), t.partitions.len())))
            .collect())
    }

    fn cached(&self, topic: &str) -> Option<TopicMetadata> {
        let snap = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
        let fresh = snap.refreshed.is_some_and(|t| t.elapsed() < self.max_age);
        if fresh { snap.topics.get(topic).cloned() } else { None }
    }

    /// Metadata of one topic, refreshing when unknown or stale.
    pub(crate) async fn topic(&self, topic: &str) -> Result<TopicMetadata> {
        if let Some(t) = self.cached(topic) {
            return Ok(t);
        }
        self.refresh(&[topic.to_owned()]).await?;
        let snap = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
        snap.topics.get(topic).cloned().ok_or_else(|| match snap.topic_errors.get(topic) {
            Some(&code) if code == ResponseError::TopicAuthorizationFailed.code() => {
                Error::from_code(code, None, format!("metadata for {topic}"))
            }
            _ => Error::kafka(ResponseError::UnknownTopicOrPartition, None, format!("metadata for {topic}")),
        })
    }

    /// The names of topics known by id (KIP-848 assignments name topics by id); ids not in
    /// the cached metadata are left out.
    pub(crate) fn names_of(&self, ids: &[uuid::Uuid]) -> std::collections::HashMap<uuid::Uuid, String> {
        let snap = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
        snap.topics.iter().filter(|(_, t)| ids.contains(&t.id)).map(|(name, t)| (t.id, name.clone())).collect()
    }

    /// Forgets what is known of `topic`, so the next lookup refreshes it.
    pub(crate) fn invalidate(&self, topic: &str) {
        self.snapshot.write().unwrap_or_else(|p| p.into_inner()).topics.remove(topic);
    }

    /// The leader's connection for a partition.
    pub(crate) async fn leader(&self, topic: &str, partition: i32) -> Result<(i32, Arc<BrokerConnection>)> {
        let mut meta = self.topic(topic).await?;
        if partition >= 0 && partition as usize >= meta.leaders.len() {
            // Partitions may have been added since the cached metadata.
            self.invalidate(topic);
            meta = self.topic(topic).await?;
        }
        let leader = usize::try_from(partition)
            .ok()
            .and_then(|i| meta.leaders.get(i).copied())
            .ok_or_else(|| Error::UnknownTopicOrPartition(format!("{topic}-{partition}")))?;
        if leader < 0 {
            self.invalidate(topic);
            return Err(Error::kafka(ResponseError::LeaderNotAvailable, None, format!("{topic}-{partition}")));
        }
        Ok((leader, self.broker(leader).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker that takes a long time to answer (TCP accepted, no ApiVersions reply) must not
    /// hold up connecting to another one.
    #[tokio::test]
    async fn a_slow_connect_to_one_broker_does_not_stall_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let config = ferrokafka_broker::BrokerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let broker = ferrokafka_broker::Broker::start(config).await.unwrap();
        // Accepts connections (the kernel's backlog) and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap().to_string();
        let cluster = Cluster::new(
            &ClientConfig::from_pairs([
                ("bootstrap.servers", broker.bootstrap().as_str()),
                ("socket.connection.setup.timeout.ms", "30000"),
                ("request.timeout.ms", "30000"),
            ])
            .unwrap(),
        )
        .unwrap();
        let stuck = {
            let cluster = Arc::clone(&cluster);
            tokio::spawn(async move { cluster.connection_to(&silent_addr, true).await.map(drop) })
        };
        // Let the stuck connect take its slot first.
        tokio::task::yield_now().await;
        let live = tokio::time::timeout(Duration::from_secs(5), cluster.connection_to(&broker.bootstrap(), true)).await;
        assert!(matches!(live, Ok(Ok(_))), "the live broker is reached while the other connect hangs");
        assert!(!stuck.is_finished(), "the silent broker's connect is still waiting");
        stuck.abort();
        broker.shutdown().await.unwrap();
    }
}
