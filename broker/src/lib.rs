//! `ferrokafka-broker`: a single-node broker that speaks the Kafka wire protocol and keeps
//! each partition in an append-only segmented log on disk.
//!
//! ```no_run
//! # async fn run() -> ferrokafka_broker::Result<()> {
//! let mut config = ferrokafka_broker::BrokerConfig::default();
//! config.listen = "127.0.0.1:0".into();
//! config.data_dir = "/tmp/ferrokafka-data".into();
//! let broker = ferrokafka_broker::Broker::start(config).await?;
//! println!("bootstrap.servers={}", broker.bootstrap());
//! broker.shutdown().await?;
//! # Ok(()) }
//! ```

mod api;
pub mod config;
mod connection;
mod connection_limits;
mod dynamic_config;
pub mod error;
mod group;
pub mod log;
mod log_cleaner;
mod mailbox;
mod producer_ids;
mod schema_registry;
pub mod security;
mod server;
pub mod topics;
mod txn;

pub use config::BrokerConfig;
pub use error::{Error, Result};
pub use server::Broker;
