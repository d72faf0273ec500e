"""Transactions, measured two ways with one script:

- the brokers: the bundled broker next to Apache Kafka 4.1 (one node, Kafka's defaults, the
  JVM as kafka-server-start.sh runs it), both driven by confluent-kafka (librdkafka): a
  transactional producer committing every 1,000 records, and one committing every 100 ms,
  then a read_committed consumer reading everything back;
- the clients: ferrokafka's Python binding next to confluent-kafka on the bundled broker,
  committing every 1,000 records.

Every tenth transaction is aborted and must never surface. Every figure a median of R runs
(min-max), runs interleaved, a fresh topic each.

Usage: python bench/transactions_bench.py [--records N] [--runs R] [--no-kafka] [--out BENCHMARKS.md]
"""
import argparse
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker_bench  # noqa: E402  (the broker process helper and the machine line)

sys.path.insert(0, os.path.join(broker_bench.ROOT, "tests", "apache_kafka"))
import cluster  # noqa: E402  (Apache Kafka for the broker comparison)

SECTION = "## Transactions: produce committing every 1,000 records or every 100 ms, read_committed consume"
OLD_SECTION = "## Transactions: produce committing every 1,000 records, read_committed consume"
PARTITIONS = 6
PER_TXN = 1_000
TXN_MS = 100
# Every tenth transaction is aborted: the reader must drop it.
ABORT_EVERY = 10


def run(module, admin_module, bootstrap, records, payloads, by_time=False, reader=None):
    """Produces `records` in transactions of PER_TXN records (or of TXN_MS each, `by_time`),
    then reads the committed ones back with `reader` (default: the same client module):
    (produce rec/s, consume rec/s)."""
    topic = f"txb-{uuid.uuid4().hex[:8]}"
    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([admin_module.NewTopic(topic, PARTITIONS, 1)])[topic].result()
    p = module.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "transactional.id": topic,
                         "queue.buffering.max.messages": 1_000_000})
    p.init_transactions(30)
    committed = 0
    started = time.perf_counter()
    txn = 0
    i = 0
    while i < records:
        p.begin_transaction()
        first = i
        if by_time:
            ends = time.perf_counter() + TXN_MS / 1000
            # The clock is read once per 100 records: a read costs more than a produce.
            while i < records and (i % 100 or time.perf_counter() < ends):
                p.produce(topic, value=payloads[i % len(payloads)], partition=i % PARTITIONS)
                i += 1
        else:
            for i in range(first, min(first + PER_TXN, records)):
                p.produce(topic, value=payloads[i % len(payloads)], partition=i % PARTITIONS)
            i += 1
        txn += 1
        if txn % ABORT_EVERY == 0:
            # Sent first, so the aborted records are in the log for the reader to skip (and
            # the coordinator knows the partitions: aborting a transaction it saw nothing of
            # is INVALID_TXN_STATE on Apache Kafka, librdkafka issue #4849).
            p.flush(30)
            p.abort_transaction(30)
        else:
            p.commit_transaction(30)
            committed += i - first
        p.poll(0)
    produce_s = time.perf_counter() - started
    return records / produce_s, consume(reader or module, bootstrap, topic, committed)


def consume(module, bootstrap, topic, committed):
    """Reads `topic` with read_committed until its `committed` records are in: rec/s, timed
    from the first record."""
    c = module.Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    c.assign([module.TopicPartition(topic, q, 0) for q in range(PARTITIONS)])
    got, first, started = 0, 0, None
    while got < committed:
        msgs = c.consume(10_000, 10)
        assert msgs, f"read {got} of {committed} committed records"
        for m in msgs:
            assert m.error() is None, m.error()
            m.value()
        if started is None:
            started, first = time.perf_counter(), len(msgs)
        got += len(msgs)
    consume_s = (time.perf_counter() - started) * committed / max(committed - first, 1)
    assert got == committed and c.poll(0.5) is None, "an aborted record surfaced"
    c.close()
    return committed / consume_s


class ApacheKafka:
    """One Apache Kafka node with Kafka's own defaults where the test cluster differs."""

    def __init__(self):
        overrides = {"num.network.threads": None, "num.io.threads": None, "background.threads": None,
                     "log.flush.interval.ms": None, "replica.lag.time.max.ms": None,
                     "num.partitions": PARTITIONS}
        self.cluster = cluster.KafkaCluster(1, jvm=cluster.KAFKA_DEFAULT_JVM, overrides=overrides)
        self.cluster.start()
        self.bootstrap = self.cluster.bootstrap

    def stop(self):
        self.cluster.stop()


