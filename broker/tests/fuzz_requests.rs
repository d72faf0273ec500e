//! A bounded fuzzer over the request decoders and handlers: real requests of every API the
//! broker advertises (and the committed corpus in `tests/fuzz-corpus/`), mutated, sent over
//! TCP to an in-process broker. Whatever arrives, the broker must answer or close that one
//! connection, never panic (a panic hook counts every panic in the process, including those
//! tokio would otherwise swallow in a connection task), and keep serving everyone else.
//!
//! `make test` runs it for a few seconds; `make fuzz` (or `FERROKAFKA_FUZZ_SECS=600`) for
//! longer. `FERROKAFKA_FUZZ_SEED=N` replays a run; the seed is printed. A frame that made the
//! broker panic is written to `tests/fuzz-corpus/crash-*.bin`: commit it, and every later run
//! starts from it.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, Message, Request, StrBytes};
use kafka_protocol::records::Compression;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus")
}

/// A whole frame (size prefix, header, body) for `req` at `version`.
fn frame<R: Request + Encodable + HeaderVersion>(req: &R, version: i16) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, R::header_version(version)).ok()?;
    req.encode(&mut buf, version).ok()?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Some(buf.to_vec())
}

/// `req` at every version the crate can encode it in.
fn all_versions<R: Request + Encodable + HeaderVersion + Message>(req: R, out: &mut Vec<Vec<u8>>) {
    for v in R::VERSIONS.min..=R::VERSIONS.max {
        out.extend(frame(&req, v));
    }
}

