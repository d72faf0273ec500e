//! A raw Kafka-protocol client for driving the broker over TCP in tests: requests are built
//! and decoded with the kafka-protocol crate, so these tests check the broker, not a client.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub async fn start_broker(configure: impl FnOnce(&mut BrokerConfig)) -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config =
        BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), ..Default::default() };
    configure(&mut config);
    let broker = Broker::start(config).await.expect("broker starts");
    (broker, dir)
}

pub struct TestClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl TestClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        TestClient { stream, correlation_id: 0 }
    }

    pub fn encode<R: Request>(&mut self, req: &R, version: i16) -> BytesMut {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("broker-tests")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, R::header_version(version)).unwrap();
        req.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        buf
    }

    /// Sends a request and decodes its response, checking the correlation id.
    pub async fn send<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let frame = self.encode(req, version);
        self.stream.write_all(&frame).await.unwrap();
        let mut body = self.read_frame().await.expect("a response, not a closed connection");
        let header =
            ResponseHeader::decode(&mut body, <R::Response as HeaderVersion>::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation_id, "responses come back in request order");
        <R::Response as Decodable>::decode(&mut body, version).unwrap()
    }

    /// Connects from `local`, e.g. 127.0.0.2 (all of 127/8 is loopback on Linux), to appear as
    /// another client address; `None` where that address cannot be bound.
    pub async fn connect_from(local: IpAddr, addr: SocketAddr) -> Option<Self> {
        let socket = if local.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.ok()?;
        socket.bind(SocketAddr::new(local, 0)).ok()?;
        let stream = socket.connect(addr).await.ok()?;
        Some(TestClient { stream, correlation_id: 0 })
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// As [`TestClient::send_raw`], for a connection the broker may have closed: false when the
    /// write failed.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads one response frame; `None` once the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let len = self.stream.read_i32().await.ok()?;
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(buf.into())
    }

    /// True when the broker closed the connection (EOF or reset) rather than answering.
    pub async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b).await, Ok(0) | Err(_))
    }
}

/// The broker binary in a child process, killed when dropped, however the test ends.
pub struct BrokerProcess(pub Child);

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a test wants the broker binary started.
#[derive(Default)]
pub struct ProcessOptions<'a> {
    /// More arguments, e.g. `["--set", "max.connections=10"]`.
    pub args: &'a [&'a str],
    /// The broker's soft open-file limit (`ulimit -Sn`, set by a shell that then execs the broker).
    pub open_files: Option<u64>,
    /// Pipe the broker's log (stderr) to the test, which must then keep reading it.
    pub capture_log: bool,
}

/// Starts the broker binary on 127.0.0.1:0 over `data_dir` at log level warn and waits for its
/// ready line.
pub fn spawn_broker_process(data_dir: &Path, options: ProcessOptions<'_>) -> (BrokerProcess, SocketAddr) {
    let bin = env!("CARGO_BIN_EXE_ferrokafka-broker");
    let spawn = || {
        let mut command = match options.open_files {
            None => Command::new(bin),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c").arg(format!("ulimit -Sn {n} && exec \"$0\" \"$@\"")).arg(bin);
                sh
            }
        };
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--log-level", "warn"])
            .args(options.args)
            .stdout(Stdio::piped())
            .stderr(if options.capture_log { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
    };
    // ETXTBSY: exec of a binary cargo has just written can fail while another process still
    // holds a descriptor to it open for writing (seen once in a full `cargo test`); it clears
    // as soon as that descriptor closes. Through the shell it shows as exit status 126.
    const ETXTBSY: i32 = 26;
    for _ in 0..100 {
        let mut child = match spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            }
            other => other.expect("broker binary runs"),
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.is_empty() && child.wait().unwrap().code() == Some(126) && options.open_files.is_some() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        let addr = line.trim().strip_prefix("ferrokafka-broker listening on ").expect("ready line").parse().unwrap();
        return (BrokerProcess(child), addr);
    }
    panic!("the broker binary stayed busy (ETXTBSY)");
}

/// A record for [`batch`]: key, value, timestamp.
pub type Rec<'a> = (Option<&'a [u8]>, &'a [u8], i64);

/// Encodes one record batch as a producer would (base offset 0).
pub fn batch(records: &[Rec<'_>], producer: Option<(i64, i16, i32)>, compression: Compression) -> Bytes {
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v, ts))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if seq < 0 { -1 } else { seq + i as i32 },
            timestamp: *ts,
            key: k.map(Bytes::copy_from_slice),
            value: Some(Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &RecordEncodeOptions { version: 2, compression }).unwrap();
    buf.freeze()
}

pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default().with_transactional_id(None).with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![
        produce_request::TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default().with_index(partition).with_records(Some(records)),
            ]),
    ])
}

/// Produces one batch and returns (error code, base offset).
pub async fn produce(c: &mut TestClient, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let resp = c.send(&produce_request(topic, partition, records, -1), 9).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.into())))
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20)
                        .with_log_start_offset(-1),
                ]),
        ])
}

/// Fetch result of one partition: (error, high watermark, log start, records decoded).
pub async fn fetch(c: &mut TestClient, topic: &str, partition: i32, offset: i64) -> (i16, i64, i64, Vec<Record>) {
    let resp = c.send(&fetch_request(topic, partition, offset, 0, 0), 12).await;
    let p = &resp.responses[0].partitions[0];
    (p.error_code, p.high_watermark, p.log_start_offset, decode_records(p.records.clone().unwrap_or_default()))
}

pub fn decode_records(mut bytes: Bytes) -> Vec<Record> {
    let mut out = Vec::new();
    // A fetch may end in a partial batch: decode whole batches only.
    while bytes.remaining() >= 12 {
        let len = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize + 12;
        if bytes.remaining() < len {
            break;
        }
        let mut one = bytes.split_to(len);
        out.extend(RecordBatchDecoder::decode(&mut one).unwrap().records);
    }
    out
}

pub async fn create_topic(c: &mut TestClient, name: &str, partitions: i32, configs: &[(&str, &str)]) -> i16 {
    let req = CreateTopicsRequest::default().with_timeout_ms(5000).with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.into())))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        create_topics_request::CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_value(Some(StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            ),
    ]);
    c.send(&req, 7).await.topics[0].error_code
}

pub async fn list_offset(c: &mut TestClient, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
    let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp),
            ]),
    ]);
    let resp = c.send(&req, 7).await;
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

pub async fn init_producer_id(c: &mut TestClient) -> (i64, i16) {
    let resp = c
        .send(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            4,
        )
        .await;
    assert_eq!(resp.error_code, 0);
    (resp.producer_id.0, resp.producer_epoch)
}

/// SaslHandshake for `mechanism`.
pub async fn sasl_handshake(c: &mut TestClient, mechanism: &'static str) -> SaslHandshakeResponse {
    c.send(&SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)), 1).await
}

/// SaslAuthenticate with a PLAIN token for `user`.
pub async fn sasl_plain(c: &mut TestClient, user: &str, password: &str) -> SaslAuthenticateResponse {
    let bytes = format!("\0{user}\0{password}");
    c.send(&SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)), 2).await
}
