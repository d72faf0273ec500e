//! The bundled broker, started in-process on the binding's runtime.

use ferrokafka_broker::{Broker, BrokerConfig};
use pyo3::prelude::*;

use crate::errors::broker_to_py;
use crate::runtime::{Owner, block_on};

#[pyclass(module = "ferrokafka._native")]
pub(crate) struct NativeBroker {
    broker: Option<Broker>,
    bootstrap: String,
    local_addr: String,
    schema_registry_url: Option<String>,
    owner: Owner,
}

#[pymethods]
impl NativeBroker {
    /// Starts a broker and returns once clients can connect. Settings apply as the binary
    /// applies its options: `config_file` (TOML, Kafka names) first, then `settings` (Kafka
    /// names), then `listen`, `data_dir` and `advertised_listener` when given.
    #[new]
    #[pyo3(signature = (listen=None, data_dir=None, settings=Vec::new(), config_file=None, advertised_listener=None))]
    fn new(
        py: Python<'_>,
        listen: Option<String>,
        data_dir: Option<String>,
        settings: Vec<(String, String)>,
        config_file: Option<String>,
        advertised_listener: Option<String>,
    ) -> PyResult<Self> {
        let mut config = BrokerConfig::default();
        // In-process, the Schema Registry is on unless a setting turns it off (an empty value).
        config.set("schema.registry.listeners", "127.0.0.1:0").map_err(broker_to_py)?;
        if let Some(path) = config_file {
            config.apply_file(std::path::Path::new(&path)).map_err(broker_to_py)?;
        }
        for (k, v) in &settings {
            config.set(k, v).map_err(broker_to_py)?;
        }
        if let Some(listen) = listen {
            config.listen = listen;
        }
        if let Some(dir) = data_dir {
            config.data_dir = dir.into();
        }
        if let Some(advertised) = advertised_listener {
            config.advertised_listener = Some(advertised);
        }
        let broker = block_on(py, Broker::start(config)).map_err(broker_to_py)?;
        Ok(NativeBroker {
            bootstrap: broker.bootstrap(),
            local_addr: broker.local_addr().to_string(),
            schema_registry_url: broker.schema_registry_url().map(str::to_owned),
            broker: Some(broker),
            owner: Owner::here("Broker"),
        })
    }

    /// `host:port` for clients' `bootstrap.servers` (the advertised listener, if set).
    #[getter]
    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The address the listener is bound to (what the binary prints when ready).
    #[getter]
    fn local_addr(&self) -> String {
        self.local_addr.clone()
    }

    /// The Schema Registry's URL (`http://host:port`); `None` when it is turned off.
    #[getter]
    fn schema_registry_url(&self) -> Option<String> {
        self.schema_registry_url.clone()
    }

    /// Flushes and closes every log; idempotent.
    fn stop(&mut self, py: Python<'_>) -> PyResult<()> {
        self.owner.check()?;
        match self.broker.take() {
            Some(b) => block_on(py, b.shutdown()).map_err(broker_to_py),
            None => Ok(()),
        }
    }
}

/// Sends the core's and the broker's logs (`tracing`) to stderr at `level` (error, warn,
/// info, debug, trace), as the broker binary does; for `python -m ferrokafka.broker`.
#[pyfunction]
pub(crate) fn init_logging(level: &str) -> PyResult<()> {
    let level: tracing::Level = level.parse().map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "log level {level:?}: expected error, warn, info, debug or trace"
        ))
    })?;
    // A second call keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).try_init();
    Ok(())
}
