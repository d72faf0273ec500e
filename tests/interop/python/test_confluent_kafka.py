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


def _alter(admin, resource_type, name, ops):
    """incremental_alter_configs of one resource: ops are (key, AlterConfigOpType, value).
    Returns None, or the KafkaError it was refused with."""
    from confluent_kafka.admin import ConfigEntry, ConfigResource
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, op, v in ops]
    future = admin.incremental_alter_configs([ConfigResource(resource_type, name, incremental_configs=entries)])
    try:
        for f in future.values():
            f.result(15)
    except Exception as e:
        return e.args[0]
    return None


def _described(admin, resource_type, name):
    from confluent_kafka.admin import ConfigResource
    [f] = admin.describe_configs([ConfigResource(resource_type, name)], request_timeout=15).values()
    return f.result(15)


def _eventually(fetch, wanted, what):
    """Kafka applies config changes through its metadata log: a describe right after the
    change may still show the old value. Polls `fetch()` until it is `wanted` (30 s)."""
    deadline = time.monotonic() + 30
    while True:
        got = fetch()
        if got == wanted:
            return
        assert time.monotonic() < deadline, f"{what}: {got!r}, not {wanted!r}, after 30 s"
        time.sleep(0.1)


def test_dynamic_broker_config_reaches_the_brokers_topics(any_broker):
    """IncrementalAlterConfigs on this broker's BROKER resource (confluent-kafka cannot name
    the cluster-default resource "": its ConfigResource refuses an empty name): a dynamic key
    is set and described back as DYNAMIC_BROKER_CONFIG, topics without an override take it,
    a static key is refused with INVALID_REQUEST, and the key is deleted again."""
    from confluent_kafka.admin import AlterConfigOpType as Op, ConfigSource, ResourceType

    bootstrap = any_broker
    topic = unique("ck-dyn")
    admin = create(bootstrap, topic, 1)
    node = str(admin.describe_cluster().result(10).nodes[0].id)
    broker_entry = lambda key: (lambda e: (e.value, e.source, e.is_read_only))(
        _described(admin, ResourceType.BROKER, node)[key])
    topic_entry = lambda key: (lambda e: (e.value, e.source))(_described(admin, ResourceType.TOPIC, topic)[key])
    try:
        assert _alter(admin, ResourceType.BROKER, node, [("log.retention.ms", Op.SET, "3600000")]) is None
        _eventually(lambda: broker_entry("log.retention.ms"),
                    ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False), "log.retention.ms")
        _eventually(lambda: topic_entry("retention.ms"), ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value),
                    "the topic's retention.ms")
        assert broker_entry("num.partitions")[2] is True, "a static setting is read-only"
        refused = _alter(admin, ResourceType.BROKER, node, [("num.partitions", Op.SET, "3")])
        assert refused is not None and refused.code() == KafkaError.INVALID_REQUEST, refused
        assert "Cannot update these configs dynamically" in refused.str(), refused
        refused = _alter(admin, ResourceType.BROKER, node, [("log.retention.ms", Op.APPEND, "1")])
        assert refused is not None and refused.code() == KafkaError.INVALID_CONFIG, refused
    finally:
        # The reference broker is shared by the whole run: leave nothing set.
        assert _alter(admin, ResourceType.BROKER, node, [("log.retention.ms", Op.DELETE, None)]) is None
    _eventually(lambda: topic_entry("retention.ms"), ("604800000", ConfigSource.DEFAULT_CONFIG.value),
                "the topic's retention.ms once the broker's setting is deleted")


def test_append_and_subtract_on_a_topics_cleanup_policy(any_broker):
    """APPEND and SUBTRACT on the list config cleanup.policy: APPEND starts from Kafka's
    default (delete) and adds only what is missing; on a config that is not a list, both
    brokers answer INVALID_CONFIG."""
    from confluent_kafka.admin import AlterConfigOpType as Op, ResourceType

    bootstrap = any_broker
    topic = unique("ck-list")
    admin = create(bootstrap, topic, 1)
    policy = lambda: _described(admin, ResourceType.TOPIC, topic)["cleanup.policy"].value
    _eventually(policy, "delete", "a new topic's cleanup.policy")
    for op, value, wanted in [(Op.APPEND, "compact", "delete,compact"), (Op.APPEND, "compact", "delete,compact"),
                              (Op.SUBTRACT, "delete", "compact"), (Op.APPEND, "delete", "compact,delete")]:
        assert _alter(admin, ResourceType.TOPIC, topic, [("cleanup.policy", op, value)]) is None
        _eventually(policy, wanted, f"cleanup.policy after {op} {value}")
    refused = _alter(admin, ResourceType.TOPIC, topic, [("retention.ms", Op.APPEND, "1")])
    assert refused is not None and refused.code() == KafkaError.INVALID_CONFIG, refused
    assert "LIST" in refused.str(), refused


def test_group_configs_are_described_and_altered(any_broker):
    """GROUP config resources (KIP-848): any group id is described with the broker's settings
    (each broker's own: ours 45000/5000, the reference 6000/500), a heartbeat interval both
    accept is set and described back as GROUP_CONFIG, one below the broker's minimum is
    INVALID_CONFIG, and deleting it puts the default back."""
    from confluent_kafka.admin import AlterConfigOpType as Op, ConfigSource, ResourceType

    bootstrap = any_broker
    admin = AdminClient({"bootstrap.servers": bootstrap})
    group = unique("ck-gcfg")
    described = _described(admin, ResourceType.GROUP, group)
    assert {"consumer.session.timeout.ms", "consumer.heartbeat.interval.ms", "share.session.timeout.ms",
            "streams.session.timeout.ms"} <= set(described)
    assert all(e.source == ConfigSource.DEFAULT_CONFIG.value for e in described.values())
    default_interval = described["consumer.heartbeat.interval.ms"].value
    interval = lambda: (lambda e: (e.value, e.source))(
        _described(admin, ResourceType.GROUP, group)["consumer.heartbeat.interval.ms"])

    assert _alter(admin, ResourceType.GROUP, group, [("consumer.heartbeat.interval.ms", Op.SET, "5500")]) is None
    _eventually(interval, ("5500", ConfigSource.GROUP_CONFIG.value), "the group's heartbeat interval")
    refused = _alter(admin, ResourceType.GROUP, group, [("consumer.heartbeat.interval.ms", Op.SET, "100")])
    assert refused is not None and refused.code() == KafkaError.INVALID_CONFIG, refused
    assert "group.consumer.min.heartbeat.interval.ms" in refused.str(), refused
    refused = _alter(admin, ResourceType.GROUP, group, [("no.such.config", Op.SET, "1")])
    assert refused is not None and refused.code() == KafkaError.INVALID_CONFIG, refused
    assert _alter(admin, ResourceType.GROUP, group, [("consumer.heartbeat.interval.ms", Op.DELETE, None)]) is None
    _eventually(interval, (default_interval, ConfigSource.DEFAULT_CONFIG.value), "the default once deleted")
