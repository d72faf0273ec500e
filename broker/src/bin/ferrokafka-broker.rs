//! `ferrokafka-broker`: runs the broker until SIGINT or SIGTERM, then shuts down cleanly.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrokafka_broker::{Broker, BrokerConfig, config};

fn settings_help() -> String {
    let mut s = String::from("Settings (config file keys, or --set KEY=VALUE):\n");
    for (k, doc) in config::KEYS {
        s.push_str(&format!("  {k:<34} {doc}\n"));
    }
    s.push_str(
        "\nDurability: an acknowledged record (acks=1 or acks=all) has been written to the log\n\
         file, so it survives the broker process crashing or being killed. It reaches stable\n\
         storage at the next flush: by default within log.flush.interval.ms=1000 ms. Set\n\
         log.flush.interval.messages=1 to fsync before acknowledging (slow, survives power loss).\n\n\
         Compaction: topics with cleanup.policy=compact keep the latest record of each key, at its\n\
         offset, in order; tombstones go delete.retention.ms after the cleaning that first saw them;\n\
         records without a key are refused. The log.cleaner.* settings above run the cleaner.",
    );
    s
}

/// A single-node broker speaking the Kafka wire protocol.
#[derive(Parser, Debug)]
#[command(name = "ferrokafka-broker", version, after_help = settings_help())]
struct Args {
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:9092]
    #[arg(long)]
    listen: Option<String>,
    /// Directory for logs and broker metadata [default: ./ferrokafka-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// host:port that Metadata reports to clients [default: the bound address]
    #[arg(long)]
    advertised_listener: Option<String>,
    /// TOML file with settings (Kafka names, e.g. num.partitions = 3)
    #[arg(long)]
    config: Option<PathBuf>,
    /// One setting, KEY=VALUE; may repeat; wins over the config file
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Log level: error, warn, info, debug, trace
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

fn build_config(args: &Args) -> ferrokafka_broker::Result<BrokerConfig> {
    let mut cfg = BrokerConfig::default();
    if let Some(path) = &args.config {
        cfg.apply_file(path)?;
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| ferrokafka_broker::Error::Config(format!("--set {kv:?}: expected KEY=VALUE")))?;
        cfg.set(k.trim(), v)?;
    }
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(a) = &args.advertised_listener {
        cfg.advertised_listener = Some(a.clone());
    }
    Ok(cfg)
}

async fn run(args: Args) -> ferrokafka_broker::Result<()> {
    let broker = Broker::start(build_config(&args)?).await?;
    // One line per extra listener first, so a script that waits for the line below has them.
    for (name, addr) in broker.listeners().into_iter().skip(1) {
        println!("ferrokafka-broker listener {name} on {addr}");
    }
    // Scripts wait for exactly this line (the first listener).
    println!("ferrokafka-broker listening on {}", broker.local_addr());
    if let Some(url) = broker.schema_registry_url() {
        println!("ferrokafka-broker schema-registry on {url}");
    }
    wait_for_signal().await;
    broker.shutdown().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt().with_max_level(args.log_level).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrokafka-broker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrokafka-broker: {e}");
            ExitCode::FAILURE
        }
    }
}
