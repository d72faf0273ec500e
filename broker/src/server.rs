//! The broker handle: binds the listener, accepts connections, runs the background jobs
//! (flushing, retention) and shuts everything down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::BrokerConfig;
use crate::connection_limits::{ConnectionCounts, LogThrottle, Refusal, STORM_LOG_INTERVAL};
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
    pub(crate) txns: crate::txn::TxnCoordinatorHandle,
    pub(crate) acls: crate::security::acl::Authorizer,
    /// SASL users and their SCRAM credentials, as changed through the API.
    pub(crate) credentials: crate::security::credentials::Credentials,
    pub(crate) cluster_id: String,
    /// Host and port that Metadata reports to clients of the first listener.
    pub(crate) advertised: (String, i32),
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Open client connections against `max.connections` and `max.connections.per.ip`.
    pub(crate) connections: Arc<ConnectionCounts>,
    /// Dynamic broker and group configs (`config` is the static config under them).
    pub(crate) dynamic: crate::dynamic_config::DynamicConfigs,
    /// Compacts `cleanup.policy=compact` topics, unless `log.cleaner.enable=false`.
    pub(crate) cleaner: crate::log_cleaner::CleanerSlot,
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
    /// The Schema Registry's URL, when `schema.registry.listeners` is set.
    schema_registry_url: Option<String>,
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
        let (
            topics,
            cluster_id,
            producer_ids,
            (groups, group_task),
            (txns, txn_task),
            acls,
            credentials,
            registry,
            dynamic,
        ) = tokio::task::spawn_blocking(move || -> Result<_> {
            // Dynamic settings apply over the static ones from the start.
            let dynamic = crate::dynamic_config::DynamicConfigs::open(&open_config)?;
            let defaults = dynamic.snapshot().effective.log.clone();
            let topics = TopicRegistry::open(&open_config.data_dir, defaults)?;
            let cluster_id = load_cluster_id(&open_config)?;
            let producer_ids = ProducerIdAllocator::open(&open_config.data_dir)?;
            let groups = crate::group::open(
                &open_config.data_dir,
                &open_config.log,
                open_config.groups.clone(),
                dynamic.group_overrides(),
            )?;
            let txns = crate::txn::TxnCoordinatorHandle::open(
                &open_config.data_dir,
                &open_config.log,
                &open_config.transactions,
            )?;
            let acls = crate::security::acl::Authorizer::open(&open_config.authorizer, &open_config.data_dir)?;
            let credentials =
                crate::security::credentials::Credentials::open(&open_config.users, &open_config.data_dir)?;
            let registry = match open_config.schema_registry_listeners {
                Some(_) => Some(crate::schema_registry::recover(&topics)?),
                None => None,
            };
            Ok((topics, cluster_id, producer_ids, groups, txns, acls, credentials, registry, dynamic))
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
        let connections = ConnectionCounts::new(config.max_connections, config.max_connections_per_ip);
        log_connection_limits(&config);
        let state = Arc::new(BrokerState {
            config,
            topics,
            producer_ids,
            groups,
            txns,
            acls,
            credentials,
            cluster_id,
            advertised,
            shutdown,
            connections,
            dynamic,
            cleaner: Default::default(),
        });

        let registry = match (registry, state.config.schema_registry_listeners.clone()) {
            (Some(recovered), Some(spec)) => Some(crate::schema_registry::bind(&state, &spec, recovered).await?),
            _ => None,
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(run_on_own_thread(
            "ferrokafka-groups",
            group_task.run(state.shutdown.clone(), flush_interval(&state.config)),
        )?);
        tasks.spawn(run_on_own_thread(
            "ferrokafka-txns",
            txn_task.run(state.shutdown.clone(), flush_interval(&state.config)),
        )?);
        // Also finishes, at once, transactions a previous run left prepared.
        let interval = Duration::from_millis(state.config.transactions.abort_check_interval_ms);
        tasks.spawn(crate::txn::abort_loop(Arc::clone(&state), interval));
        let mut listeners = Vec::with_capacity(bound.len());
        for (socket, listener, addr) in bound {
            tracing::info!(listener = %listener.name, protocol = listener.protocol.name(), %addr, "listening");
            tasks.spawn(accept_loop(socket, Arc::clone(&listener), Arc::clone(&state)));
            listeners.push((listener, addr));
        }
        let schema_registry_url = registry.as_ref().map(|r| r.url.clone());
        if let Some(registry) = registry {
            tasks.spawn(registry.serve(state.shutdown.clone()));
        }
        tasks.spawn(maintenance_loop(Arc::clone(&state)));
        if state.config.cleaner.enable {
            // Weak: the cleaner lives in the state it reads the partitions of.
            let st = Arc::downgrade(&state);
            let settings = state.dynamic.snapshot().effective.cleaner.clone();
            state
                .cleaner
                .start(&settings, move || st.upgrade().map(|s| s.topics.all_partitions()).unwrap_or_default())
                .map_err(Error::io("starting the log cleaner threads"))?;
        }
        tracing::info!(%addr, data_dir = %state.config.data_dir.display(), "broker started");
        Ok(Broker { addr, listeners, state, stop, tasks, schema_registry_url })
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

    /// The Schema Registry's URL (`http://host:port`, or `https://`), when
    /// `schema.registry.listeners` is set.
    pub fn schema_registry_url(&self) -> Option<&str> {
        self.schema_registry_url.as_deref()
    }

    /// Stops accepting, closes connections and flushes every log, marking a clean stop.
    /// A log that cannot be flushed (a full or failing disk) is logged and left for the next
    /// start to recover; the shutdown itself still succeeds, having saved what it could.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        // A cleaning in progress is abandoned before the logs close under it.
        let state = Arc::clone(&self.state);
        let _ = tokio::task::spawn_blocking(move || state.cleaner.stop()).await;
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

/// Runs `work` on a thread of its own with a single-threaded runtime, and returns a future that
/// resolves when it is done. For a task that owns state kept on disk (the group coordinator
/// appends and fsyncs its log as it handles each request): its waits on the disk then hold
/// up no connection.
fn run_on_own_thread(
    name: &str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(Error::io(format!("starting the {name} runtime")))?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(work);
            let _ = done_tx.send(());
        })
        .map_err(Error::io(format!("starting the {name} thread")))?;
    Ok(async move {
        let _ = done_rx.await;
    })
}

/// Resolves once shutdown has been signalled.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.state.cleaner.stop();
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
    let mut refused_total = LogThrottle::new(STORM_LOG_INTERVAL);
    let mut refused_per_ip = LogThrottle::new(STORM_LOG_INTERVAL);
    let mut failed_accepts = LogThrottle::new(STORM_LOG_INTERVAL);
    loop {
        // Counts held back by a throttle are logged when due even if the storm has stopped.
        let tail_due =
            [&refused_total, &refused_per_ip, &failed_accepts].into_iter().filter_map(LogThrottle::due).min();
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match state.connections.try_open(peer.ip()) {
                    Ok(slot) => {
                        let _ = stream.set_nodelay(true);
                        let connection =
                            crate::connection::accept(stream, peer, Arc::clone(&config), Arc::clone(&state), slot);
                        connections.spawn(connection);
                    }
                    // Accepted only to be closed at once (dropping the stream), as Kafka does past
                    // `max.connections.per.ip`. Past `max.connections` Kafka stops accepting
                    // instead, and newcomers wait in the listen backlog until their connect times
                    // out; closing tells them at once, and they back off and retry.
                    Err(cap) => {
                        let throttle = match cap {
                            Refusal::MaxConnections => &mut refused_total,
                            Refusal::MaxConnectionsPerIp => &mut refused_per_ip,
                        };
                        if let Some(count) = throttle.record(Instant::now()) {
                            log_refused(&config, &state.config, cap, count, Some(peer));
                        }
                    }
                },
                Err(e) => {
                    let out_of_resources = is_out_of_resources(&e);
                    if let Some(count) = failed_accepts.record(Instant::now()) {
                        log_failed_accepts(&config, count, &e);
                    }
                    // The connection stays queued and accept fails again at once until a
                    // descriptor frees up: back off instead of spinning. Other errors concern
                    // one connection only; the next accept is not held up by them.
                    if out_of_resources {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = tokio::time::sleep_until(tail_due.unwrap_or_else(Instant::now)), if tail_due.is_some() => {
                let now = Instant::now();
                for (cap, throttle) in
                    [(Refusal::MaxConnections, &mut refused_total), (Refusal::MaxConnectionsPerIp, &mut refused_per_ip)]
                {
                    if let Some(count) = throttle.take_due(now) {
                        log_refused(&config, &state.config, cap, count, None);
                    }
                }
                if let Some(count) = failed_accepts.take_due(now) {
                    tracing::warn!(listener = %config.name, count, "accepts failed");
                }
            }
        }
    }
    drop(listener);
    // Connections see the same shutdown signal and finish their current request.
    while connections.join_next().await.is_some() {}
}

/// EMFILE, ENFILE (out of descriptors) and ENOBUFS, ENOMEM: accept fails for every queued
/// connection until something is freed.
fn is_out_of_resources(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

fn log_refused(listener: &Listener, config: &BrokerConfig, cap: Refusal, count: u64, peer: Option<SocketAddr>) {
    let (setting, every) = (cap.setting(), STORM_LOG_INTERVAL.as_secs());
    let limit = match cap {
        Refusal::MaxConnections => config.max_connections,
        Refusal::MaxConnectionsPerIp => config.max_connections_per_ip,
    };
    match peer {
        Some(peer) => tracing::warn!(
            listener = %listener.name, %peer, count, limit,
            "refusing connections: {setting} reached; more refusals are counted and reported every {every} s"
        ),
        None => tracing::warn!(listener = %listener.name, count, limit, "connections refused: {setting} reached"),
    }
}

fn log_failed_accepts(listener: &Listener, count: u64, e: &std::io::Error) {
    let every = STORM_LOG_INTERVAL.as_secs();
    let hint = match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => {
            " (out of file descriptors: raise the open-file limit, ulimit -n, or lower max.connections)"
        }
        _ => "",
    };
    tracing::warn!(
        listener = %listener.name, error = %e, count,
        "accept failed{hint}; more failures are counted and reported every {every} s"
    );
}

/// Says at start how many connections the broker takes, and warns when the open-file limit
/// would run out before `max.connections` is reached (accept then fails with EMFILE instead of
/// refusing cleanly, and the logs compete with clients for descriptors).
fn log_connection_limits(config: &BrokerConfig) {
    let open_files = crate::connection_limits::open_file_limit();
    tracing::info!(
        max_connections = config.max_connections,
        max_connections_per_ip = config.max_connections_per_ip,
        open_file_limit = open_files.map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
        "connection limits"
    );
    if let Some(limit) = open_files {
        if config.max_connections as u64 >= limit {
            tracing::warn!(
                max_connections = config.max_connections,
                open_file_limit = limit,
                "max.connections is not below the open-file limit: a connection storm can exhaust descriptors \
                 the logs need; raise the limit (ulimit -n) or lower max.connections"
            );
        }
    }
}

/// How often to look for data due to be flushed.
fn flush_interval(config: &BrokerConfig) -> Duration {
    Duration::from_millis(match config.log.flush_interval_ms {
        ms if ms > 0 => (ms as u64).min(1000),
        _ => 1000,
    })
}

/// Periodic flushing (`log.flush.interval.ms`), retention and producer-state expiry, off the
/// request path.
async fn maintenance_loop(state: Arc<BrokerState>) {
    let mut shutdown = state.shutdown.clone();
    let flush_every = flush_interval(&state.config);
    let retention_every = Duration::from_millis(state.config.retention_check_interval_ms);
    let mut flush_tick = tokio::time::interval(flush_every);
    let mut retention_tick = tokio::time::interval(retention_every);
    let mut expiry_tick =
        tokio::time::interval(Duration::from_millis(state.config.producer_id_expiration_check_interval_ms));
    expiry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            _ = expiry_tick.tick() => {
                let st = Arc::clone(&state);
                let _ = tokio::task::spawn_blocking(move || {
                    let (now, max_age) = (crate::log::now_ms(), st.config.producer_id_expiration_ms);
                    for p in st.topics.all_partitions() {
                        if let Ok(n @ 1..) = p.with_log(|log| Ok(log.expire_producers(now, max_age))) {
                            tracing::debug!(topic = %p.topic, partition = p.index, producers = n, "producer state expired");
                        }
                    }
                }).await;
            }
        }
    }
}
