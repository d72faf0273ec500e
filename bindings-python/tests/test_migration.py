"""The same code, written for confluent-kafka, runs with ferrokafka by changing the import:
each scenario runs with both modules against the same broker and must give the same result."""
import time
import uuid

import pytest

import ferrokafka
import ferrokafka.admin

confluent_kafka = pytest.importorskip("confluent_kafka")
import confluent_kafka.admin  # noqa: E402


def produce_consume_commit(kafka, admin, bootstrap):
    topic = f"mig-{kafka.__name__}-{uuid.uuid4().hex[:6]}"
    a = admin.AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([admin.NewTopic(topic, 2, 1)])[topic].result()
    p = kafka.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})
    delivered = []
    for i in range(20):
        p.produce(topic, key=f"user-{i % 4}", value=str(i).encode(), headers=[("i", str(i).encode())],
                  timestamp=1_700_000_000_000 + i, on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    remaining = p.flush(10)
    c = kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest",
                        "enable.auto.commit": False})
    assigned = []
    c.subscribe([topic], on_assign=lambda consumer, partitions: assigned.extend(tp.partition for tp in partitions))
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 20 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append((m.partition(), m.offset(), m.key(), m.value(), m.headers(), m.timestamp()))
    c.commit(asynchronous=False)
    committed = [(tp.partition, tp.offset) for tp in c.committed([kafka.TopicPartition(topic, p) for p in range(2)])]
    low_high = c.get_watermark_offsets(kafka.TopicPartition(topic, 0))
    c.close()
    a.delete_topics([topic])[topic].result()
    return remaining, sorted(delivered), sorted(assigned), sorted(got), committed, low_high


def restart_from_beginning_in_on_assign(kafka, admin, bootstrap):
    topic = f"mig-reset-{kafka.__name__}-{uuid.uuid4().hex[:6]}"
    a = admin.AdminClient({"bootstrap.servers": bootstrap})  # kept: confluent-kafka's futures need it alive
    a.create_topics([admin.NewTopic(topic, 1, 1)])[topic].result()
    p = kafka.Producer({"bootstrap.servers": bootstrap})
    for i in range(3):
        p.produce(topic, value=str(i))
    p.flush(10)
    c = kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": topic})
    c.commit(offsets=[kafka.TopicPartition(topic, 0, 3)], asynchronous=False)

    def on_assign(consumer, partitions):
        for tp in partitions:
            tp.offset = kafka.OFFSET_BEGINNING
        consumer.assign(partitions)

    c.subscribe([topic], on_assign=on_assign)
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.close()
    return got


def errors(kafka, admin, bootstrap):
    out = []
    topic = f"mig-err-{kafka.__name__}-{uuid.uuid4().hex[:6]}"
    a = admin.AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([admin.NewTopic(topic, 1, 1)])[topic].result()
    try:
        a.create_topics([admin.NewTopic(topic, 1, 1)])[topic].result()
    except kafka.KafkaException as e:
        out.append(e.args[0].name())
    try:
        a.delete_topics(["mig-no-such-topic"])["mig-no-such-topic"].result()
    except kafka.KafkaException as e:
        out.append((e.args[0].code(), e.args[0].name()))
    p = kafka.Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, b"x")
    p.flush(10)
    try:
        p.produce(topic, b"x", partition=5)
    except kafka.KafkaException as e:
        out.append(e.args[0].code() == kafka.KafkaError._UNKNOWN_PARTITION)
    try:
        kafka.Producer({"bootstrap.servers": bootstrap, "no.such.setting": 1})
    except kafka.KafkaException as e:
        out.append((e.args[0].code() == kafka.KafkaError._INVALID_ARG, "no.such.setting" in e.args[0].str()))
    c = kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": topic})
    c.assign([kafka.TopicPartition(topic, 0, 0)])
    try:
        c.seek(kafka.TopicPartition(topic, 0, kafka.OFFSET_STORED))
    except kafka.KafkaException as e:
        out.append(e.args[0].name())
    c.close()
    try:
        c.poll(0)
    except RuntimeError as e:
        out.append(str(e))
    return out


@pytest.mark.parametrize("scenario", [produce_consume_commit, restart_from_beginning_in_on_assign, errors])
def test_migration_is_changing_the_import(bootstrap, scenario):
    theirs = scenario(confluent_kafka, confluent_kafka.admin, bootstrap)
    ours = scenario(ferrokafka, ferrokafka.admin, bootstrap)
    assert ours == theirs
    assert theirs, "the scenario produced something to compare"
