//! Malformed and hostile input: every case gets Kafka's error or a closed connection, and the
//! broker keeps serving everyone else.

mod common;

use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_RECORD: i16 = 87;

async fn still_serving(broker: &ferrokafka_broker::Broker) {
    let mut c = TestClient::connect(broker.local_addr()).await;
    assert_eq!(c.send(&ApiVersionsRequest::default(), 3).await.error_code, 0, "broker still serves new connections");
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let (broker, _dir) = start_broker(|c| c.socket_request_max_bytes = 1 << 20).await;
    let addr = broker.local_addr();
    // A bystander connection stays usable throughout.
    let mut bystander = TestClient::connect(addr).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("over socket.request.max.bytes", (2i32 << 20).to_be_bytes().to_vec()),
        ("shorter than a header", [&3i32.to_be_bytes()[..], &[0, 18, 0]].concat()),
        ("unknown api key", [&8i32.to_be_bytes()[..], &[0x7f, 0x00, 0, 0, 0, 0, 0, 1]].concat()),
        ("unsupported api (txn)", [&8i32.to_be_bytes()[..], &[0, 24, 0, 0, 0, 0, 0, 1]].concat()),
        ("unsupported version", [&8i32.to_be_bytes()[..], &[0, 3, 0x40, 0, 0, 0, 0, 1]].concat()),
        ("produce v0 (advertised min, refused)", [&8i32.to_be_bytes()[..], &[0, 0, 0, 0, 0, 0, 0, 1]].concat()),
        // Metadata v12 header then garbage where the body should be.
        ("garbage body", {
            let mut b = vec![0, 3, 0, 12, 0, 0, 0, 9, 0xff, 0xff, 0x00];
            b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff]);
            [&(b.len() as i32).to_be_bytes()[..], &b].concat()
        }),
        // Element counts far beyond the bytes sent: refused before they size an allocation
        // (no special allocator is installed in this test binary, so a vector sized from
        // the count would abort the whole process).
        ("metadata v0, 2^31-1 topics in 4 bytes", {
            let mut b = vec![0, 3, 0, 0, 0, 0, 0, 9, 0xff, 0xff];
            b.extend_from_slice(&i32::MAX.to_be_bytes());
            b.extend_from_slice(&[0, 1, b'a', 0]);
            [&(b.len() as i32).to_be_bytes()[..], &b].concat()
        }),
        ("metadata v12, compact array of 2^32-2 topics", {
            let mut b = vec![0, 3, 0, 12, 0, 0, 0, 9, 0xff, 0xff, 0x00];
            b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x02, b'a', 0]);
            [&(b.len() as i32).to_be_bytes()[..], &b].concat()
        }),
        ("produce v9, 2^31-1 topics", {
            let mut b = vec![0, 0, 0, 9, 0, 0, 0, 9, 0xff, 0xff, 0x00];
            b.extend_from_slice(&[0x00, 0xff, 0xff, 0, 0, 0x75, 0x30]);
            b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07, 0]);
            [&(b.len() as i32).to_be_bytes()[..], &b].concat()
        }),
    ];
    for (what, bytes) in cases {
        let mut c = TestClient::connect(addr).await;
        c.send_raw(&bytes).await;
        assert!(c.is_closed().await, "{what}: connection closed");
        still_serving(&broker).await;
    }
    // A frame cut short by the client going away.
    {
        let mut c = TestClient::connect(addr).await;
        c.send_raw(&[&100i32.to_be_bytes()[..], &[0, 18, 0, 3]].concat()).await;
    }
    assert_eq!(bystander.send(&ApiVersionsRequest::default(), 3).await.error_code, 0);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_batches_get_kafka_error_codes() {
    let (broker, _dir) = start_broker(|c| c.log.max_message_bytes = 2048).await;
    let mut c = TestClient::connect(broker.local_addr()).await;
    create_topic(&mut c, "b", 1, &[]).await;

    let good = batch(&[(None, b"ok", 1)], None, Compression::None);
    let mut corrupt = good.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(produce(&mut c, "b", 0, corrupt.into()).await.0, CORRUPT_MESSAGE);

    let big_value = vec![7u8; 4096];
    let big = batch(&[(None, &big_value, 1)], None, Compression::None);
    assert_eq!(produce(&mut c, "b", 0, big).await.0, MESSAGE_TOO_LARGE);

    assert_eq!(produce(&mut c, "b", 0, good.slice(..30)).await.0, INVALID_RECORD, "truncated batch");
    let mut magic1 = good.to_vec();
    magic1[16] = 1;
    assert_eq!(produce(&mut c, "b", 0, magic1.into()).await.0, INVALID_RECORD, "old message format");
    assert_eq!(produce(&mut c, "b", 0, bytes::Bytes::new()).await.0, INVALID_RECORD, "no records");

    // None of that was stored; a good batch lands at offset 0.
    assert_eq!(produce(&mut c, "b", 0, good).await, (0, 0));
    still_serving(&broker).await;
    broker.shutdown().await.unwrap();
}
