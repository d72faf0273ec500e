//! Connection storms: idle and stalled connections are closed, a connection past
//! `max.connections` or `max.connections.per.ip` is closed at once while the others are served
//! and a freed place is taken again, refusals and failed accepts cost one log line per
//! interval, and the settings parse.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::*;
use ferrokafka_broker::BrokerConfig;
use kafka_protocol::messages::ApiVersionsRequest;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// Upper bound on anything awaited: generous for a loaded machine, and far below the
/// defaults (10 minutes idle) whose absence these tests would otherwise be waiting out.
const BOUND: Duration = Duration::from_secs(10);

/// Sends ApiVersions; true when the broker answered, false when it had closed the connection.
async fn answers(c: &mut TestClient) -> bool {
    let frame = c.encode(&ApiVersionsRequest::default(), 3);
    c.try_send_raw(&frame).await && c.read_frame().await.is_some()
}

/// Awaits the broker closing `c` and returns how long that took from `since`.
async fn closed_after(c: &mut TestClient, since: Instant) -> Duration {
    let closed = timeout(BOUND, c.is_closed()).await.expect("the broker closes the connection in time");
    assert!(closed, "the broker sent bytes instead of closing");
    since.elapsed()
}

#[tokio::test]
async fn idle_connections_are_closed_and_active_ones_are_not() {
    let idle_ms = 300;
    let (broker, _dir) = start_broker(|c| c.connections_max_idle_ms = idle_ms).await;
    let idle_limit = Duration::from_millis(idle_ms);
    let addr = broker.local_addr();

    // The broker's clock starts when it has accepted, after `connect` returns here.
    let opened = Instant::now();
    let mut silent = TestClient::connect(addr).await;
    let silent = tokio::spawn(async move { closed_after(&mut silent, opened).await });
    let mut used_once = TestClient::connect(addr).await;
    assert!(answers(&mut used_once).await);
    let used_once = tokio::spawn(async move { closed_after(&mut used_once, Instant::now()).await });

    // Requests every third of the idle limit, for more than three idle limits.
    let mut active = TestClient::connect(addr).await;
    let started = Instant::now();
    let mut every = tokio::time::interval(idle_limit / 3);
    while started.elapsed() < 3 * idle_limit + idle_limit / 2 {
        every.tick().await;
        assert!(answers(&mut active).await, "a connection with a request every {:?} stays open", idle_limit / 3);
    }

    let silent = silent.await.unwrap();
    assert!(silent >= idle_limit, "closed after {silent:?}, before connections.max.idle.ms");
    used_once.await.unwrap();
    assert!(answers(&mut active).await, "and is served still");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn stalled_request_frames_are_closed() {
    let idle_ms = 300;
    let (broker, _dir) = start_broker(|c| c.connections_max_idle_ms = idle_ms).await;
    let idle_limit = Duration::from_millis(idle_ms);
    let addr = broker.local_addr();

    let half_frame = [&100i32.to_be_bytes()[..], &[0, 18, 0, 3]].concat();
    for (what, bytes) in [("half a frame", &half_frame[..]), ("half a size prefix", &[0, 0][..])] {
        let mut c = TestClient::connect(addr).await;
        c.send_raw(bytes).await;
        let after = closed_after(&mut c, Instant::now()).await;
        assert!(after < BOUND, "{what}: closed after {after:?}");
    }

    // A byte every sixth of the limit keeps bytes coming, but the frame is not done by the
    // limit after its first byte: closed then, long before the trickle would have finished.
    let mut c = TestClient::connect(addr).await;
    let frame = [&100i32.to_be_bytes()[..], &[0u8; 100]].concat();
    let first_byte = Instant::now();
    let mut sent = 0;
    let closed_at = loop {
        assert!(sent < frame.len(), "the whole trickled frame was taken");
        if !c.try_send_raw(&frame[sent..=sent]).await {
            break first_byte.elapsed();
        }
        sent += 1;
        // Waiting for the close is also what paces the trickle.
        if let Ok(closed) = timeout(idle_limit / 6, c.is_closed()).await {
            assert!(closed, "the broker answered half a frame");
            break first_byte.elapsed();
        }
    };
    assert!(closed_at >= idle_limit, "closed after {closed_at:?}, before the frame deadline");
    assert!(sent < 30, "closed after {sent} trickled bytes ({closed_at:?}): the deadline was pushed back");

    assert!(answers(&mut TestClient::connect(addr).await).await, "the broker still serves");
    broker.shutdown().await.unwrap();
}

/// Fills `cap` places, checks that the next connection is closed at once while
/// the first `cap` are still served, and that closing one lets a new one in (and no more).
async fn check_cap(addr: SocketAddr, cap: usize) {
    let mut open = Vec::new();
    for _ in 0..cap {
        let mut c = TestClient::connect(addr).await;
        assert!(answers(&mut c).await, "within the cap");
        open.push(c);
    }
    for _ in 0..3 {
        let mut extra = TestClient::connect(addr).await;
        // The idle limit is minutes: a close within BOUND is the refusal.
        closed_after(&mut extra, Instant::now()).await;
    }
    for c in &mut open {
        assert!(answers(c).await, "the connections within the cap are still served");
    }

    drop(open.pop());
    // The place is free once the broker has seen that close; until then a newcomer may be
    // refused, so try until one is taken.
    let newcomer = timeout(BOUND, async {
        loop {
            let mut c = TestClient::connect(addr).await;
            if answers(&mut c).await {
                break c;
            }
        }
    })
    .await
    .expect("a freed place is taken again");
    open.push(newcomer);
    let mut extra = TestClient::connect(addr).await;
    closed_after(&mut extra, Instant::now()).await;
    for c in &mut open {
        assert!(answers(c).await);
    }
}

#[tokio::test]
async fn max_connections_closes_the_connection_past_it_and_frees_places() {
    let (broker, _dir) = start_broker(|c| c.max_connections = 3).await;
    check_cap(broker.local_addr(), 3).await;
    // The cap is broker-wide: another client address is refused as well.
    if let Some(mut other) = TestClient::connect_from(IpAddr::from([127, 0, 0, 2]), broker.local_addr()).await {
        closed_after(&mut other, Instant::now()).await;
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn max_connections_per_ip_closes_the_connection_past_it_and_frees_places() {
    let (broker, _dir) = start_broker(|c| c.max_connections_per_ip = 2).await;
    check_cap(broker.local_addr(), 2).await;
    // Counted per address: 127.0.0.2 (loopback too, on Linux) has places of its own.
    let other = IpAddr::from([127, 0, 0, 2]);
    if let Some(mut c) = TestClient::connect_from(other, broker.local_addr()).await {
        assert!(answers(&mut c).await, "another address is not held to 127.0.0.1's count");
        let mut second = TestClient::connect_from(other, broker.local_addr()).await.unwrap();
        assert!(answers(&mut second).await);
        let mut third = TestClient::connect_from(other, broker.local_addr()).await.unwrap();
        closed_after(&mut third, Instant::now()).await;
    }
    broker.shutdown().await.unwrap();
}

#[test]
fn connection_settings_parse_and_bad_values_are_errors() {
    let keys: Vec<&str> = ferrokafka_broker::config::KEYS.iter().map(|(k, _)| *k).collect();
    let mut c = BrokerConfig::default();
    assert_eq!(c.connections_max_idle_ms, 600_000);
    assert_eq!(c.max_connections_per_ip, 2_147_483_647, "Kafka's default: unlimited");
    assert!(c.max_connections >= 1);

    c.set("connections.max.idle.ms", "300").unwrap();
    c.set("max.connections", "1000").unwrap();
    c.set("max.connections.per.ip", " 20 ").unwrap();
    assert_eq!((c.connections_max_idle_ms, c.max_connections, c.max_connections_per_ip), (300, 1000, 20));
    for key in ["connections.max.idle.ms", "max.connections", "max.connections.per.ip"] {
        assert!(keys.contains(&key), "{key} is documented");
        for bad in ["0", "-1", "ten", "", "1.5", "99999999999999999999999"] {
            let err = c.set(key, bad).expect_err(&format!("{key}={bad:?} is refused"));
            assert!(err.to_string().contains(key), "{err}");
        }
    }
    assert_eq!((c.connections_max_idle_ms, c.max_connections, c.max_connections_per_ip), (300, 1000, 20));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, "connections.max.idle.ms = 5000\nmax.connections = 7\n\"max.connections.per.ip\" = 3\n")
        .unwrap();
    let mut c = BrokerConfig::default();
    c.apply_file(&path).unwrap();
    assert_eq!((c.connections_max_idle_ms, c.max_connections, c.max_connections_per_ip), (5000, 7, 3));
    std::fs::write(&path, "max.connection = 7\n").unwrap();
    assert!(BrokerConfig::default().apply_file(&path).is_err(), "a misspelt key is an error");
}

/// The broker process's log lines, read off its stderr as they come.
fn log_lines(process: &mut BrokerProcess) -> mpsc::UnboundedReceiver<String> {
    use std::io::BufRead;
    let stderr = process.0.stderr.take().expect("log captured");
    let (tx, rx) = mpsc::unbounded_channel();
    // Read to the end, so the broker never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(without_colours(&line));
        }
    });
    rx
}