def ratio_row(label, ours, theirs, columns):
    cells = []
    for k in range(columns):
        r = [a[k] / b[k] for a, b in zip(ours, theirs)]
        cells.append(f"{statistics.median(r):.2f}× ({min(r):.2f}–{max(r):.2f})")
    return f"| {label} | " + " | ".join(cells) + " |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-kafka", action="store_true", help="only the client comparison on the bundled broker")
    ap.add_argument("--out", default=os.path.join(broker_bench.ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    import confluent_kafka
    import confluent_kafka.admin
    import ferrokafka
    import ferrokafka.admin
    payloads = broker_bench.values(100)
    peer = f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})"
    ours_client = "ferrokafka (Python binding)"

    def confluent(bootstrap, by_time=False, reader=None):
        return run(confluent_kafka, confluent_kafka.admin, bootstrap, args.records, payloads, by_time, reader)

    def ferro(bootstrap):
        return run(ferrokafka, ferrokafka.admin, bootstrap, args.records, payloads)

    brokers = {"bundled broker": broker_bench.Broker(PARTITIONS)}
    kafka_name = "Apache Kafka 4.1 (one node)"
    try:
        if not args.no_kafka:
            brokers[kafka_name] = ApacheKafka()
        clients = {name: [] for name in (ours_client, peer)}
        by_broker = {name: [] for name in brokers}
        for _ in range(args.runs):
            bundled = brokers["bundled broker"].bootstrap
            clients[ours_client].append(ferro(bundled))
            clients[peer].append(confluent(bundled))
            print("clients", {k: v[-1] for k, v in clients.items()}, flush=True)
            for name, b in brokers.items():
                # The reads by ferrokafka's consumer: confluent-kafka's Python consume loop
                # tops out near 150,000 rec/s on either broker, which would hide the broker.
                every_1000 = confluent(b.bootstrap, reader=ferrokafka)
                every_100ms = confluent(b.bootstrap, by_time=True, reader=ferrokafka)
                # Produce every 1,000, produce every 100 ms, consume (both consumes averaged).
                by_broker[name].append((every_1000[0], every_100ms[0], (every_1000[1] + every_100ms[1]) / 2))
                print(name, by_broker[name][-1], flush=True)
    finally:
        for b in brokers.values():
            b.stop()

    lines = [SECTION, "",
             f"Generated by `bench/transactions_bench.py` (`make bench-transactions`) on "
             f"{time.strftime('%Y-%m-%d %H:%M')} UTC; {broker_bench.machine()}.", "",
             f"{args.records:,} records of 100 B over {PARTITIONS} partitions per run, in transactions of "
             f"{PER_TXN:,} records or of {TXN_MS} ms each, every {ABORT_EVERY}th transaction aborted and the others "
             "committed (each commit waits for its records); then a read_committed consumer reads the committed "
             "records back by manual assign (timed from the first record) and checks that no aborted one "
             f"surfaces. Runs interleaved, {args.runs} of each; median (min–max) of records per second.", ""]
    if len(brokers) > 1:
        lines += ["**Brokers**: the bundled broker (release build, its defaults) and Apache Kafka 4.1 (one combined "
                  "broker+controller node, Kafka's defaults, `-Xmx1G -Xms1G` G1 as `kafka-server-start.sh` runs "
                  "it), both running throughout; produced by " + peer + ", read back by ferrokafka's consumer "
                  "(confluent-kafka's Python consume loop tops out near 150,000 rec/s on either broker, which "
                  "would hide the brokers; the consume figure averages the two topics).", "",
                  "| broker | produce, commit every 1,000 | produce, commit every 100 ms | read_committed consume |",
                  "|---|---|---|---|"]
        for name, runs in by_broker.items():
            lines.append(f"| {name} | " + " | ".join(broker_bench.fmt([r[k] for r in runs]) for k in range(3)) + " |")
        lines += [ratio_row("bundled / Apache Kafka", by_broker["bundled broker"], by_broker[kafka_name], 3), ""]
    lines += ["**Clients** on the bundled broker, committing every 1,000 records:", "",
              "| client | transactional produce rec/s | read_committed consume rec/s |", "|---|---|---|"]
    for name, runs in clients.items():
        lines.append(f"| {name} | {broker_bench.fmt([p for p, _ in runs])} | {broker_bench.fmt([c for _, c in runs])} |")
    lines += [ratio_row("ferrokafka / confluent-kafka", clients[ours_client], clients[peer], 2), ""]
    section = "\n".join(lines)
    print(section)
    broker_bench.write_section(args.out, section, OLD_SECTION)
    broker_bench.write_section(args.out, section, SECTION)


if __name__ == "__main__":
    main()
