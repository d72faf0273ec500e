"""librdkafka (confluent-kafka) against the bundled broker."""
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

N = 400


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)
    return admin


def consume_all(bootstrap, topic, partitions, expected):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records = []
    try:
        while len(records) < expected:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out after {len(records)} of {expected} records"
            assert msg.error() is None, msg.error()
            records.append(msg)
    finally:
        consumer.close()
    return records


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_produce_with_each_codec_reads_back_exactly(any_broker, codec):
    bootstrap = any_broker
    topic = unique(f"ck-{codec}")
    create(bootstrap, topic, 3)
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "compression.type": codec,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    })
    delivered = []

    def on_delivery(err, msg):
        assert err is None, err
        delivered.append((msg.partition(), msg.offset(), msg.key()))

    sent = {}
    for i in range(N):
        key = f"key-{i % 23}".encode()
        value = f"value-{i}".encode()
        sent[value] = (key, 1_700_000_000_000 + i)
        producer.produce(topic, value=value, key=key, headers=[("i", str(i).encode()), ("codec", codec.encode())],
                         timestamp=1_700_000_000_000 + i, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert len(delivered) == N

    records = consume_all(bootstrap, topic, 3, N)
    assert len(records) == N
    for msg in records:
        key, ts = sent[msg.value()]
        assert msg.key() == key
        assert msg.timestamp()[1] == ts
        i = ts - 1_700_000_000_000
        assert msg.headers() == [("i", str(i).encode()), ("codec", codec.encode())]
    by_partition = {}
    for msg in records:
        by_partition.setdefault(msg.partition(), []).append(msg)
    for p, msgs in by_partition.items():
        offsets = [m.offset() for m in msgs]
        assert offsets == sorted(offsets) and offsets == list(range(offsets[0], offsets[0] + len(offsets)))
        stamps = [m.timestamp()[1] for m in msgs]
        assert stamps == sorted(stamps), "produce order kept per partition"
    # Every delivery report names the offset the consumer saw.
    seen = {(m.partition(), m.offset()) for m in records}
    assert {(p, o) for p, o, _ in delivered} == seen


def test_admin_create_list_grow_delete(any_broker):
    bootstrap = any_broker
    topic = unique("ck-admin")
    admin = create(bootstrap, topic, 2)
    assert len(admin.list_topics(timeout=10).topics[topic].partitions) == 2

    dup = admin.create_topics([NewTopic(topic, 1, 1)])[topic]
    with pytest.raises(Exception) as e:
        dup.result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    bad = admin.create_topics([NewTopic("bad/name", 1, 1)])["bad/name"]
    with pytest.raises(Exception) as e:
        bad.result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION

    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 5

    admin.delete_topics([topic])[topic].result(10)
    # Apache Kafka's brokers learn of a deletion from the controller's metadata log a moment
    # after DeleteTopics answers; the bundled broker's answer comes after the deletion.
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "the deleted topic is still listed after 30 s"
        time.sleep(0.05)


def test_watermarks_and_offsets_for_times(any_broker):
    bootstrap = any_broker
    topic = unique("ck-times")
    create(bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, value=b"x", timestamp=1_000_000 + i * 1000, partition=0)
        producer.flush(10)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 10)
        found = consumer.offsets_for_times([TopicPartition(topic, 0, 1_000_000 + 4500)], timeout=10)
        assert found[0].offset == 5
    finally:
        consumer.close()


# Topic configs every Kafka 4.x broker accepts in CreateTopics and lists in DescribeConfigs.
KAFKA_TOPIC_CONFIGS = {
    "delete.retention.ms": "86400000", "file.delete.delay.ms": "60000", "max.compaction.lag.ms": "9223372036854775807",
    "message.timestamp.after.max.ms": "3600000", "message.timestamp.before.max.ms": "9223372036854775807",
    "min.cleanable.dirty.ratio": "0.5", "min.compaction.lag.ms": "0", "preallocate": "false",
    "segment.index.bytes": "10485760", "segment.jitter.ms": "0", "compression.gzip.level": "5",
    "unclean.leader.election.enable": "false", "local.retention.ms": "-2",
}


def test_create_topic_with_kafka_topic_configs(any_broker):
    """Kafka's standard topic configs are accepted by both brokers (ours accepts those that
    mean nothing on one node without acting on them, as documented)."""
    bootstrap = any_broker
    admin = AdminClient({"bootstrap.servers": bootstrap})
    rejected = {}
    for key, value in KAFKA_TOPIC_CONFIGS.items():
        topic = unique("ck-cfg")
        try:
            admin.create_topics([NewTopic(topic, 1, 1, config={key: value})])[topic].result(15)
        except Exception as e:
            rejected[key] = str(e.args[0])
    assert rejected == {}


def test_authorized_operations_without_an_authorizer_are_all_a_resource_supports(any_broker):
    """describe_topics / describe_cluster / describe_consumer_groups asked for authorized
    operations: with no authorizer configured, every operation the resource type supports
    (Kafka's AclEntry.supportedOperations), on both brokers."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AclOperation as Op

    bootstrap = any_broker
    topic, group = unique("ck-ops"), unique("ck-ops-g")
    admin = create(bootstrap, topic, 1)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    finally:
        consumer.close()

    deadline = time.monotonic() + 30
    while True:
        try:
            described = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
            ops = described[topic].result(10).authorized_operations
            break
        except Exception:
            # Kafka's brokers learn of a new topic from the controller a moment after CreateTopics.
            assert time.monotonic() < deadline, "the new topic is not described after 30 s"
            time.sleep(0.05)
    assert set(ops) == {Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER,
                        Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}

    cluster = admin.describe_cluster(include_authorized_operations=True).result(10)
    assert set(cluster.authorized_operations) == {Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS,
                                                  Op.ALTER_CONFIGS, Op.IDEMPOTENT_WRITE, Op.ALTER, Op.DESCRIBE}
    assert admin.describe_cluster().result(10).authorized_operations is None, "not asked for"

    described = admin.describe_consumer_groups([group], include_authorized_operations=True)[group].result(10)
    assert set(described.authorized_operations) == {Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS,
                                                     Op.ALTER_CONFIGS}


def test_kafka_log_dirs_tool_reports_partition_sizes(any_broker):
    """Kafka's kafka-log-dirs.sh (org.apache.kafka.tools.LogDirsCommand) describes the topic's
    partitions with their log sizes on both brokers (DescribeLogDirs)."""
    import json
    import subprocess
    from test_apache_kafka import java_classes  # noqa: F401 (makes tests/apache_kafka importable)
    from cluster import java, lib_dir

    bootstrap = any_broker
    topic = unique("ck-logdirs")
    create(bootstrap, topic, 2)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(50):
        producer.produce(topic, b"x" * 100, partition=0)
    assert producer.flush(30) == 0
    out = subprocess.run([java(), "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", f"{lib_dir()}/*",
                          "org.apache.kafka.tools.LogDirsCommand", "--bootstrap-server", bootstrap,
                          "--describe", "--topic-list", topic], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    report = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))
    (broker,) = report["brokers"]
    sizes = {p["partition"]: p["size"] for d in broker["logDirs"] for p in d["partitions"]}
    assert set(sizes) == {f"{topic}-0", f"{topic}-1"}, report
    assert sizes[f"{topic}-0"] > 50 * 100 and sizes[f"{topic}-1"] == 0, report
