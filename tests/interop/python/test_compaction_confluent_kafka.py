"""librdkafka (confluent-kafka) reading a compacted topic of the bundled broker from the
beginning: the latest value of every key, at the offset its produce was acknowledged with."""
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BrokerProcess

KEYS = 50
UPDATES = 3000


def read_from_beginning(bootstrap, topic):
    """Every record of partition 0, up to the high watermark: {offset: (key, value)}."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    tp = TopicPartition(topic, 0, OFFSET_BEGINNING)
    try:
        _low, high = consumer.get_watermark_offsets(tp, timeout=10)
        consumer.assign([tp])
        records = {}
        while high > 0:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out at {len(records)} records, high watermark {high}"
            if msg.error():
                raise KafkaException(msg.error())
            records[msg.offset()] = (msg.key(), msg.value())
            if msg.offset() >= high - 1:
                break
        return records
    finally:
        consumer.close()


def test_librdkafka_reads_a_compacted_topic_with_each_keys_latest_value_at_its_acked_offset(tmp_path):
    broker = BrokerProcess(str(tmp_path), extra=["--set", "log.cleaner.backoff.ms=50"])
    bootstrap = broker.start()
    try:
        topic = f"compacted-{uuid.uuid4().hex[:8]}"
        config = {"cleanup.policy": "compact", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01"}
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(15)
        # Idempotent and compressed: the cleaner rewrites lz4 batches and keeps each producer's
        # last batch, possibly as a batch without records, which librdkafka must step over.
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                             "compression.type": "lz4", "linger.ms": 5,
                             "batch.num.messages": 20})
        acked = {}

        def on_delivery(err, msg):
            assert err is None, err
            acked[msg.key()] = (msg.value(), msg.offset())

        for i in range(UPDATES):
            key = f"key-{i % KEYS}".encode()
            value = None if i % 97 == 96 else f"value-{i}".encode()
            producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
            producer.poll(0)
        assert producer.flush(30) == 0
        assert len(acked) == KEYS

        deadline = time.monotonic() + 60
        while True:
            records = read_from_beginning(bootstrap, topic)
            # The active segment (2 KiB, at most 20 batches of 20) is never cleaned; all before it is.
            if len(records) <= KEYS + 400:
                break
            assert time.monotonic() < deadline, f"still {len(records)} records"
            time.sleep(0.2)
        latest = {}
        for offset in sorted(records):
            key, value = records[offset]
            latest[key] = (value, offset)
        assert latest == acked
        assert len(records) < UPDATES / 3
    finally:
        broker.close()
