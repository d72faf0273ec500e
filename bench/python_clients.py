"""Python clients side by side on the same bundled broker: ferrokafka (the binding),
confluent-kafka (librdkafka) and kafka-python. The same script shape for each: produce N
records of 100 B with a delivery callback, flush; then consume them back by manual assign.
Every figure is a median of R runs (min-max); each run uses a fresh topic.

Usage: python bench/python_clients.py [--records N] [--runs R] [--out BENCHMARKS.md]
"""
import argparse
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker_bench  # noqa: E402  (the broker process helper and the machine line)

SECTION = "## Python clients on the bundled broker"
PARTITIONS = 6


def confluent_like(module, admin_module, bootstrap, records, payloads):
    """ferrokafka and confluent-kafka share this code: only the module differs."""
    topic = f"py-{uuid.uuid4().hex[:8]}"
    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([admin_module.NewTopic(topic, PARTITIONS, 1)])[topic].result()
    p = module.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
    done = [0]

    def cb(err, msg):
        done[0] += 1

    started = time.perf_counter()
    for i in range(records):
        while True:
            try:
                p.produce(topic, value=payloads[i % len(payloads)], partition=i % PARTITIONS, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10_000 == 0:
            p.poll(0)
    p.flush()
    produce_s = time.perf_counter() - started
    assert done[0] == records, done[0]
    c = module.Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "enable.auto.commit": False})
    c.assign([module.TopicPartition(topic, q, 0) for q in range(PARTITIONS)])
    got = 0
    started = time.perf_counter()
    while got < records:
        got += len(c.consume(10_000, 10))
    consume_s = time.perf_counter() - started
    c.close()
    return produce_s, consume_s


def kafka_python(bootstrap, records, payloads):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    topic = f"kp-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    done = [0]

    def cb(_):
        done[0] += 1

    started = time.perf_counter()
    for i in range(records):
        p.send(topic, value=payloads[i % len(payloads)], partition=i % PARTITIONS).add_callback(cb)
    p.flush()
    produce_s = time.perf_counter() - started
    assert done[0] == records, done[0]
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    c.assign([TopicPartition(topic, q) for q in range(PARTITIONS)])
    c.seek_to_beginning()
    got = 0
    started = time.perf_counter()
    while got < records:
        for batch in c.poll(timeout_ms=1000, max_records=10_000).values():
            got += len(batch)
    consume_s = time.perf_counter() - started
    c.close()
    return produce_s, consume_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(broker_bench.ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    import confluent_kafka
    import confluent_kafka.admin
    import kafka
    import ferrokafka
    import ferrokafka.admin
    payloads = broker_bench.values(100)
    clients = {
        "ferrokafka (Python binding)": lambda b: confluent_like(ferrokafka, ferrokafka.admin, b, args.records, payloads),
        f"confluent-kafka {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]})":
            lambda b: confluent_like(confluent_kafka, confluent_kafka.admin, b, args.records, payloads),
        f"kafka-python {kafka.__version__}": lambda b: kafka_python(b, args.records, payloads),
    }
    results = {name: [] for name in clients}
    broker = broker_bench.Broker()
    try:
        for _ in range(args.runs):
            # Interleaved, so drift on a shared machine hits every client alike.
            for name, run in clients.items():
                results[name].append(run(broker.bootstrap))
                print(name, results[name][-1], flush=True)
    finally:
        broker.stop()
    base = statistics.median(args.records / p for p, _ in results[next(iter(clients))])
    lines = [SECTION, "",
             f"Measured {time.strftime('%Y-%m-%d')} on {broker_bench.machine()}; {args.records:,} records of 100 B per run,",
             f"{PARTITIONS} partitions, `linger.ms=5`, delivery callback per record; consume by manual assign.",
             f"Median of {args.runs} interleaved runs (min–max), one release-build broker for all.", "",
             "| client | produce rec/s | consume rec/s |", "|---|---|---|"]
    for name, runs in results.items():
        lines.append(f"| {name} | {broker_bench.fmt([args.records / p for p, _ in runs])} | "
                     f"{broker_bench.fmt([args.records / c for _, c in runs])} |")
    lines += ["",
              "Reading the figures (2026-11-25): the binding produces about 2.3x slower than",
              "confluent-kafka. Its per-record path still does Python-level work per record (a token,",
              "a callback dict entry, a Message and KafkaError object per report) where",
              "confluent-kafka does it in C; the Rust side already queues without releasing the GIL",
              "and gathers reports in one task. Next: keep callbacks and report objects in Rust and",
              "offer a batch produce. Consuming is ahead of confluent-kafka here; its spread is wide",
              "on this shared 2-core machine.", ""]
    _ = base
    section = "\n".join(lines)
    print(section)
    text = open(args.out).read() if os.path.exists(args.out) else "# Benchmarks\n\n"
    if SECTION in text:
        head, rest = text.split(SECTION, 1)
        tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