/// Requests as clients send them, for the topic `fz` the test creates: mutations of these
/// reach past the decoders into the handlers.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let name = || TopicName(StrBytes::from_static_str("fz"));
    let group = || GroupId(StrBytes::from_static_str("fz-group"));
    let records = batch(&[(Some(b"k"), b"value", 1_000)], None, Compression::None);
    let idempotent = batch(&[(Some(b"k"), b"v1", 1_000), (None, b"v2", 1_001)], Some((0, 0, 0)), Compression::Lz4);
    all_versions(produce_request("fz", 0, records, -1), &mut out);
    all_versions(produce_request("fz", 0, idempotent, 1), &mut out);
    all_versions(fetch_request("fz", 0, 0, 0, 0), &mut out);
    all_versions(MetadataRequest::default().with_topics(None), &mut out);
    all_versions(ApiVersionsRequest::default(), &mut out);
    all_versions(
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default().with_name(name()).with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
            ]),
        ]),
        &mut out,
    );
    all_versions(
        CreateTopicsRequest::default().with_timeout_ms(1000).with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("fz-new")))
                .with_num_partitions(2)
                .with_replication_factor(1)
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(StrBytes::from_static_str("segment.bytes"))
                        .with_value(Some(StrBytes::from_static_str("1000"))),
                ]),
        ]),
        &mut out,
    );
    all_versions(
        DeleteRecordsRequest::default().with_timeout_ms(1000).with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default().with_name(name()).with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default().with_partition_index(0).with_offset(1),
            ]),
        ]),
        &mut out,
    );
    all_versions(
        InitProducerIdRequest::default().with_transaction_timeout_ms(1000).with_producer_id(ProducerId(-1)),
        &mut out,
    );
    all_versions(FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("fz-group")), &mut out);
    all_versions(
        JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(6000)
            .with_rebalance_timeout_ms(100)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 2, b'f', b'z', 0, 0, 0, 0])),
            ]),
        &mut out,
    );
    all_versions(SyncGroupRequest::default().with_group_id(group()).with_generation_id(1), &mut out);
    all_versions(HeartbeatRequest::default().with_group_id(group()).with_generation_id(1), &mut out);
    all_versions(LeaveGroupRequest::default().with_group_id(group()), &mut out);
    all_versions(
        OffsetCommitRequest::default().with_group_id(group()).with_generation_id_or_member_epoch(-1).with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default().with_name(name()).with_partitions(vec![
                offset_commit_request::OffsetCommitRequestPartition::default().with_committed_offset(3),
            ]),
        ]),
        &mut out,
    );
    all_versions(OffsetFetchRequest::default().with_group_id(group()).with_topics(None), &mut out);
    all_versions(ListGroupsRequest::default(), &mut out);
    all_versions(DescribeGroupsRequest::default().with_groups(vec![group()]), &mut out);
    all_versions(DeleteGroupsRequest::default().with_groups_names(vec![group()]), &mut out);
    all_versions(
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group())
            .with_member_id(StrBytes::from_static_str("m-1"))
            .with_rebalance_timeout_ms(1000)
            .with_subscribed_topic_names(Some(vec![name()])),
        &mut out,
    );
    all_versions(
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("fz")),
        ]),
        &mut out,
    );
    all_versions(
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("fz"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("1000"))),
                ]),
        ]),
        &mut out,
    );
    all_versions(
        CreatePartitionsRequest::default().with_timeout_ms(1000).with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default().with_name(name()).with_count(3),
        ]),
        &mut out,
    );
    all_versions(DescribeClusterRequest::default(), &mut out);
    all_versions(DescribeAclsRequest::default().with_resource_type_filter(1).with_pattern_type_filter(1), &mut out);
    all_versions(SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")), &mut out);
    all_versions(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p")), &mut out);
    if let Ok(dir) = std::fs::read_dir(corpus_dir()) {
        let mut files: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        out.extend(files.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    out
}

const INTERESTING: &[i64] = &[0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, -0x8000, 0xffff, 0x7fff_ffff, -0x8000_0000];

/// One to eight random edits of `seed`; most keep the size prefix true to the new length.
fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut f = seed.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        let len = f.len();
        match rng.random_range(0..7) {
            0 if len > 4 => f[rng.random_range(4..len)] ^= 1 << rng.random_range(0..8),
            1 if len > 4 => f[rng.random_range(4..len)] = rng.random(),
            2 if len > 8 => {
                // A count or length field set to a boundary value (any width, big-endian).
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let width = [1usize, 2, 4, 8][rng.random_range(0..4)];
                let at = rng.random_range(4..len);
                for (i, b) in v.to_be_bytes()[8 - width..].iter().enumerate() {
                    if at + i < len {
                        f[at + i] = *b;
                    }
                }
            }
            3 if len > 5 => {
                let at = rng.random_range(4..len);
                let n = rng.random_range(1..=(len - at).min(64));
                f.drain(at..at + n);
            }
            4 if len > 4 => {
                let at = rng.random_range(4..=len);
                let n = rng.random_range(1..=32);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                f.splice(at..at, bytes);
            }
            5 if len > 8 => {
                // Repeat a chunk: arrays that claim more elements than follow, or many that do.
                let at = rng.random_range(4..len);
                let n = rng.random_range(1..=(len - at).min(32));
                let chunk = f[at..at + n].to_vec();
                for _ in 0..rng.random_range(1..4) {
                    f.splice(at..at, chunk.iter().copied());
                }
            }
            _ => {}
        }
    }
    if f.len() >= 4 && rng.random_bool(0.9) {
        let n = (f.len() - 4) as i32;
        f[0..4].copy_from_slice(&n.to_be_bytes());
    }
    f
}

/// Sends `frame` and waits briefly for an answer or the close. Returns whether the connection
/// can still be used.
async fn exchange(stream: &mut TcpStream, frame: &[u8]) -> bool {
    if stream.write_all(frame).await.is_err() {
        return false;
    }
    let answer = async {
        let len = stream.read_i32().await.ok()?;
        let mut body = vec![0u8; usize::try_from(len).ok()?];
        stream.read_exact(&mut body).await.ok()?;
        Some(())
    };
    // Waiting requests (a fetch's max_wait, a join's rebalance) and acks=0 produces give no
    // prompt answer: leave them and carry on over a new connection.
    matches!(tokio::time::timeout(Duration::from_millis(300), answer).await, Ok(Some(())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_never_panic_the_broker() {
    let secs: u64 = std::env::var("FERROKAFKA_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let seed: u64 =
        std::env::var("FERROKAFKA_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("fuzzing for {secs} s with FERROKAFKA_FUZZ_SEED={seed}");

    let panics = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&panics);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let (broker, _dir) = start_broker(|c| {
        c.socket_request_max_bytes = 1 << 20;
        c.groups.initial_rebalance_delay_ms = 0;
    })
    .await;
    let addr = broker.local_addr();
    let mut c = TestClient::connect(addr).await;
    assert_eq!(create_topic(&mut c, "fz", 2, &[]).await, 0);
    let seeds = Arc::new(seeds());
    assert!(seeds.len() > 150, "seeds for every API and version ({})", seeds.len());

    let deadline = Instant::now() + Duration::from_secs(secs);
    let sent = Arc::new(AtomicU64::new(0));
    let crash_dir = corpus_dir();
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let (seeds, sent, panics, crash_dir) =
            (Arc::clone(&seeds), Arc::clone(&sent), Arc::clone(&panics), crash_dir.clone());
        workers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(w));
            let mut stream: Option<TcpStream> = None;
            while Instant::now() < deadline {
                let s = match stream.take() {
                    Some(s) => s,
                    None => match TcpStream::connect(addr).await {
                        Ok(s) => s,
                        Err(e) => panic!("the broker stopped accepting: {e}"),
                    },
                };
                let mut s = s;
                let pick = rng.random_range(0..seeds.len());
                let input = mutate(&mut rng, &seeds[pick]);
                let before = panics.load(Ordering::SeqCst);
                let usable = exchange(&mut s, &input).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if panics.load(Ordering::SeqCst) > before {
                    let path = crash_dir.join(format!("crash-{seed}-{w}-{}.bin", sent.load(Ordering::Relaxed)));
                    let _ = std::fs::create_dir_all(&crash_dir).and_then(|()| std::fs::write(&path, &input));
                    eprintln!("a panic followed this input; saved as {}", path.display());
                }
                if usable {
                    stream = Some(s);
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    eprintln!("sent {} mutated requests", sent.load(Ordering::Relaxed));
    let mut bystander = TestClient::connect(addr).await;
    assert_eq!(bystander.send(&ApiVersionsRequest::default(), 3).await.error_code, 0, "still serving");
    assert_eq!(create_topic(&mut bystander, "after-fuzz", 1, &[]).await, 0, "still creating topics");
    let _ = std::panic::take_hook();
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "no panic anywhere in the broker (replay with FERROKAFKA_FUZZ_SEED={seed})"
    );
    broker.shutdown().await.expect("a clean shutdown after fuzzing");
}
