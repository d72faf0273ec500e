"""Starts the bundled broker through the Python binding, produces 10,000 records, reads them
back through a consumer group, and says what happened.

    bindings-python/test.sh            # builds and installs the wheel into .cache/venv
    .cache/venv/bin/python examples/python/produce_consume.py
"""
import tempfile
import time

from ferrokafka import Consumer, Producer, TopicPartition
from ferrokafka.admin import AdminClient, NewTopic
from ferrokafka.broker import start

N = 10_000

with tempfile.TemporaryDirectory() as data_dir, start("127.0.0.1:0", data_dir) as broker:
    print(f"broker    listening on {broker.bootstrap}")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("events", 3)])["events"].result()

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "compression.type": "lz4"})
    delivered = []
    started = time.perf_counter()
    for i in range(N):
        producer.produce("events", key=f"user-{i % 100}", value=f'{{"n": {i}}}', on_delivery=lambda err, msg: delivered.append(err))
    producer.flush()
    took = time.perf_counter() - started
    print(f"produced  {len(delivered)} records, {sum(e is not None for e in delivered)} failed, in {took:.2f}s")

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "readers", "auto.offset.reset": "earliest"})
    consumer.subscribe(["events"], on_assign=lambda c, tps: print(f"assigned  {[tp.partition for tp in tps]}"))
    read = 0
    while read < N:
        read += len(consumer.consume(1000, 5))
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition("events", p) for p in range(3)])
    print(f"consumed  {read} records; committed {[tp.offset for tp in committed]}")
    consumer.close()
print("done      broker stopped")
