"""Rust clients side by side on one release-build bundled broker: the ferrokafka core and
rust-rdkafka (librdkafka), the same program shape for each (bench/rust-clients).

Producers: records/s, MB/s and send-to-delivery latency p50/p99 for 100 B and 1 KiB values,
acks=1 and acks=all, each run on a fresh topic. Consumers: records/s and MB/s reading the
same pre-filled topic from the beginning; end-to-end latency (send to the consumer holding
the record) p50/p99 at fixed produce rates, the same ferrokafka producer feeding either
consumer. Each scenario runs R times, clients alternating; figures are medians (min–max)
and ratios are computed run by run.

Usage (the Makefile's bench-rust target builds the program first):
    .cache/venv/bin/python bench/rust_clients.py [--records N] [--runs R] [--only producers|consumers]
        [--out BENCHMARKS.md]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker_bench  # noqa: E402

SECTION = "## Rust producers: ferrokafka and rust-rdkafka"
CONSUMER_SECTION = "## Rust consumers: ferrokafka and rust-rdkafka"
READERS = ["ferrokafka", "rdkafka", "rdkafka-tuned"]
CONSUME_SIZES = {100: 1.0, 1024: 0.3}   # value size -> share of --records read
E2E_RATES = (1_000, 20_000)             # records/s
E2E_SECONDS = 10
PARTITIONS = 6
PROGRAM = os.path.join(broker_bench.ROOT, "bench/rust-clients/target/release/ferrokafka-bench-clients")
CLIENTS = ["ferrokafka", "rdkafka"]


def run(client, bootstrap, records, size, acks):
    topic = f"rb-{uuid.uuid4().hex[:8]}"
    create(bootstrap, topic)
    return program("produce", client, bootstrap, topic, PARTITIONS, records, size, acks)


def program(*args):
    out = subprocess.run([PROGRAM, *map(str, args)], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args[:2]))} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def create(bootstrap, topic):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)


def rdkafka_version():
    lock = os.path.join(broker_bench.ROOT, "bench/rust-clients/Cargo.lock")
    text = open(lock).read()
    found = {}
    for name in ("rdkafka", "rdkafka-sys"):
        marker = f'name = "{name}"\nversion = "'
        i = text.find(marker)
        if i >= 0:
            found[name] = text[i + len(marker):].split('"', 1)[0]
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["producers", "consumers"])
    ap.add_argument("--out", default=os.path.join(broker_bench.ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    if args.only != "consumers":
        producers(args)
    if args.only != "producers":
        consumers(args)


def consumers(args):
    started = time.perf_counter()
    broker = broker_bench.Broker(PARTITIONS)
    reads = {(size, c): [] for size in CONSUME_SIZES for c in READERS}
    e2e = {(rate, c): [] for rate in E2E_RATES for c in CLIENTS}
    try:
        # One filled topic per value size, read whole by each client in turn.
        filled = {}
        for size, share in CONSUME_SIZES.items():
            n = int(args.records * share)
            topic = f"rc-{size}-{uuid.uuid4().hex[:8]}"
            create(broker.bootstrap, topic)
            program("produce", "ferrokafka", broker.bootstrap, topic, PARTITIONS, n, size, "1")
            filled[size] = (topic, n)
        for r in range(args.runs):
            for size, (topic, n) in filled.items():
                for client in READERS:
                    res = program("consume", client, broker.bootstrap, topic, PARTITIONS, n)
                    reads[(size, client)].append(res)
                    print(f"run {r + 1} consume {size} B {client}: {res['rec_s']:,.0f} rec/s, first after {res['first_ms']:.0f} ms",
                          flush=True)
            for rate in E2E_RATES:
                for client in CLIENTS:
                    topic = f"re-{uuid.uuid4().hex[:8]}"
                    create(broker.bootstrap, topic)
                    res = program("e2e", client, broker.bootstrap, topic, PARTITIONS, rate, E2E_SECONDS, 100)
                    e2e[(rate, client)].append(res)
                    print(f"run {r + 1} e2e {rate}/s {client}: p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms", flush=True)
    finally:
        broker.stop()
    med = statistics.median
    fmt = lambda xs, d=0: broker_bench.fmt(xs, digits=d)
    versions = rdkafka_version()
    lines = [CONSUMER_SECTION, "",
             f"Generated by `bench/rust_clients.py` (`make bench-rust`) on {time.strftime('%Y-%m-%d %H:%M')} UTC in "
             f"{time.perf_counter() - started:.0f} s; {broker_bench.machine()}.", "",
             f"bench/rust-clients, rdkafka {versions.get('rdkafka', '?')} (librdkafka built from source): ferrokafka's "
             "`Consumer::poll` on a thread with a current-thread tokio runtime of its own, librdkafka's "
             "`BaseConsumer::poll` on a thread of its own (its fastest path); "
             "both with their default fetch settings (`fetch.max.wait.ms` 500, `fetch.min.bytes` 1, 1 MiB per "
             f"partition, 64 MiB read-ahead), partitions assigned from the beginning, no group. {args.runs} runs, clients "
             "alternating, median (min–max); ratios ferrokafka / rdkafka run by run.", "",
             f"Throughput: the same topic ({PARTITIONS} partitions, filled beforehand) read whole by each client, each value "
             "touched; the rate runs from the first record to the last, and the time from `assign` to the first record "
             "(connecting, finding offsets) is its own column. `rdkafka-tuned` sets `fetch.queue.backoff.ms=0`: by default "
             "librdkafka stops fetching a partition whose queue holds `queued.min.messages` (100,000) and waits 1 s before "
             "fetching it again, even when the application has drained it long before. ferrokafka verifies every batch's "
             "CRC32C (the Java client's `check.crcs=true` default); librdkafka skips that by default (`check.crcs=false`): "
             "with 1 KiB values the check is about 12% of ferrokafka's consumer CPU (perf).", "",
             "| value | records | client | rec/s | MB/s | first record ms |", "|---|---|---|---|---|---|"]
    for size, (topic, n) in filled.items():
        for client in READERS:
            rs = reads[(size, client)]
            lines.append(f"| {size} B | {n:,} | {client} | {fmt([x['rec_s'] for x in rs])} | {fmt([x['mb_s'] for x in rs], 1)} | "
                         f"{med([x['first_ms'] for x in rs]):.0f} |")
        for peer in READERS[1:]:
            rate = [a["rec_s"] / b["rec_s"] for a, b in zip(reads[(size, "ferrokafka")], reads[(size, peer)])]
            lines.append(f"| {size} B | | ferrokafka / {peer} | {med(rate):.2f}× ({min(rate):.2f}–{max(rate):.2f}) | | |")
    lines += ["", f"End-to-end latency: one ferrokafka producer (`linger.ms=0`) sends 100 B records at a fixed rate for "
              f"{E2E_SECONDS} s, round-robin over {PARTITIONS} partitions, to the consumer under test in the same process "
              "(the value carries the send time); the first second is warm-up and not counted.", "",
              "| rate | client | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for rate in E2E_RATES:
        for client in CLIENTS:
            rs = e2e[(rate, client)]
            lines.append(f"| {rate:,}/s | {client} | {fmt([x['p50_ms'] for x in rs], 2)} | {fmt([x['p99_ms'] for x in rs], 2)} | "
                         f"{med([x['max_ms'] for x in rs]):.1f} |")
        p99 = [a["p99_ms"] / b["p99_ms"] for a, b in zip(e2e[(rate, "ferrokafka")], e2e[(rate, "rdkafka")])]
        lines.append(f"| {rate:,}/s | ferrokafka / rdkafka | | {med(p99):.2f}× ({min(p99):.2f}–{max(p99):.2f}) | |")
    lines.append("")
    section = "\n".join(lines)
    broker_bench.write_section(args.out, section, CONSUMER_SECTION)
    print(section)


def producers(args):
    scenarios = [(size, acks) for size in (100, 1024) for acks in ("1", "all")]
    results = {(s, a, c): [] for s, a in scenarios for c in CLIENTS}
    started = time.perf_counter()
    broker = broker_bench.Broker(PARTITIONS)
    try:
        for r in range(args.runs):
            for size, acks in scenarios:
                for client in CLIENTS:
                    res = run(client, broker.bootstrap, args.records, size, acks)
                    results[(size, acks, client)].append(res)
                    print(f"run {r + 1} {size} B acks={acks} {client}: {res['rec_s']:,.0f} rec/s p50 {res['p50_ms']:.1f} ms "
                          f"p99 {res['p99_ms']:.1f} ms", flush=True)
    finally:
        broker.stop()
    med = statistics.median
    fmt = lambda xs, d=0: broker_bench.fmt(xs, digits=d)
    versions = rdkafka_version()
    lines = [SECTION, "",
             f"Generated by `bench/rust_clients.py` (`make bench-rust`) on {time.strftime('%Y-%m-%d %H:%M')} UTC in "
             f"{time.perf_counter() - started:.0f} s; {broker_bench.machine()}.", "",
             f"bench/rust-clients: the same program shape for both clients, rdkafka {versions.get('rdkafka', '?')} "
             f"(rdkafka-sys {versions.get('rdkafka-sys', '?')}, librdkafka built from source). {args.records:,} records per "
             f"run, round-robin over {PARTITIONS} partitions, sent as fast as the producer takes them; settings for both: "
             "`linger.ms=5`, `batch.size=1000000`, a 1,000,000-record queue, idempotence on with acks=all. Latency: from "
             "`send` to the delivery being observed (one task collects deliveries in send order, for both). One release "
             f"broker; clients alternate; {args.runs} runs, median (min–max); ratios ferrokafka / rdkafka run by run.", "",
             "| value | acks | client | rec/s | MB/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
    for size, acks in scenarios:
        for client in CLIENTS:
            rs = results[(size, acks, client)]
            lines.append(f"| {size} B | {acks} | {client} | {fmt([x['rec_s'] for x in rs])} | {fmt([x['mb_s'] for x in rs], 1)} | "
                         f"{med([x['p50_ms'] for x in rs]):.1f} | {med([x['p99_ms'] for x in rs]):.1f} |")
        ours, theirs = results[(size, acks, "ferrokafka")], results[(size, acks, "rdkafka")]
        rate = [a["rec_s"] / b["rec_s"] for a, b in zip(ours, theirs)]
        p99 = [a["p99_ms"] / b["p99_ms"] for a, b in zip(ours, theirs) if b["p99_ms"]]
        lines.append(f"| {size} B | {acks} | ferrokafka / rdkafka | {med(rate):.2f}× ({min(rate):.2f}–{max(rate):.2f}) | | | "
                     f"{med(p99):.2f}× |")
    lines.append("")
    section = "\n".join(lines)
    broker_bench.write_section(args.out, section, SECTION)
    print(section)


if __name__ == "__main__":
    main()
