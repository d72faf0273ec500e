"""Records cross the binding intact, and delivery callbacks run on the thread that polls."""
import threading
import time

import ferrokafka
from ferrokafka import Consumer, Producer, TopicPartition


def test_round_trip_of_keys_values_headers_and_timestamps(bootstrap, new_topic):
    topic = new_topic(2)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    reports = []
    for i in range(100):
        p.produce(topic, value=f"v{i}", key=f"k{i}".encode(), partition=i % 2, timestamp=5_000 + i,
                  headers=[("n", str(i).encode()), ("empty", None)] if i % 2 else {"n": str(i)},
                  on_delivery=lambda err, msg: reports.append((err, msg)))
    p.produce(topic, value=None, key=None, partition=0)  # a tombstone without key
    assert p.flush(30) == 0
    assert len(reports) == 100 and len(p) == 0
    assert all(err is None for err, _ in reports)
    assert sorted(m.offset() for _, m in reports if m.partition() == 0) == list(range(50))
    delivered = {m.value(): m for _, m in reports}
    assert delivered[b"v7"].key() == b"k7" and delivered[b"v7"].topic() == topic
    assert delivered[b"v7"].timestamp() == (ferrokafka.TIMESTAMP_CREATE_TIME, 5_007)

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rt-{topic}"})
    c.assign([TopicPartition(topic, 0, ferrokafka.OFFSET_BEGINNING), TopicPartition(topic, 1, ferrokafka.OFFSET_BEGINNING)])
    msgs = []
    while len(msgs) < 101:
        batch = c.consume(200, 10)
        assert batch, "records arrive"
        msgs.extend(batch)
    tombstone = [m for m in msgs if m.value() is None]
    assert len(tombstone) == 1 and tombstone[0].key() is None and tombstone[0].len() == 0
    for m in msgs:
        if m.value() is None:
            continue
        i = int(m.value()[1:])
        assert m.key() == f"k{i}".encode() and m.partition() == i % 2 and m.topic() == topic
        assert m.timestamp() == (ferrokafka.TIMESTAMP_CREATE_TIME, 5_000 + i)
        expected = [("n", str(i).encode()), ("empty", None)] if i % 2 else [("n", str(i).encode())]
        assert m.headers() == expected and m.error() is None and len(m) == len(m.value())
    assert c.get_watermark_offsets(TopicPartition(topic, 0)) == (0, 51)
    assert c.offsets_for_times([TopicPartition(topic, 1, 5_051)])[0].offset == 25
    assert c.offsets_for_times([TopicPartition(topic, 1, 10**13)])[0].offset == ferrokafka.OFFSET_END
    c.close()


def test_delivery_callbacks_run_on_the_thread_that_polls(bootstrap, new_topic):
    topic = new_topic(1)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    seen = []
    for i in range(50):
        p.produce(topic, value=str(i), on_delivery=lambda err, msg: seen.append((threading.get_ident(), err, msg.offset())))
    time.sleep(0.5)  # the records are acknowledged by now; their reports wait for poll
    assert seen == [], "no callback runs outside poll/flush"
    assert len(p) == 50, "len counts reports not yet served"

    def poller():
        while len(seen) < 50:
            p.poll(0.1)

    t = threading.Thread(target=poller)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert {tid for tid, _, _ in seen} == {t.ident}, "callbacks ran on the polling thread"
    assert sorted(o for _, _, o in seen) == list(range(50)) and all(e is None for _, e, _ in seen)
    assert len(p) == 0 and p.flush(5) == 0


def test_default_delivery_callback_from_the_configuration(bootstrap, new_topic):
    topic = new_topic(1)
    seen = []
    p = Producer({"bootstrap.servers": bootstrap, "on_delivery": lambda err, msg: seen.append(msg.value())})
    p.produce(topic, b"a")
    p.produce(topic, b"b", callback=lambda err, msg: seen.append(b"own " + msg.value()))
    assert p.flush(30) == 0
    assert sorted(seen) == [b"a", b"own b"]
    assert p.poll(0) == 0, "nothing left to serve"
    stats = p.stats()
    assert stats["records_sent"] == 2
    assert stats["producer_id"] >= 0 and stats["producer_epoch"] == 0 and stats["epoch_bumps"] == 0, "idempotent by default"
    md = p.list_topics(topic)
    assert list(md.topics) == [topic] and len(md.topics[topic].partitions) == 1


def test_produce_batch_queues_many_records_in_one_call(bootstrap, new_topic):
    topic = new_topic(3)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    reports = []
    values = [f"v{i}".encode() for i in range(500)]
    keys = [f"k{i % 7}" for i in range(500)]
    assert p.produce_batch(topic, values, keys=keys, on_delivery=lambda err, msg: reports.append((err, msg))) == 500
    assert p.flush(30) == 0
    assert len(reports) == 500 and all(err is None for err, _ in reports)
    # Keyed records land where produce() puts them: one partition per key.
    by_key = {}
    for _, m in reports:
        by_key.setdefault(m.key(), set()).add(m.partition())
    assert all(len(parts) == 1 for parts in by_key.values()) and len(by_key) == 7

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"batch-{topic}"})
    c.assign([TopicPartition(topic, q, ferrokafka.OFFSET_BEGINNING) for q in range(3)])
    got = []
    while len(got) < 500:
        batch = c.consume(500, 10)
        assert batch, "records arrive"
        got.extend(batch)
    assert sorted(m.value() for m in got) == sorted(values)
    assert {m.value(): m.key() for m in got}[b"v8"] == b"k1"


def test_produce_batch_stops_at_a_full_queue_and_says_how_many_it_queued(bootstrap, new_topic):
    topic = new_topic(1)
    # A long linger keeps the queued records in the queue.
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 60_000, "queue.buffering.max.messages": 10})
    p.produce(topic, value=b"first")  # fetches the topic's metadata, so the batch queues at once
    try:
        p.produce_batch(topic, [b"x"] * 25)
        raise AssertionError("BufferError expected")
    except BufferError as e:
        assert e.args[1] == 9, e.args
    assert len(p) == 10
    assert p.flush(30) == 0
    try:
        p.produce_batch(topic, [b"a", b"b"], keys=[b"k"])
        raise AssertionError("TypeError expected")
    except TypeError as e:
        assert "fewer keys" in str(e)
