//! What keeps a connection storm from taking the broker down: the broker-wide and per-address
//! connection caps (`max.connections`, `max.connections.per.ip`), the open-file limit the first
//! one defaults from, and a throttle so that refusals and failed accepts cost a log line per
//! interval instead of one per connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Kafka's "unlimited" for its connection caps (`Integer.MAX_VALUE`).
pub(crate) const UNLIMITED: usize = i32::MAX as usize;

/// Descriptors the default `max.connections` leaves to everything but client connections: a
/// quarter of the open-file limit, and never fewer than this.
const MIN_RESERVED_FILES: u64 = 64;

/// The process's soft open-file limit (`RLIMIT_NOFILE`), or `None` when it is unlimited or
/// cannot be read.
#[allow(unsafe_code)]
pub(crate) fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the one struct it is given a valid, exclusive pointer to.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let soft: u64 = limit.rlim_cur;
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(soft)
}

/// The default `max.connections`: three quarters of the soft open-file limit.
///
/// Kafka's default is unlimited, which on a small node turns a connection storm into EMFILE
/// everywhere: every segment of every partition holds its log file open, so once clients
/// have taken the last descriptors, rolling a segment or creating a topic fails. Keeping a
/// quarter of the limit (at least [`MIN_RESERVED_FILES`]) back for logs, indexes, listeners
/// and the runtime means a storm is refused at the door instead. The share is a guess that
/// scales with what the operator granted; a node with very many partitions and a low limit
/// should set `max.connections` itself, or raise the limit.
pub(crate) fn default_max_connections() -> usize {
    match open_file_limit() {
        Some(soft) => {
            let reserved = (soft / 4).max(MIN_RESERVED_FILES);
            usize::try_from(soft.saturating_sub(reserved).max(1)).unwrap_or(UNLIMITED).min(UNLIMITED)
        }
        None => UNLIMITED,
    }
}

/// Open client connections, counted across every listener (Kafka's `max.connections` is
/// broker-wide too) and per client address. Shared by the accept loops; each accepted
/// connection owns a [`ConnectionSlot`] that gives its place back when the connection ends.
#[derive(Debug)]
pub(crate) struct ConnectionCounts {
    max_total: usize,
    max_per_ip: usize,
    // One lock over both counts so a connection is never counted in one and refused by the
    // other; it is held for a map update only.
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only addresses with open connections, so the map does not grow with every client seen.
    per_ip: HashMap<IpAddr, usize>,
}

/// Which cap a refused connection hit, named by its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    MaxConnections,
    MaxConnectionsPerIp,
}

impl Refusal {
    pub(crate) fn setting(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max.connections",
            Refusal::MaxConnectionsPerIp => "max.connections.per.ip",
        }
    }
}

impl ConnectionCounts {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnectionCounts { max_total, max_per_ip, open: Mutex::new(Open::default()) })
    }

    /// Counts a new connection from `ip`, or says which cap it would pass.
    pub(crate) fn try_open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        // An IPv4 client reaching a dual-stack listener shows up as ::ffff:a.b.c.d; it is
        // still the same client as over IPv4.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.max_total {
            return Err(Refusal::MaxConnections);
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Refusal::MaxConnectionsPerIp);
        }
        open.per_ip.insert(ip, from_ip + 1);
        open.total += 1;
        Ok(ConnectionSlot { counts: Arc::clone(self), ip })
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        match open.per_ip.get_mut(&ip) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                open.per_ip.remove(&ip);
            }
        }
    }
}

/// One counted connection. Owned by the connection's task, so the place is given back
/// however the task ends (closed by either side, failed, or dropped at shutdown).
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.counts.release(self.ip);
    }
}

/// How often a repeated connection event (a refusal, a failed accept) may be logged.
pub(crate) const STORM_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Decides when a repeated event is worth a log line: the first at once, then at most one
/// line per interval carrying the number of events since the previous line. A storm of
/// thousands of connections a second then costs a line every ten seconds, and the count
/// still says how big it was.
#[derive(Debug)]
pub(crate) struct LogThrottle {
    interval: Duration,
    last_line: Option<Instant>,
    unlogged: u64,
}

impl LogThrottle {
    pub(crate) fn new(interval: Duration) -> Self {
        LogThrottle { interval, last_line: None, unlogged: 0 }
    }

    /// Counts one event; returns the count to log when a line is due now.
    pub(crate) fn record(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        self.take_due(now)
    }

    /// When the events counted since the last line should be logged even if no more come,
    /// so the tail of a storm is reported too.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.last_line.filter(|_| self.unlogged > 0).map(|at| at + self.interval)
    }

    /// The count to log, if there is one and a line is due.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<u64> {
        if self.unlogged == 0 || self.last_line.is_some_and(|at| now < at + self.interval) {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_address_and_in_total_and_come_back_on_drop() {
        let counts = ConnectionCounts::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = counts.try_open(a).unwrap();
        let _a2 = counts.try_open(a).unwrap();
        assert_eq!(counts.try_open(a).unwrap_err(), Refusal::MaxConnectionsPerIp);
        // The same client over a dual-stack listener.
        assert_eq!(counts.try_open("::ffff:10.0.0.1".parse().unwrap()).unwrap_err(), Refusal::MaxConnectionsPerIp);
        let _b1 = counts.try_open(b).unwrap();
        assert_eq!(counts.try_open(b).unwrap_err(), Refusal::MaxConnections);
        drop(a1);
        let _b2 = counts.try_open(b).unwrap();
        assert_eq!(counts.open.lock().unwrap().per_ip.len(), 2);
    }

    #[test]
    fn released_addresses_leave_the_map() {
        let counts = ConnectionCounts::new(UNLIMITED, UNLIMITED);
        let slots: Vec<_> = (0..100u8).map(|i| counts.try_open(IpAddr::from([10, 0, 1, i])).unwrap()).collect();
        drop(slots);
        let open = counts.open.lock().unwrap();
        assert_eq!((open.total, open.per_ip.len()), (0, 0));
    }

    #[test]
    fn throttle_logs_the_first_event_then_one_count_per_interval() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut t = LogThrottle::new(10 * second);
        assert_eq!(t.due(), None);
        assert_eq!(t.record(start), Some(1));
        assert_eq!(t.due(), None, "nothing unlogged");
        for i in 1..=20 {
            assert_eq!(t.record(start + i * second / 4), None, "within the interval");
        }
        assert_eq!(t.due(), Some(start + 10 * second));
        assert_eq!(t.take_due(start + 9 * second), None);
        // The tail of the storm is reported when due, with no further event.
        assert_eq!(t.take_due(start + 10 * second), Some(20));
        assert_eq!(t.due(), None);
        assert_eq!(t.record(start + 11 * second), None, "the interval runs from the last line");
        assert_eq!(t.record(start + 20 * second), Some(2));
    }
}
