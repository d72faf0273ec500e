//! The bundled broker, started in-process on the binding's runtime.

use ferrokafka_broker::{Broker, BrokerConfig};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::runtime::block_on;

fn broker_err(e: ferrokafka_broker::Error) -> PyErr {
    PyRuntimeError::new_err(format!("ferrokafka broker: {e}"))
}

#[pyclass(module = "ferrokafka._native")]
pub(crate) struct NativeBroker {
    broker: Option<Broker>,
    bootstrap: String,
}

#[pymethods]
impl NativeBroker {
    /// Starts a broker; `settings` are broker settings by their Kafka names.
    #[new]
    #[pyo3(signature = (listen, data_dir, settings=Vec::new()))]
    fn new(py: Python<'_>, listen: String, data_dir: String, settings: Vec<(String, String)>) -> PyResult<Self> {
        let mut config = BrokerConfig { listen, data_dir: data_dir.into(), ..Default::default() };
        for (k, v) in &settings {
            config.set(k, v).map_err(broker_err)?;
        }
        let broker = block_on(py, Broker::start(config)).map_err(broker_err)?;
        let bootstrap = broker.bootstrap();
        Ok(NativeBroker { broker: Some(broker), bootstrap })
    }

    #[getter]
    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// Flushes and closes every log; idempotent.
    fn stop(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.broker.take() {
            Some(b) => block_on(py, b.shutdown()).map_err(broker_err),
            None => Ok(()),
        }
    }
}
