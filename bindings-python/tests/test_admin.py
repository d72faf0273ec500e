"""AdminClient through the binding: futures keyed by name, as confluent-kafka returns them."""
import time
import uuid
from concurrent.futures import Future

import pytest

from conftest import poll_until
from ferrokafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from ferrokafka.admin import AdminClient, ConsumerGroupTopicPartitions, NewPartitions, NewTopic


def test_create_list_grow_delete_topics(bootstrap):
    a = AdminClient({"bootstrap.servers": bootstrap})
    name, other = f"adm-{uuid.uuid4().hex[:8]}", f"adm-{uuid.uuid4().hex[:8]}"
    fs = a.create_topics([NewTopic(name, 2, 1), NewTopic(other, 1, 1, config={"retention.ms": 60000})])
    assert set(fs) == {name, other} and all(isinstance(f, Future) for f in fs.values())
    assert [f.result() for f in fs.values()] == [None, None]
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(name, 2, 1)])[name].result()
    assert e.value.args[0] == KafkaError.TOPIC_ALREADY_EXISTS and e.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    assert a.create_partitions([NewPartitions(name, 4)])[name].result() is None
    # Apache Kafka's brokers learn of new partitions from the controller a moment after
    # CreatePartitions answers: await the metadata rather than assume it.
    deadline = time.monotonic() + 30
    md = a.list_topics()
    while len(md.topics[name].partitions) < 4 and time.monotonic() < deadline:
        md = a.list_topics()
    assert len(md.topics[name].partitions) == 4 and len(md.brokers) == 1 and md.cluster_id
    assert list(a.list_topics(other).topics) == [other]
    assert a.delete_topics([name, other])[name].result() is None
    assert name not in a.list_topics().topics
    with pytest.raises(KafkaException) as e:
        a.delete_topics([name])[name].result()
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART == KafkaError.UNKNOWN_TOPIC_OR_PARTITION == 3
    with pytest.raises(NotImplementedError):
        a.create_topics([NewTopic(name, 1)], validate_only=True)


def test_consumer_group_administration(bootstrap, new_topic):
    topic = new_topic(2)
    group = f"adm-g-{topic}"
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(4):
        p.produce(topic, value=str(i), partition=i % 2)
    p.flush(30)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    assert len(poll_until(c, 4)) == 4
    c.commit(asynchronous=False)

    a = AdminClient({"bootstrap.servers": bootstrap})
    listed = a.list_consumer_groups().result()
    assert group in {g.group_id for g in listed.valid}
    described = a.describe_consumer_groups([group])[group].result()
    assert described.state.lower() == "stable" and len(described.members) == 1
    assert sorted(tp.partition for tp in described.members[0].assignment) == [0, 1]
    c.close()

    offsets = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 2), (1, 2)]
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1)])])[group].result()
    only0 = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result()
    assert [(tp.partition, tp.offset) for tp in only0.topic_partitions] == [(0, 1)]
    assert a.delete_consumer_groups([group])[group].result() is None
    assert group not in {g.group_id for g in a.list_consumer_groups().result().valid}
