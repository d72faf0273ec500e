"""kafka-python against the bundled broker."""
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


@pytest.mark.parametrize("codec", [None, "gzip"])
def test_produce_and_read_back(bootstrap, codec):
    topic = f"kp-{codec}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=5)
    futures = [
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 2,
                      headers=[("h", str(i).encode())], timestamp_ms=2_000_000 + i)
        for i in range(200)
    ]
    producer.flush(30)
    metas = [f.get(timeout=30) for f in futures]
    assert all(m.offset >= 0 for m in metas)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    consumer.seek_to_beginning()
    records = []
    for msg in consumer:
        records.append(msg)
        if len(records) == 200:
            break
    consumer.close()
    assert len(records) == 200
    for msg in records:
        i = int(msg.value[1:])
        assert msg.key == f"k{i}".encode()
        assert msg.partition == i % 2
        assert msg.timestamp == 2_000_000 + i
        assert msg.headers == [("h", str(i).encode())]
    for p in (0, 1):
        values = [int(m.value[1:]) for m in records if m.partition == p]
        assert values == sorted(values), "order kept per partition"
    admin.close()


def test_admin_create_list_delete(bootstrap):
    topic = f"kp-admin-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    assert topic in admin.list_topics()
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic, 3, 1)])
    admin.delete_topics([topic])
    assert topic not in admin.list_topics()
    admin.close()
