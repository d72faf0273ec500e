//! The broker handle: binds the listener, accepts connections, runs the background jobs
//! (flushing, retention) and shuts everything down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::group::GroupCoordinator;
use crate::producer_ids::ProducerIdAllocator;
use crate::topics::TopicRegistry;

/// State shared by every connection. Mutable parts carry their own locks.
#[derive(Debug)]
pub(crate) struct BrokerState {
    pub(crate) config: BrokerConfig,
    pub(crate) topics: TopicRegistry,
    pub(crate) producer_ids: ProducerIdAllocator,
    pub(crate) groups: GroupCoordinator,
    pub(crate) acls: crate::security::acl::Authorizer,
    pub(crate) cluster_id: String,
    /// Host and port that Metadata reports to clients of the first listener.
    pub(crate) advertised: (String, i32),
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A running broker. Dropping it without [`Broker::shutdown`] stops accepting but skips the
/// clean-shutdown flush (the next start then recovers the logs).
#[derive(Debug)]
pub struct Broker {
    addr: SocketAddr,
    listeners: Vec<(Arc<Listener>, SocketAddr)>,
    state: Arc<BrokerState>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    /// Compacts `cleanup.policy=compact` topics, unless `log.cleaner.enable=false`.
    cleaner: Option<crate::log_cleaner::LogCleaner>,
}

fn load_cluster_id(config: &BrokerConfig) -> Result<String> {
    let path = config.data_dir.join("cluster-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_owned());
        }
    }
    // Kafka cluster ids are a base64url UUID (22 characters).
    let id: String = uuid::Uuid::new_v4().simple().to_string().chars().take(22).collect();
    std::fs::write(&path, &id).map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(id)
}

impl Broker {
    /// Opens the data directory (recovering logs after an unclean stop), binds the listener
    /// and starts serving. Returns once clients can connect.
    pub async fn start(config: BrokerConfig) -> Result<Broker> {
        let open_config = config.clone();
        let (topics, cluster_id, producer_ids, (groups, group_task), acls) =
            tokio::task::spawn_blocking(move || -> Result<_> {
                let topics = TopicRegistry::open(&open_config.data_dir, open_config.log.clone())?;
                let cluster_id = load_cluster_id(&open_config)?;
                let producer_ids = ProducerIdAllocator::open(&open_config.data_dir)?;
                let groups =
                    GroupCoordinator::open(&open_config.data_dir, &open_config.log, open_config.groups.clone())?;
                let acls = crate::security::acl::Authorizer::open(&open_config.authorizer, &open_config.data_dir)?;
                Ok((topics, cluster_id, producer_ids, groups, acls))
            })
            .await
            .map_err(|e| Error::Config(format!("startup task failed: {e}")))??;

        let specs = config.listener_specs()?;
        let mut bound = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            let socket = TcpListener::bind(&spec.addr)
                .await
                .map_err(|source| Error::Bind { addr: spec.addr.clone(), source })?;
            let addr = socket.local_addr().map_err(|source| Error::Bind { addr: spec.addr.clone(), source })?;
            let listener = Listener {
                advertised: config.advertised_for(&spec.name, index, addr),
                tls: match spec.protocol.tls() {
                    true => Some(config.tls.server_config(config.listener_client_auth.get(&spec.name).copied())?),
                    false => None,
                },
                name: spec.name,
                protocol: spec.protocol,
            };
            bound.push((socket, Arc::new(listener), addr));
        }
        let addr = bound[0].2;
        let advertised = bound[0].1.advertised.clone();
        let (stop, shutdown) = watch::channel(false);
        let state =
            Arc::new(BrokerState { config, topics, producer_ids, groups, acls, cluster_id, advertised, shutdown });

