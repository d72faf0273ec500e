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


def confluent_like(module, admin_module, bootstrap, records, payloads, batch=False):
    """ferrokafka and confluent-kafka share this code: only the module differs. `batch`:
    ferrokafka's produce_batch, 1,000 records per call (the same partitions and callbacks)."""
    topic = f"py-{uuid.uuid4().hex[:8]}"
    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([admin_module.NewTopic(topic, PARTITIONS, 1)])[topic].result()
    p = module.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
    done = [0]

    def cb(err, msg):
        done[0] += 1

    started = time.perf_counter()
    if batch:
        chunk = 1_000
        for base in range(0, records, chunk * PARTITIONS):
            for q in range(PARTITIONS):
                values = [payloads[i % len(payloads)] for i in range(base + q, min(base + chunk * PARTITIONS, records), PARTITIONS)]
                p.produce_batch(topic, values, partition=q, on_delivery=cb)
            p.poll(0)
    else:
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
    # Timed from the first record (connecting and the offset lookup are not the per-record
    # path; librdkafka alone waits ~0.5 s before its first ListOffsets); each value is read.
    got, first, started = 0, 0, None
    while got < records:
        msgs = c.consume(10_000, 10)
        for m in msgs:
            m.value()
        if msgs and started is None:
            started, first = time.perf_counter(), len(msgs)
        got += len(msgs)
    consume_s = (time.perf_counter() - started) * records / max(records - first, 1)
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
    got, first, started = 0, 0, None
    while got < records:
        n = 0
        for batch in c.poll(timeout_ms=1000, max_records=10_000).values():
            for r in batch:
                r.value
            n += len(batch)
        if n and started is None:
            started, first = time.perf_counter(), n
        got += n
    consume_s = (time.perf_counter() - started) * records / max(records - first, 1)
    c.close()
    return produce_s, consume_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=500_000)
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
        f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})":
            lambda b: confluent_like(confluent_kafka, confluent_kafka.admin, b, args.records, payloads),
        f"kafka-python {kafka.__version__}": lambda b: kafka_python(b, args.records, payloads),
        "ferrokafka, produce_batch (1,000 per call)":
            lambda b: confluent_like(ferrokafka, ferrokafka.admin, b, args.records, payloads, batch=True),
    }
    results = {name: [] for name in clients}
    broker = broker_bench.Broker(PARTITIONS)
    try:
        for _ in range(args.runs):
            # Interleaved, so drift on a shared machine hits every client alike.
            for name, run in clients.items():
                results[name].append(run(broker.bootstrap))
                print(name, results[name][-1], flush=True)
    finally:
        broker.stop()
    names = list(clients)
    ours, peer = results[names[0]], results[names[1]]
    lines = [SECTION, "",
             f"Generated by `bench/python_clients.py` (`make bench-python`) on {time.strftime('%Y-%m-%d %H:%M')} UTC; "
             f"{broker_bench.machine()}.", "",
             f"The same script for each client ({args.records:,} records of 100 B, {PARTITIONS} partitions, "
             "`linger.ms=5`, partition chosen by the script): produce with a delivery callback per record, then "
             "flush; consume the records back by manual assign in batches of 10,000, reading each value, timed "
             "from the first record to the last. One release-build broker for all; runs interleaved "
             f"(each client in turn, repeated {args.runs} times); median (min–max). "
             "The ratio is ferrokafka over confluent-kafka, computed run by run.", "",
             "| client | produce rec/s | consume rec/s |", "|---|---|---|"]
    for name, runs in results.items():
        lines.append(f"| {name} | {broker_bench.fmt([args.records / p for p, _ in runs])} | "
                     f"{broker_bench.fmt([args.records / c for _, c in runs])} |")
    pr = [p2 / p1 for (p1, _), (p2, _) in zip(ours, peer)]
    cr = [c2 / c1 for (_, c1), (_, c2) in zip(ours, peer)]
    lines += [f"| ferrokafka / confluent-kafka | {statistics.median(pr):.2f}× ({min(pr):.2f}–{max(pr):.2f}) | "
              f"{statistics.median(cr):.2f}× ({min(cr):.2f}–{max(cr):.2f}) |"]
    br = [p2 / p1 for (p1, _), (p2, _) in zip(results[names[3]], peer)]
    lines += [f"| ferrokafka produce_batch / confluent-kafka | {statistics.median(br):.2f}× ({min(br):.2f}–{max(br):.2f}) | |", ""]
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
