"""Starts the bundled broker through the Python binding, produces 10,000 records, reads them
back through a consumer group, and says what happened.

    bindings-python/test.sh            # builds and installs the wheel into .cache/venv
    .cache/venv/bin/python examples/python/produce_consume.py

(or ``pip install ./bindings-python`` into any Python 3.10+ environment first).
"""
import tempfile
import threading
import time

from ferrokafka import Consumer, KafkaException, Producer, TopicPartition
from ferrokafka.admin import AdminClient, NewTopic
from ferrokafka.broker import start

N = 10_000

with tempfile.TemporaryDirectory() as data_dir, start("127.0.0.1:0", data_dir) as broker:
    print(f"broker     listening on {broker.bootstrap} (data in {data_dir})")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("events", 3)])["events"].result()
    try:
        admin.create_topics([NewTopic("events", 3)])["events"].result()
    except KafkaException as e:
        print(f"admin      creating it again: {e.args[0].name()} (code {e.args[0].code()})")

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "compression.type": "lz4"})
    failed, threads = [], set()

    def delivered(err, msg):
        threads.add(threading.current_thread().name)
        if err is not None:
            failed.append(err)

    started = time.perf_counter()
    for i in range(N):
        producer.produce("events", key=f"user-{i % 100}", value=f'{{"n": {i}}}', headers={"source": "example"},
                         on_delivery=delivered)
        if i % 1000 == 0:
            producer.poll(0)  # serve the delivery callbacks ready so far, on this thread
    producer.flush()
    took = time.perf_counter() - started
    print(f"produced   {N} records in {took:.2f}s ({N / took:,.0f}/s), {len(failed)} failed; "
          f"callbacks ran on {sorted(threads)}")

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "readers", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe(["events"], on_assign=lambda c, tps: print(f"assigned   partitions {[tp.partition for tp in tps]}"))
    read, first = 0, None
    started = time.perf_counter()
    while read < N:
        batch = consumer.consume(1000, 5)
        first = first or (batch[0] if batch else None)
        read += len(batch)
    took = time.perf_counter() - started
    committed = consumer.commit(asynchronous=False)
    print(f"consumed   {read} records in {took:.2f}s (join included); committed {sorted((tp.partition, tp.offset) for tp in committed)}")
    print(f"first one  {first.topic()}-{first.partition()}@{first.offset()} key={first.key()!r} value={first.value()!r} "
          f"headers={first.headers()} timestamp={first.timestamp()}")
    low, high = consumer.get_watermark_offsets(TopicPartition("events", 0))
    print(f"partition  events-0: offsets {low}..{high}")
    consumer.close()
print("done       broker stopped")
