//! The background log cleaner (Kafka's `LogCleaner`): `log.cleaner.threads` threads of their
//! own, off the tokio runtime, each picking the dirtiest compacted log no other thread is
//! cleaning, cleaning it (`log::clean`, which holds the partition lock only to snapshot and to
//! swap) and logging what it did. All threads share one I/O budget
//! (`log.cleaner.io.max.bytes.per.second`); with nothing to clean they sleep
//! `log.cleaner.backoff.ms`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::CleanerSettings;
use crate::log::{CleaningOptions, Throttle};
use crate::topics::Partition;

/// A log whose cleaning failed is left alone this long before it is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

type PartitionSource = dyn Fn() -> Vec<Arc<Partition>> + Send + Sync;

#[derive(Default)]
struct Claims {
    /// Partitions a thread is cleaning (by address).
    cleaning: HashSet<usize>,
    failed: HashMap<usize, Instant>,
}

struct Shared {
    stop: AtomicBool,
    throttle: Throttle,
    claims: Mutex<Claims>,
    idle: Condvar,
    options: CleaningOptions,
    backoff: Duration,
    partitions: Arc<PartitionSource>,
}

/// The running cleaner threads; [`LogCleaner::stop`] ends them.
pub(crate) struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for LogCleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCleaner").field("threads", &self.threads.len()).finish()
    }
}

/// Where the broker keeps its cleaner, so that a dynamic change of the cleaner's settings
/// (`log.cleaner.threads`, `.dedupe.buffer.size`, `.io.max.bytes.per.second`, `.backoff.ms`)
/// can restart it with the new ones, as Kafka does. Empty while the cleaner is off.
#[derive(Default)]
pub(crate) struct CleanerSlot(Mutex<Option<Running>>);

struct Running {
    cleaner: LogCleaner,
    settings: CleanerSettings,
    partitions: Arc<PartitionSource>,
}

impl std::fmt::Debug for CleanerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("CleanerSlot").field("cleaner", &running.as_ref().map(|r| &r.cleaner)).finish()
    }
}

impl CleanerSlot {
    /// Starts the cleaner over the partitions `partitions` lists at each pick.
    pub(crate) fn start(
        &self,
        settings: &CleanerSettings,
        partitions: impl Fn() -> Vec<Arc<Partition>> + Send + Sync + 'static,
    ) -> std::io::Result<()> {
        let partitions: Arc<PartitionSource> = Arc::new(partitions);
        let cleaner = LogCleaner::start(settings, Arc::clone(&partitions))?;
        let previous = self.0.lock().unwrap_or_else(|p| p.into_inner()).replace(Running {
            cleaner,
            settings: settings.clone(),
            partitions,
        });
        if let Some(old) = previous {
            old.cleaner.stop();
        }
        Ok(())
    }

    /// Restarts a running cleaner with `settings` when they differ from its own (a cleaning in
    /// progress is abandoned and done again by the new threads). A stopped cleaner stays so.
    pub(crate) fn reconfigure(&self, settings: &CleanerSettings) -> std::io::Result<()> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(running) = slot.as_ref() else { return Ok(()) };
        if running.settings == *settings {
            return Ok(());
        }
        let Running { cleaner, partitions, .. } = slot.take().expect("checked");
        cleaner.stop();
        let cleaner = LogCleaner::start(settings, Arc::clone(&partitions))?;
        tracing::info!(threads = settings.threads, "log cleaner restarted with new settings");
        *slot = Some(Running { cleaner, settings: settings.clone(), partitions });
        Ok(())
    }

    /// Stops the cleaner, waiting for its threads.
    pub(crate) fn stop(&self) {
        let running = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(r) = running {
            r.cleaner.stop();
        }
    }
}

impl LogCleaner {
    /// Starts the threads over the partitions `partitions` lists at each pick.
    fn start(settings: &CleanerSettings, partitions: Arc<PartitionSource>) -> std::io::Result<LogCleaner> {
        let threads = settings.threads.max(1);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            throttle: Throttle::new(settings.io_max_bytes_per_second),
            claims: Mutex::new(Claims::default()),
            idle: Condvar::new(),
            options: CleaningOptions {
                dedupe_buffer_bytes: settings.dedupe_buffer_size / threads,
                ..CleaningOptions::default()
            },
            backoff: Duration::from_millis(settings.backoff_ms),
            partitions,
        });
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let mine = Arc::clone(&shared);
            let handle = std::thread::Builder::new().name(format!("log-cleaner-{i}")).spawn(move || run(&mine));
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    LogCleaner { shared, threads: handles }.stop();
                    return Err(e);
                }
            }
        }
        Ok(LogCleaner { shared, threads: handles })
    }

    /// Stops every thread (a cleaning in progress is abandoned; its files are removed) and
    /// waits for them.
    fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.throttle.wake_all();
        {
            let _claims = self.shared.claims.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.idle.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for LogCleaner {
    fn drop(&mut self) {
        self.halt();
    }
}

fn key(p: &Arc<Partition>) -> usize {
    Arc::as_ptr(p) as usize
}

/// The dirtiest log no thread is cleaning, claimed for this thread.
fn pick(shared: &Shared) -> Option<Arc<Partition>> {
    let now = crate::log::now_ms();
    let mut best: Option<(Arc<Partition>, f64)> = None;
    let candidates = (shared.partitions)();
    let mut claims = shared.claims.lock().unwrap_or_else(|p| p.into_inner());
    claims.failed.retain(|_, at| at.elapsed() < RETRY_AFTER_FAILURE);
    for p in candidates {
        if claims.cleaning.contains(&key(&p)) || claims.failed.contains_key(&key(&p)) {
            continue;
        }
        let Ok(Some(c)) = p.with_log(|log| Ok(log.clean_candidate(now))) else { continue };
        // Overdue logs (max.compaction.lag.ms, expired tombstones) go before any ratio.
        let score = if c.overdue { 2.0 + c.dirty_ratio } else { c.dirty_ratio };
        if best.as_ref().is_none_or(|(_, s)| score > *s) {
            best = Some((p, score));
        }
    }
    let (p, _) = best?;
    claims.cleaning.insert(key(&p));
    Some(p)
}

fn run(shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(p) = pick(shared) else {
            let claims = shared.claims.lock().unwrap_or_else(|p| p.into_inner());
            if !shared.stop.load(Ordering::Relaxed) {
                let _ = shared.idle.wait_timeout(claims, shared.backoff);
            }
            continue;
        };
        let result = p.clean(&shared.options, &shared.throttle, &shared.stop, crate::log::now_ms());
        let mut claims = shared.claims.lock().unwrap_or_else(|p| p.into_inner());
        claims.cleaning.remove(&key(&p));
        match result {
            Ok(Some(s)) => tracing::info!(
                topic = %p.topic,
                partition = p.index,
                bytes_read = s.bytes_read,
                bytes_written = s.bytes_written,
                records_read = s.records_read,
                records_removed = s.records_removed,
                segments_before = s.segments_cleaned,
                segments_after = s.segments_written,
                duration_ms = s.duration.as_millis() as u64,
                mb_per_sec = format!("{:.1}", s.mb_per_sec()),
                "cleaned log"
            ),
            // The log changed under the cleaning, or had nothing after all: wait before the
            // next look rather than spin on it.
            Ok(None) => {
                if !shared.stop.load(Ordering::Relaxed) {
                    let _ = shared.idle.wait_timeout(claims, shared.backoff);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "cleaning failed; the log is left as it was and retried later");
                claims.failed.insert(key(&p), Instant::now());
            }
        }
    }
}