/// The log is coloured (ANSI escapes around field names) even into a pipe.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// The lines logged so far that contain `needle`.
fn drain_matching(rx: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> Vec<String> {
    std::iter::from_fn(|| rx.try_recv().ok()).filter(|l| l.contains(needle)).collect()
}

async fn next_matching(rx: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> String {
    timeout(BOUND, async {
        loop {
            let line = rx.recv().await.expect("the broker is running");
            if line.contains(needle) {
                return line;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no log line with {needle:?}"))
}

#[tokio::test]
async fn default_max_connections_follows_the_open_file_limit_and_refusals_are_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProcessOptions { open_files: Some(256), capture_log: true, ..Default::default() };
    let (mut broker, addr) = spawn_broker_process(dir.path(), options);
    let mut log = log_lines(&mut broker);

    // 256 open files: a quarter is kept for the logs, 192 are for clients.
    let mut open = Vec::new();
    for i in 0..192 {
        let mut c = TestClient::connect(addr).await;
        assert!(answers(&mut c).await, "connection {i} is within the default max.connections");
        open.push(c);
    }
    for _ in 0..30 {
        let mut extra = TestClient::connect(addr).await;
        closed_after(&mut extra, Instant::now()).await;
    }
    // The first refusal is logged before its connection is closed; the other 29 are counted
    // for a line 10 s later, so by now there is exactly one.
    let first = next_matching(&mut log, "refusing connections").await;
    assert!(first.contains("max.connections reached") && first.contains("limit=192"), "{first}");
    let more = drain_matching(&mut log, "refus");
    assert!(more.is_empty(), "one line for 30 refusals, not {}: {more:?}", more.len() + 1);
    for c in &mut open {
        assert!(answers(c).await);
    }
}

#[tokio::test]
async fn failed_accepts_out_of_descriptors_are_logged_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    // More connections allowed than descriptors, so accept itself fails (EMFILE).
    let options =
        ProcessOptions { args: &["--set", "max.connections=100000"], open_files: Some(64), capture_log: true };
    let (mut broker, addr) = spawn_broker_process(dir.path(), options);
    let mut log = log_lines(&mut broker);
    next_matching(&mut log, "max.connections is not below the open-file limit").await;

    // Connections past the descriptors the broker has left wait in the listen backlog.
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(TestClient::connect(addr).await);
    }
    let first = next_matching(&mut log, "accept failed").await;
    assert!(first.contains("out of file descriptors"), "{first}");
    // A negative needs a window: in one second of EMFILE the accept loop retries about 20
    // times (every 50 ms), and logs none of them before the interval is up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let more = drain_matching(&mut log, "accept");
    assert!(more.is_empty(), "one line per interval, not: {more:?}");

    // Once descriptors are free again the queued connections are served.
    let mut last = clients.pop().unwrap();
    drop(clients);
    let frame = last.encode(&ApiVersionsRequest::default(), 3);
    last.send_raw(&frame).await;
    assert!(timeout(BOUND, last.read_frame()).await.expect("served once descriptors are free").is_some());
}

/// Writes `frame` over and over without reading an answer, until the socket takes no more.
async fn flood_without_reading(addr: SocketAddr, frame: Vec<u8>) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Responses fill the broker's queue and both sockets' buffers; then its reads stop too.
    while let Ok(Ok(())) = timeout(Duration::from_millis(500), stream.write_all(&frame)).await {}
    stream
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_and_does_not_hold_up_shutdown() {
    let (broker, _dir) = start_broker(|c| c.connections_max_idle_ms = 300).await;
    let addr = broker.local_addr();
    let mut c = TestClient::connect(addr).await;
    assert_eq!(create_topic(&mut c, "big", 1, &[]).await, 0);
    let value = vec![7u8; 500_000];
    produce(&mut c, "big", 0, batch(&[(None, &value, 1)], None, kafka_protocol::records::Compression::None)).await;
    let frame = c.encode(&fetch_request("big", 0, 0, 0, 0), 12).to_vec();

    // With a short idle limit, the broker gives up on the reader that never reads.
    let mut stuck = flood_without_reading(addr, frame.clone()).await;
    let drained = timeout(BOUND, async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        // Reading now only drains what was sent; the broker has closed its side.
        while stuck.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    assert!(drained.is_ok(), "the broker closed the connection of a client that stopped reading");

    broker.shutdown().await.unwrap();

    // With the default limit (10 minutes), a shutdown does not wait on a client still stuck.
    let (broker, _dir) = start_broker(|_| {}).await;
    let addr = broker.local_addr();
    let mut c = TestClient::connect(addr).await;
    assert_eq!(create_topic(&mut c, "big", 1, &[]).await, 0);
    produce(&mut c, "big", 0, batch(&[(None, &value, 1)], None, kafka_protocol::records::Compression::None)).await;
    let _stuck = flood_without_reading(addr, frame).await;
    timeout(BOUND, broker.shutdown()).await.expect("shutdown finishes though a client does not read").unwrap();
}
