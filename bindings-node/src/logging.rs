//! kafkajs's `logLevel` over the core's `tracing` records: one stderr subscriber per process,
//! installed by the first `Kafka`; the level in force is the most verbose any `Kafka` asked for.

use std::io;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::OptionalWriter;

use crate::config::logLevel;

static LEVEL: AtomicU8 = AtomicU8::new(0);
static INSTALL: Once = Once::new();

fn kafkajs_level(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 4,
        _ => 5,
    }
}

/// Writes a record to stderr only when its level is enabled now.
struct Gate;

impl<'a> MakeWriter<'a> for Gate {
    type Writer = OptionalWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        OptionalWriter::none()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        if kafkajs_level(meta.level()) <= LEVEL.load(Ordering::Relaxed) {
            OptionalWriter::some(io::stderr())
        } else {
            OptionalWriter::none()
        }
    }
}

/// Enables records down to `level` (never lowers what another `Kafka` enabled).
pub(crate) fn enable(level: &logLevel) {
    let n = match level {
        logLevel::NOTHING => 0,
        logLevel::ERROR => 1,
        logLevel::WARN => 2,
        logLevel::INFO => 4,
        logLevel::DEBUG => 5,
    };
    LEVEL.fetch_max(n, Ordering::Relaxed);
    INSTALL.call_once(|| {
        // Another tracing subscriber may already be installed by the host: keep it.
        let _ = tracing_subscriber::fmt()
            .with_writer(Gate)
            .with_max_level(tracing::Level::DEBUG)
            .with_target(false)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .try_init();
    });
}