        let mut tasks = JoinSet::new();
        tasks.spawn(group_task.run(state.shutdown.clone(), flush_interval(&state.config)));
        let mut listeners = Vec::with_capacity(bound.len());
        for (socket, listener, addr) in bound {
            tracing::info!(listener = %listener.name, protocol = listener.protocol.name(), %addr, "listening");
            tasks.spawn(accept_loop(socket, Arc::clone(&listener), Arc::clone(&state)));
            listeners.push((listener, addr));
        }
        tasks.spawn(maintenance_loop(Arc::clone(&state)));
        let cleaner = match state.config.cleaner.enable {
            true => {
                let st = Arc::clone(&state);
                let cleaner =
                    crate::log_cleaner::LogCleaner::start(&state.config.cleaner, move || st.topics.all_partitions())
                        .map_err(Error::io("starting the log cleaner threads"))?;
                Some(cleaner)
            }
            false => None,
        };
        tracing::info!(%addr, data_dir = %state.config.data_dir.display(), "broker started");
        Ok(Broker { addr, listeners, state, stop, tasks, cleaner })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every listener's name and bound address, in `listeners` order.
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.iter().map(|(l, a)| (l.name.clone(), *a)).collect()
    }

    /// The address listener `name` (e.g. `SASL_SSL`) is bound to.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|(l, _)| l.name.eq_ignore_ascii_case(name)).map(|(_, a)| *a)
    }

    /// `host:port` for a client's `bootstrap.servers` on listener `name`.
    pub fn bootstrap_for(&self, name: &str) -> Option<String> {
        self.listeners
            .iter()
            .find(|(l, _)| l.name.eq_ignore_ascii_case(name))
            .map(|(l, _)| format!("{}:{}", l.advertised.0, l.advertised.1))
    }

    /// `host:port` for a client's `bootstrap.servers` (the first listener).
    pub fn bootstrap(&self) -> String {
        let (host, port) = &self.state.advertised;
        format!("{host}:{port}")
    }

    /// Stops accepting, closes connections and flushes every log, marking a clean stop.
    /// A log that cannot be flushed (a full or failing disk) is logged and left for the next
    /// start to recover; the shutdown itself still succeeds, having saved what it could.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        // A cleaning in progress is abandoned before the logs close under it.
        if let Some(cleaner) = self.cleaner.take() {
            let _ = tokio::task::spawn_blocking(move || cleaner.stop()).await;
        }
        let state = Arc::clone(&self.state);
        let failed = tokio::task::spawn_blocking(move || state.topics.close())
            .await
            .map_err(|e| Error::Config(format!("shutdown task failed: {e}")))?;
        if failed == 0 {
            tracing::info!("broker stopped cleanly");
        } else {
            tracing::warn!(
                logs = failed,
                "broker stopped; logs that could not be flushed are recovered at the next start"
            );
        }
        Ok(())
    }
}

/// Resolves once shutdown has been signalled.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One listener as connections see it.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) protocol: crate::config::SecurityProtocol,
    /// Host and port that Metadata reports to this listener's clients.
    pub(crate) advertised: (String, i32),
    pub(crate) tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

async fn accept_loop(listener: TcpListener, config: Arc<Listener>, state: Arc<BrokerState>) {
    let mut shutdown = state.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(crate::connection::accept(stream, peer, Arc::clone(&config), Arc::clone(&state)));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Connections see the same shutdown signal and finish their current request.
    while connections.join_next().await.is_some() {}
}

/// How often to look for data due to be flushed.
fn flush_interval(config: &BrokerConfig) -> Duration {
    Duration::from_millis(match config.log.flush_interval_ms {
        ms if ms > 0 => (ms as u64).min(1000),
        _ => 1000,
    })
}

/// Periodic flushing (`log.flush.interval.ms`) and retention, off the request path.
async fn maintenance_loop(state: Arc<BrokerState>) {
    let mut shutdown = state.shutdown.clone();
    let flush_every = flush_interval(&state.config);
    let retention_every = Duration::from_millis(state.config.retention_check_interval_ms);
    let mut flush_tick = tokio::time::interval(flush_every);
    let mut retention_tick = tokio::time::interval(retention_every);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retention_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = flush_tick.tick() => {
                let st = Arc::clone(&state);
                let _ = tokio::task::spawn_blocking(move || {
                    let now = crate::log::now_ms();
                    for p in st.topics.all_partitions() {
                        if let Err(e) = p.with_log(|log| Ok(log.flush_if_due(now)?)) {
                            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
                        }
                    }
                }).await;
            }
            _ = retention_tick.tick() => {
                let st = Arc::clone(&state);
                let _ = tokio::task::spawn_blocking(move || {
                    let now = crate::log::now_ms();
                    for p in st.topics.all_partitions() {
                        match p.with_log(|log| Ok(log.enforce_retention(now)?)) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(topic = %p.topic, partition = p.index, segments = n, "retention deleted segments"),
                            Err(e) => tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed"),
                        }
                    }
                }).await;
            }
        }
    }
}
