//! kill -9 while an acks=all producer writes, then a torn tail: after restart every
//! acknowledged record is readable and the torn bytes are truncated, never served.

mod common;

use std::io::Write;
use std::process::Command;

use common::*;
use kafka_protocol::records::Compression;

fn spawn_broker(data_dir: &std::path::Path) -> (BrokerProcess, std::net::SocketAddr) {
    spawn_broker_process(data_dir, ProcessOptions::default())
}

#[tokio::test]
async fn acknowledged_records_survive_kill_9_and_torn_tails_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_broker(dir.path());
    let mut c = TestClient::connect(addr).await;
    assert_eq!(create_topic(&mut c, "crash", 1, &[]).await, 0);

    // Pipeline acks=all produces and kill the broker while they are in flight.
    let (pid, epoch) = init_producer_id(&mut c).await;
    let total = 400;
    let frames: Vec<_> = (0..total)
        .map(|i| {
            let value = format!("record-{i}");
            let b = batch(
                &[(Some(value.as_bytes()), value.as_bytes(), i as i64)],
                Some((pid, epoch, i)),
                Compression::None,
            );
            c.encode(&produce_request("crash", 0, b, -1), 9)
        })
        .collect();
    let (mut rd, mut wr) = tokio::net::TcpStream::connect(addr).await.unwrap().into_split();
    let (acks_tx, mut acks_rx) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        use kafka_protocol::protocol::Decodable;
        use tokio::io::AsyncReadExt;
        let mut acked = Vec::new();
        while let Ok(len) = rd.read_i32().await {
            let mut buf = vec![0u8; len as usize];
            if rd.read_exact(&mut buf).await.is_err() {
                break;
            }
            let mut body = bytes::Bytes::from(buf);
            let _ = kafka_protocol::messages::ResponseHeader::decode(&mut body, 1).unwrap();
            let resp = kafka_protocol::messages::ProduceResponse::decode(&mut body, 9).unwrap();
            let p = &resp.responses[0].partition_responses[0];
            assert_eq!(p.error_code, 0);
            acked.push(p.base_offset);
            acks_tx.send_replace(acked.len());
        }
        acked
    });
    {
        use tokio::io::AsyncWriteExt;
        for (i, frame) in frames.iter().enumerate() {
            if i == total as usize / 2 {
                // Once some writes are acknowledged, SIGKILL with the rest still in flight.
                acks_rx.wait_for(|&n| n >= 20).await.unwrap();
                child.0.kill().unwrap();
            }
            if wr.write_all(frame).await.is_err() {
                break;
            }
        }
    }
    let acked = reader.await.unwrap();
    child.0.wait().unwrap();
    assert!(!acked.is_empty(), "some produces were acknowledged before the kill");

    // Simulate a write torn by a crash: half a batch at the end of the active segment.
    let seg = std::fs::read_dir(dir.path().join("crash-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .unwrap();
    let valid_len = std::fs::metadata(&seg).unwrap().len();
    let torn = batch(&[(None, b"torn-write-torn-write", 1)], None, Compression::None);
    std::fs::OpenOptions::new().append(true).open(&seg).unwrap().write_all(&torn[..torn.len() - 7]).unwrap();

    let (_child, addr) = spawn_broker(dir.path());
    let mut c = TestClient::connect(addr).await;
    let mut seen = Vec::new();
    let mut next = 0;
    loop {
        let (err, hw, _, recs) = fetch(&mut c, "crash", 0, next).await;
        assert_eq!(err, 0);
        if recs.is_empty() {
            assert_eq!(next, hw);
            break;
        }
        next = recs.last().unwrap().offset + 1;
        seen.extend(recs);
    }
    for &off in &acked {
        let r = seen.iter().find(|r| r.offset == off).expect("acknowledged record readable after kill -9");
        assert_eq!(r.value.as_deref(), Some(format!("record-{off}").as_bytes()));
    }
    assert!(seen.iter().all(|r| r.value.as_deref() != Some(&b"torn-write-torn-write"[..])), "torn batch not served");
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), valid_len, "torn tail truncated");
    // Offsets are dense, and the next append continues right after them.
    assert!(seen.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    let (err, base) = produce(&mut c, "crash", 0, batch(&[(None, b"after", 1)], None, Compression::None)).await;
    assert_eq!((err, base), (0, seen.len() as i64));
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM: a clean shutdown that leaves the clean-shutdown marker.
    Clean,
    Kill9,
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Bytes that are no batch appended after the last one.
    GarbageAppended,
    /// The last batch cut 10 bytes short.
    CutInsideLastBatch,
    /// One byte of the last batch's records flipped.
    FlippedByteInLastBatch,
    /// The last batch removed whole (its index entry, if any, now points at the file's end).
    LastBatchRemoved,
}

