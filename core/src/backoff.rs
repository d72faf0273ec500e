//! `reconnect.backoff.ms` / `reconnect.backoff.max.ms`: how long a client leaves a broker
//! alone after failing to connect to it. Each failure in a row doubles the wait, up to the
//! cap, and every wait is spread ±20% (as Kafka's clients do) so that many clients that lost
//! one broker together do not come back in step. A connection that succeeds starts over; the
//! first reconnect after a working connection dropped is immediate. Also the one loop that
//! retries a request until a deadline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const JITTER: f64 = 0.2;

/// Runs `op` until it succeeds, fails with an error `again` does not accept, or `deadline`
/// has passed, pausing `pause` between attempts.
pub(crate) async fn retry_until<T, F, Fut>(
    deadline: Instant,
    pause: Duration,
    again: impl Fn(&crate::Error) -> bool,
    mut op: F,
) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    loop {
        match op().await {
            Err(e) if again(&e) && Instant::now() < deadline => tokio::time::sleep(pause).await,
            other => return other,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ReconnectBackoff {
    base: Duration,
    max: Duration,
    /// By broker address: failures in a row, and when the next attempt may start.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl ReconnectBackoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        ReconnectBackoff { base, max: max.max(base), failures: Mutex::new(HashMap::new()) }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the next attempt to `addr` may start, if that is still ahead.
    pub(crate) fn not_before(&self, addr: &str) -> Option<Instant> {
        self.failures().get(addr).map(|&(_, at)| at).filter(|at| *at > Instant::now())
    }

    pub(crate) fn failed(&self, addr: &str) {
        let mut failures = self.failures();
        let entry = failures.entry(addr.to_owned()).or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now() + self.wait_after(entry.0, rand::random::<f64>());
    }

    pub(crate) fn succeeded(&self, addr: &str) {
        self.failures().remove(addr);
    }

    /// The wait after `failures` failures in a row; `unit` in [0, 1) places it in the jitter.
    fn wait_after(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let exact = self.base.saturating_mul(1u32 << doublings).min(self.max);
        exact.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_the_jitter() {
        let b = ReconnectBackoff::new(Duration::from_millis(50), Duration::from_millis(1000));
        let ms = |failures, unit| b.wait_after(failures, unit).as_millis();
        assert_eq!(
            [ms(1, 0.5), ms(2, 0.5), ms(3, 0.5), ms(5, 0.5), ms(6, 0.5), ms(40, 0.5)],
            [50, 100, 200, 800, 1000, 1000]
        );
        assert_eq!((ms(1, 0.0), ms(6, 0.0)), (40, 800), "20% under");
        assert_eq!((ms(1, 0.999_999), ms(6, 0.999_999)), (59, 1199), "20% over");
    }

    #[tokio::test]
    async fn a_success_starts_over() {
        let b = ReconnectBackoff::new(Duration::from_secs(10), Duration::from_secs(60));
        assert!(b.not_before("a:1").is_none());
        b.failed("a:1");
        let at = b.not_before("a:1").expect("backing off");
        assert!(at >= Instant::now() + Duration::from_secs(7), "{at:?}");
        assert!(b.not_before("b:1").is_none(), "per broker");
        b.succeeded("a:1");
        assert!(b.not_before("a:1").is_none());
    }
}
