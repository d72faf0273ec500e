"""The bundled broker driven by librdkafka (confluent-kafka): produce and fetch throughput,
memory (RSS idle and under load) and time from start to ready. Not a test: figures only.

Usage: python bench/broker_bench.py [--records N] [--runs R] [--out BENCHMARKS.md]
Every figure is the median of R runs with its min-max spread; each run starts a fresh broker
on a fresh data dir.
"""
import argparse
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import threading
import time

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKER = os.environ.get("FERROKAFKA_BROKER_BIN", os.path.join(ROOT, "target/release/ferrokafka-broker"))
READY = "ferrokafka-broker listening on "
PARTITIONS = 6
SECTION = "## Bundled broker driven by librdkafka"


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Broker:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        started = time.perf_counter()
        self.proc = subprocess.Popen([BROKER, "--listen", "127.0.0.1:0", "--data-dir", self.dir.name, "--log-level", "warn"],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.ready_ms = (time.perf_counter() - started) * 1000
        assert line.startswith(READY), line
        self.bootstrap = line[len(READY):].strip()
        self.peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.proc.pid))
            except OSError:
                return
            time.sleep(0.05)

    def rss(self):
        return rss_kib(self.proc.pid)

    def stop(self):
        self._stop.set()
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        self.dir.cleanup()


def values(size, count=1024):
    """Distinct JSON-like payloads of `size` bytes: structured text that compresses about as
    much as typical event data, not one repeated value (which would flatter lz4)."""
    import random
    rng = random.Random(size)
    out = []
    for i in range(count):
        head = f'{{"user":{rng.randrange(10**6)},"event":"{rng.choice(["click", "view", "buy"])}","ts":{rng.randrange(10**12)},"data":"'
        body = "".join(rng.choice("abcdefghij0123456789") for _ in range(max(0, size - len(head) - 2)))
        out.append((head + body + '"}').encode()[:size])
    return out


def produce(bootstrap, topic, records, size, acks, compression):
    pool = values(size)
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(err)

    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "compression.type": compression, "linger.ms": 5,
                  "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                  "enable.idempotence": acks == "all", "log_level": 3})
    started = time.perf_counter()
    for i in range(records):
        while True:
            try:
                p.produce(topic, value=pool[i % len(pool)], partition=i % PARTITIONS, on_delivery=report)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10_000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    elapsed = time.perf_counter() - started
    assert not failures, failures[:3]
    return elapsed


def consume(bootstrap, topic, records):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False, "log_level": 3,
                  "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = 0
    started = time.perf_counter()
    while got < records:
        batch = c.consume(10_000, 10)
        assert batch, f"timed out after {got} records"
        for m in batch:
            assert m.error() is None, m.error()
        got += len(batch)
    elapsed = time.perf_counter() - started
    c.close()
    assert got == records
    return elapsed


def one_run(records, size, acks, compression):
    b = Broker()
    try:
        idle = b.rss()
        topic = "bench"
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(15)
        p_s = produce(b.bootstrap, topic, records, size, acks, compression)
        c_s = consume(b.bootstrap, topic, records)
        return {"ready_ms": b.ready_ms, "idle_kib": idle, "peak_kib": b.peak, "produce_s": p_s, "consume_s": c_s}
    finally:
        b.stop()


def fmt(values, scale=1.0, digits=0):
    vals = [v * scale for v in values]
    med = statistics.median(vals)
    return f"{med:,.{digits}f} ({min(vals):,.{digits}f}–{max(vals):,.{digits}f})"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB RAM, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    started = time.time()
    rows = []
    for size in (100, 1024):
        for acks in ("1", "all"):
            for compression in ("none", "lz4"):
                runs = [one_run(args.records, size, acks, compression) for _ in range(args.runs)]
                mb = args.records * size / 1e6
                rows.append((size, acks, compression, runs, mb))
                print(f"{size} B acks={acks} {compression}: produce {fmt([args.records / r['produce_s'] for r in runs])} rec/s, "
                      f"consume {fmt([args.records / r['consume_s'] for r in runs])} rec/s", flush=True)
    all_runs = [r for row in rows for r in row[3]]
    lines = [
        SECTION,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; broker commit `{commit}` (release build),",
        f"confluent-kafka {confluent_kafka.version()[0]} with librdkafka {confluent_kafka.libversion()[0]}.",
        f"Each figure: median of {args.runs} runs (min–max), each run on a fresh broker and data dir;",
        f"{args.records:,} records per run to a {PARTITIONS}-partition topic; producer `linger.ms=5`,",
        "`batch.size=1000000`, idempotence on with acks=all; consumer by manual assign from offset 0;",
        "values: 1,024 distinct JSON-like payloads of the given size (lz4 shrinks them about 2x).",
        "The broker, the client and the sampler share the machine's cores: these are end-to-end",
        "figures on one box, not the broker alone. Broker flush policy: the default (fsync within",
        "`log.flush.interval.ms=1000`).",
        "",
        "| value | acks | compression | produce rec/s | produce MB/s | fetch rec/s | fetch MB/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, acks, compression, runs, mb in rows:
        lines.append(
            f"| {size} B | {acks} | {compression} "
            f"| {fmt([args.records / r['produce_s'] for r in runs])} | {fmt([mb / r['produce_s'] for r in runs], digits=1)} "
            f"| {fmt([args.records / r['consume_s'] for r in runs])} | {fmt([mb / r['consume_s'] for r in runs], digits=1)} "
            f"| {fmt([r['peak_kib'] for r in runs], 1 / 1024, 1)} |")
    lines += [
        "",
        "| broker | time to ready (spawn → ready line) | idle RSS |",
        "|---|---|---|",
        f"| ferrokafka-broker | {fmt([r['ready_ms'] for r in all_runs], digits=1)} ms | "
        f"{fmt([r['idle_kib'] for r in all_runs], 1 / 1024, 1)} MiB |",
        "",
        f"Whole run: {time.time() - started:.0f} s.",
        "",
        "Reading the figures (from the 2026-11-25 run; re-check when they move): the fetch rate is",
        "flat at about 400k records/s whatever the record size or codec, while 1 KiB records move",
        "10x the bytes at that rate, so the bound is per record on the consuming side (Python",
        "objects per message in confluent-kafka), not the broker's byte path. Produce with lz4 on",
        "1 KiB records is slower than without because librdkafka compresses on the same 2 cores the",
        "broker uses. Peak RSS under uncompressed load (about 120 MiB) comes from Fetch responses:",
        "each is assembled in memory (one copy of the record bytes, up to `fetch.max.bytes`) before",
        "it is written; serving file ranges straight to the socket is the next step for memory.",
        "librdkafka's idempotent producer spends about 0.5 s acquiring its producer id at start,",
        "which only shows on short runs.",
        "",
    ]
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
