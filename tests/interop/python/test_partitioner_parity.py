"""ferrokafka's partitioners put keys where librdkafka does: librdkafka produces 10,000 keys of
varied lengths to the bundled broker, and examples/rust/partition_keys answers for the same
keys."""
import os
import random
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITION_KEYS = os.environ.get("FERROKAFKA_PARTITION_KEYS_BIN", "target/debug/examples/partition_keys")
PARTITIONS = 17
KEYS = 10_000


@pytest.mark.parametrize("partitioner", ["murmur2_random", "consistent_random"])
def test_keys_land_where_librdkafka_puts_them(bootstrap, partitioner):
    topic = f"parity-{partitioner}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(15)
    rng = random.Random(7)
    # Lengths 1..200 (and a few long ones), printable and binary bytes alike.
    keys = list({bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 3, 5, 8, 16, 33, 64, 200, 1000]))) for _ in range(KEYS * 2)})[:KEYS]
    assert len(keys) == KEYS
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": partitioner, "linger.ms": 20})
    for i, k in enumerate(keys):
        producer.produce(topic, key=k, value=str(i).encode())
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "parity", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    librdkafka = {}
    while len(librdkafka) < KEYS:
        msg = consumer.poll(10)
        assert msg is not None, f"timed out after {len(librdkafka)} records"
        assert msg.error() is None, msg.error()
        librdkafka[msg.key()] = msg.partition()
    consumer.close()

    answer = subprocess.run([PARTITION_KEYS, partitioner, str(PARTITIONS)], input="\n".join(k.hex() for k in keys),
                            capture_output=True, text=True, check=True)
    ours = [int(line) for line in answer.stdout.split()]
    assert len(ours) == KEYS
    mismatches = [(k.hex(), librdkafka[k], p) for k, p in zip(keys, ours) if librdkafka[k] != p]
    assert mismatches == [], f"{len(mismatches)} keys differ, e.g. {mismatches[:5]}"
    used = set(librdkafka.values())
    assert len(used) == PARTITIONS, "the keys spread over every partition"
