"""The Python binding against the bundled broker (started through the binding itself) and
against Apache Kafka: the `bootstrap` fixture in conftest.py."""
import subprocess
import sys
import threading
import time
import uuid

import pytest

import ferrokafka
from ferrokafka import Consumer, KafkaException, Producer, TopicPartition
from ferrokafka.admin import AdminClient, NewPartitions, NewTopic


def topic_with(bootstrap, partitions):
    name = f"py-{uuid.uuid4().hex[:8]}"
    fs = AdminClient({"bootstrap.servers": bootstrap}).create_topics([NewTopic(name, partitions)])
    assert fs[name].result() is None
    return name


def test_produce_and_consume_round_trip_with_callbacks_on_the_polling_thread(bootstrap):
    topic = topic_with(bootstrap, 2)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    reports = []
    for i in range(100):
        p.produce(topic, value=f"v{i}", key=f"k{i}".encode(), partition=i % 2, timestamp=5_000 + i,
                  headers=[("n", str(i).encode())],
                  on_delivery=lambda err, msg: reports.append((err, msg, threading.get_ident())))
    assert p.flush(30) == 0
    assert len(reports) == 100 and len(p) == 0
    assert all(err is None for err, _, _ in reports)
    assert {tid for _, _, tid in reports} == {threading.get_ident()}, "callbacks run on the flushing thread"
    assert sorted(m.offset() for _, m, _ in reports if m.partition() == 0) == list(range(50))

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    c.assign([TopicPartition(topic, 0, ferrokafka.OFFSET_BEGINNING), TopicPartition(topic, 1, ferrokafka.OFFSET_BEGINNING)])
    msgs = []
    while len(msgs) < 100:
        batch = c.consume(100, 10)
        assert batch, "records arrive"
        msgs.extend(batch)
    for m in msgs:
        i = int(m.value()[1:])
        assert m.key() == f"k{i}".encode() and m.partition() == i % 2
        assert m.timestamp() == (ferrokafka.TIMESTAMP_CREATE_TIME, 5_000 + i)
        assert m.headers() == [("n", str(i).encode())] and m.error() is None
    assert c.get_watermark_offsets(TopicPartition(topic, 0)) == (0, 50)
    assert c.offsets_for_times([TopicPartition(topic, 1, 5_051)])[0].offset == 25
    c.close()


def test_group_subscribe_callbacks_commit_seek_pause(bootstrap):
    topic = topic_with(bootstrap, 3)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(30):
        p.produce(topic, value=str(i), partition=i % 3)
    p.flush()
    events = []
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic], on_assign=lambda cons, tps: events.append(("assign", sorted(tp.partition for tp in tps))),
                on_revoke=lambda cons, tps: events.append(("revoke", sorted(tp.partition for tp in tps))))
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 30 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None:
            got.append(m)
    assert len(got) == 30
    assert events[0] == ("assign", [0, 1, 2])
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, p) for p in range(3)])
    assert [tp.offset for tp in committed] == [10, 10, 10]

    # Explicit offsets with metadata; seek back; pause and resume.
    c.commit(offsets=[TopicPartition(topic, 0, 4, "note")], asynchronous=False)
    assert c.committed([TopicPartition(topic, 0)])[0].offset == 4
    assert c.committed([TopicPartition(topic, 0)])[0].metadata == "note"
    c.seek(TopicPartition(topic, 1, 7))
    c.pause([TopicPartition(topic, 2)])
    m = c.poll(5)
    assert (m.partition(), m.offset()) == (1, 7)
    assert c.poll(0.5) is not None  # offsets 8, 9 of partition 1
    assert c.poll(0.5) is not None
    assert c.poll(0.5) is None, "paused partition 2 has nothing more anyway; nothing else"
    c.resume([TopicPartition(topic, 2)])
    assert c.position([TopicPartition(topic, 1)])[0].offset == 10
    c.close()
    assert events[-1] == ("revoke", [0, 1, 2]), "close revokes"


def test_admin(bootstrap):
    a = AdminClient({"bootstrap.servers": bootstrap})
    name = f"adm-{uuid.uuid4().hex[:8]}"
    assert a.create_topics([NewTopic(name, 2)])[name].result() is None
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(name, 2)])[name].result()
    assert e.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    assert a.create_partitions([NewPartitions(name, 4)])[name].result() is None
    md = a.list_topics()
    assert len(md.topics[name].partitions) == 4 and len(md.brokers) >= 1
    assert a.delete_topics([name])[name].result() is None
    assert name not in a.list_topics().topics


