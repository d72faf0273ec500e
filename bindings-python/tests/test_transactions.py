"""Transactions as confluent-kafka users write them, against the bundled broker and Apache
Kafka: committed records read once, aborted ones never (also by librdkafka's read_committed
consumer, and ours reading librdkafka's transactions), fencing, and an exactly-once copy
killed with SIGKILL and restarted."""
import os
import signal
import subprocess
import sys
import uuid

import confluent_kafka
import pytest

from conftest import ROOT, poll_until
from ferrokafka import Consumer, ConsumerGroupMetadata, KafkaError, KafkaException, Producer, TopicPartition

EXAMPLE = os.path.join(ROOT, "examples", "python", "eos_copy.py")


def txn_producer(bootstrap, txn_id=None):
    return Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id or f"tx-{uuid.uuid4().hex[:8]}"})


def values(bootstrap, topic, isolation, count, peer=False, partitions=1):
    """The values a consumer with this isolation level reads from the start of `topic`:
    `count` of them, then nothing more for a moment."""
    conf = {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
            "isolation.level": isolation, "enable.auto.commit": False}
    c = (confluent_kafka.Consumer if peer else Consumer)(conf)
    c.assign([(confluent_kafka.TopicPartition if peer else TopicPartition)(topic, p, -2) for p in range(partitions)])
    got = [m.value().decode() for m in poll_until(c, count)]
    extra = c.poll(1.0)
    assert extra is None or extra.error() is not None, f"more than {count}: {extra.value()}"
    c.close()
    return sorted(got)


def test_committed_once_aborted_never_also_for_librdkafka(bootstrap, new_topic):
    topic = new_topic(2)
    p = txn_producer(bootstrap)
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(6):
        p.produce(topic, value=f"c{i}", partition=i % 2)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(4):
        p.produce(topic, value=f"a{i}", partition=i % 2)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, value="c6", partition=0)
    p.commit_transaction(30)
    want = sorted(f"c{i}" for i in range(7))
    assert values(bootstrap, topic, "read_committed", 7, partitions=2) == want
    assert values(bootstrap, topic, "read_committed", 7, peer=True, partitions=2) == want
    assert len(values(bootstrap, topic, "read_uncommitted", 11, partitions=2)) == 11


def test_librdkafkas_transactions_read_by_ours(bootstrap, new_topic):
    topic = new_topic(1)
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "transactional.id": f"rd-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value=b"kept")
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce(topic, value=b"dropped")
    p.flush(30)
    p.abort_transaction(30)
    assert values(bootstrap, topic, "read_committed", 1) == ["kept"]
    # read_committed is the default, as in librdkafka.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, 0, -2)])
    assert [m.value() for m in poll_until(c, 1)] == [b"kept"]
    c.close()


def test_fenced_producer_is_fatal(bootstrap, new_topic):
    topic = new_topic(1)
    txn_id = f"fence-{uuid.uuid4().hex[:8]}"
    old = txn_producer(bootstrap, txn_id)
    old.init_transactions(30)
    old.begin_transaction()
    old.produce(topic, value="zombie")
    old.flush(30)
    new = txn_producer(bootstrap, txn_id)
    new.init_transactions(30)
    new.begin_transaction()
    new.produce(topic, value="fresh")
    new.commit_transaction(30)
    with pytest.raises(KafkaException) as e:
        old.commit_transaction(30)
    err = e.value.args[0]
    assert err.fatal() and not err.retriable() and not err.txn_requires_abort(), err
    assert values(bootstrap, topic, "read_committed", 1) == ["fresh"]


def test_state_errors_and_zombie_offsets(bootstrap, new_topic):
    topic = new_topic(1)
    p = txn_producer(bootstrap)
    with pytest.raises(KafkaException) as e:
        p.begin_transaction()
    assert e.value.args[0].code() == KafkaError._STATE
    p.init_transactions(30)
    p.begin_transaction()
    stale = ConsumerGroupMetadata(f"g-{uuid.uuid4().hex[:8]}", generation_id=42, member_id="gone")
    with pytest.raises(KafkaException) as e:
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 1)], stale, 30)
    assert e.value.args[0].txn_requires_abort(), e.value.args[0]
    p.abort_transaction(30)
    p.begin_transaction()
    p.commit_transaction(30)
    # A consumer without a group has no group metadata.
    c = Consumer({"bootstrap.servers": bootstrap})
    with pytest.raises(KafkaException):
        c.consumer_group_metadata()
    c.close()


def test_exactly_once_copy_survives_sigkill(bootstrap, new_topic):
    src, dst = new_topic(2), new_topic(2)
    n = 400
    plain = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        plain.produce(src, value=f"r{i}".encode(), partition=i % 2)
    assert plain.flush(30) == 0
    group = f"eos-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, EXAMPLE, bootstrap, src, dst, group]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        # Killed after a few transactions committed, in the middle of the next ones.
        for line in child.stdout:
            if line.startswith("committed") and int(line.split()[1]) >= 60:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    rerun = subprocess.run(cmd + ["--until-caught-up"], stdout=subprocess.PIPE, text=True, env=env, timeout=180)
    assert rerun.returncode == 0, rerun.stdout
    got = values(bootstrap, dst, "read_committed", n, partitions=2)
    assert got == sorted(f"R{i}" for i in range(n)), f"{len(got)} records, {len(set(got))} distinct"