/// Produces three batches, stops the broker, damages the end of the segment, restarts and
/// checks what is served and where the next write goes. With `big` batches every batch has an
/// offset index entry; with small ones only the first does.
async fn torn_tail_case(stop: Stop, damage: Damage, big: bool) {
    let case = format!("{stop:?} × {damage:?} × {} batches", if big { "indexed" } else { "unindexed" });
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_broker(dir.path());
    let mut c = TestClient::connect(addr).await;
    // Index entries reach their files when the segment is flushed: with flush.messages=1 each
    // produce flushes, so the index is on disk before the stop, as each case intends.
    assert_eq!(create_topic(&mut c, "torn", 1, &[("flush.messages", "1")]).await, 0);
    let (records, size) = if big { (10, 500) } else { (3, 20) };
    let value = |offset: i64| format!("{offset:06}{}", "v".repeat(size - 6));
    let mut batch_starts = Vec::new();
    let seg = dir.path().join("torn-0").join("00000000000000000000.log");
    // Idempotent, so that each produce is one batch (the encoder splits records without a sequence).
    let (pid, epoch) = init_producer_id(&mut c).await;
    for b in 0..3i64 {
        batch_starts.push(std::fs::metadata(&seg).unwrap().len());
        let values: Vec<String> = (0..records).map(|i| value(b * records + i)).collect();
        let recs: Vec<Rec<'_>> = values.iter().map(|v| (None, v.as_bytes(), 1_000 + b)).collect();
        let one = batch(&recs, Some((pid, epoch, (b * records) as i32)), Compression::None);
        assert_eq!(produce(&mut c, "torn", 0, one).await, (0, b * records));
    }
    let index = std::fs::read(dir.path().join("torn-0/00000000000000000000.index")).unwrap();
    assert_eq!(index.len() / 8, if big { 3 } else { 1 }, "{case}: index entries as intended");
    drop(c);
    match stop {
        Stop::Clean => {
            let pid = child.0.id().to_string();
            assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
            assert!(child.0.wait().unwrap().success(), "{case}: SIGTERM exits 0");
            assert!(dir.path().join("torn-0/.clean-shutdown").exists(), "{case}: clean stop marked");
        }
        Stop::Kill9 => {
            child.0.kill().unwrap();
            child.0.wait().unwrap();
        }
    }

    let mut bytes = std::fs::read(&seg).unwrap();
    let intact_len = bytes.len() as u64;
    let last = batch_starts[2] as usize;
    let kept_records = match damage {
        Damage::GarbageAppended => {
            bytes.extend_from_slice(&[0xAB; 37]);
            3 * records
        }
        Damage::CutInsideLastBatch => {
            bytes.truncate(bytes.len() - 10);
            2 * records
        }
        Damage::FlippedByteInLastBatch => {
            let at = last + (bytes.len() - last) * 3 / 4;
            bytes[at] ^= 0x40;
            2 * records
        }
        Damage::LastBatchRemoved => {
            bytes.truncate(last);
            2 * records
        }
    };
    std::fs::write(&seg, &bytes).unwrap();

    let (_child, addr) = spawn_broker(dir.path());
    let mut c = TestClient::connect(addr).await;
    assert_eq!(list_offset(&mut c, "torn", 0, -1).await.1, kept_records, "{case}: log end after restart");
    let mut seen = Vec::new();
    let mut next = 0;
    loop {
        let (err, hw, _, recs) = fetch(&mut c, "torn", 0, next).await;
        assert_eq!((err, hw), (0, kept_records), "{case}");
        if recs.is_empty() {
            break;
        }
        next = recs.last().unwrap().offset + 1;
        seen.extend(recs);
    }
    assert_eq!(seen.len() as i64, kept_records, "{case}: every intact record is served");
    for r in &seen {
        assert_eq!(r.value.as_deref(), Some(value(r.offset).as_bytes()), "{case}: record {}", r.offset);
    }
    let valid_len = if kept_records == 3 * records { intact_len } else { batch_starts[2] };
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), valid_len, "{case}: the damaged tail is cut");
    let after = value(kept_records);
    let recs: Vec<Rec<'_>> = vec![(None, after.as_bytes(), 2_000)];
    assert_eq!(
        produce(&mut c, "torn", 0, batch(&recs, None, Compression::None)).await,
        (0, kept_records),
        "{case}: the next write continues right after the intact records"
    );
    let (_, _, _, recs) = fetch(&mut c, "torn", 0, kept_records).await;
    assert_eq!(recs[0].value.as_deref(), Some(after.as_bytes()), "{case}");
}

#[tokio::test]
async fn torn_tails_are_cut_after_a_clean_stop_and_after_kill_9() {
    for stop in [Stop::Clean, Stop::Kill9] {
        for damage in [
            Damage::GarbageAppended,
            Damage::CutInsideLastBatch,
            Damage::FlippedByteInLastBatch,
            Damage::LastBatchRemoved,
        ] {
            for big in [true, false] {
                torn_tail_case(stop, damage, big).await;
            }
        }
    }
}