def test_errors_are_kafka_exceptions_and_buffer_errors(bootstrap):
    with pytest.raises(KafkaException) as e:
        Producer({"bootstrap.servers": bootstrap, "linger.mss": 5})
    assert e.value.args[0].code() == ferrokafka.KafkaError._INVALID_ARG
    assert "linger.mss" in e.value.args[0].str()
    topic = topic_with(bootstrap, 1)
    p = Producer({"bootstrap.servers": bootstrap, "queue.buffering.max.messages": 5, "linger.ms": 60000})
    for i in range(5):
        p.produce(topic, value=b"x")
    with pytest.raises(BufferError):
        p.produce(topic, value=b"one too many")
    assert p.flush(30) == 0
    with pytest.raises(KafkaException) as e:
        p.produce(topic, value=b"x", partition=9)
    assert e.value.args[0].code() == ferrokafka.KafkaError.UNKNOWN_TOPIC_OR_PART


def test_blocking_calls_release_the_gil(bootstrap):
    topic = topic_with(bootstrap, 1)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gil"})
    c.assign([TopicPartition(topic, 0, ferrokafka.OFFSET_END)])
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    t = threading.Thread(target=spin)
    t.start()
    before = len(ticks)
    assert c.poll(1.0) is None
    stop.set()
    t.join()
    assert len(ticks) - before >= 20, "another Python thread ran while poll waited"
    c.close()


def run_with(module, admin_module, bootstrap):
    """The same code for confluent-kafka and ferrokafka: migration is the import."""
    topic = f"mig-{module.__name__}-{uuid.uuid4().hex[:6]}"
    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([admin_module.NewTopic(topic, 1, 1)])[topic].result()
    p = module.Producer({"bootstrap.servers": bootstrap})
    delivered = []
    for i in range(10):
        p.produce(topic, key=b"k", value=str(i).encode(), on_delivery=lambda err, msg: delivered.append(msg.offset()))
    p.flush(10)
    c = module.Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    values = []
    deadline = time.monotonic() + 30
    while len(values) < 10 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            values.append(m.value())
    c.commit(asynchronous=False)
    committed = c.committed([module.TopicPartition(topic, 0)])[0].offset
    c.close()
    return sorted(delivered), values, committed


def test_migration_is_changing_the_import(bootstrap):
    import confluent_kafka
    import confluent_kafka.admin
    theirs = run_with(confluent_kafka, confluent_kafka.admin, bootstrap)
    ours = run_with(ferrokafka, ferrokafka.admin, bootstrap)
    assert ours == theirs == (list(range(10)), [str(i).encode() for i in range(10)], 10)


def test_python_m_ferrokafka_broker(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "ferrokafka.broker", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ferrokafka-broker listening on 127.0.0.1:"), line
        md = AdminClient({"bootstrap.servers": line.split()[-1]}).list_topics()
        assert len(md.brokers) == 1
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_asyncio_api(bootstrap):
    import asyncio
    from ferrokafka.aio import AIOAdminClient, AIOConsumer, AIOProducer

    async def main():
        admin = AIOAdminClient({"bootstrap.servers": bootstrap})
        topic = f"aio-{uuid.uuid4().hex[:8]}"
        assert await admin.create_topics([NewTopic(topic, 1)]) == {topic: None}
        producer = AIOProducer({"bootstrap.servers": bootstrap})
        delivered = await asyncio.gather(*(producer.produce(topic, value=str(i)) for i in range(20)))
        assert sorted(m.offset() for m in delivered) == list(range(20))
        await producer.close()
        consumer = AIOConsumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        got = []
        async for msg in consumer:
            got.append(int(msg.value()))
            if len(got) == 20:
                break
        await consumer.commit()
        await consumer.close()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 60)) == list(range(20))


def test_ctrl_c_stops_a_blocking_poll_promptly(bootstrap, tmp_path):
    import signal
    script = tmp_path / "blocked.py"
    script.write_text(
        "import sys, ferrokafka\n"
        f"c = ferrokafka.Consumer({{'bootstrap.servers': '{bootstrap}', 'group.id': 'ctrl-c'}})\n"
        "c.assign([ferrokafka.TopicPartition('nothing-here', 0, ferrokafka.OFFSET_END)])\n"
        "print('polling', flush=True)\n"
        "try:\n    c.poll(60)\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n    sys.exit(3)\n")
    AdminClient({"bootstrap.servers": bootstrap}).create_topics([NewTopic("nothing-here", 1)])["nothing-here"].exception()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "polling"
    time.sleep(0.5)  # let it block in poll: there is no event to await from outside the process
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 3 and proc.stdout.readline().strip() == "interrupted"
    assert time.monotonic() - started < 2, "stopped within a slice of the wait"


def test_broker_context_manager_with_a_temporary_dir():
    with ferrokafka.Broker() as broker:
        data_dir = broker.data_dir
        md = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics()
        assert len(md.brokers) == 1
    import os
    assert not os.path.exists(data_dir), "the temporary data dir is removed"
