"""The bundled broker driven by librdkafka (confluent-kafka): produce and fetch throughput,
memory (RSS idle, after a topic, under load), CPU time and time from spawn to ready.
A benchmark, not a test: it prints figures and writes them to a markdown file.

Usage (with the venv python, after `cargo build --release -p ferrokafka-broker`):

    .cache/venv/bin/python bench/broker_bench.py [--records N] [--runs R] [--starts S]
        [--sizes 100,1024] [--acks 1,all] [--compression none,lz4] [--out BENCHMARKS.md]

Every throughput and memory figure is the median of R runs with its min-max spread; each run
starts a fresh broker on a fresh temp data dir and a free port (the broker picks it: --listen
127.0.0.1:0, and the script reads it from the broker's one stdout line). The report replaces
only the section "## Bundled broker driven by librdkafka" of the --out file.

A failing run (broker crash, hang, wrong count, delivery errors) does not stop the benchmark:
it is listed under "Problems" in the report with the broker's exit status and stderr tail.
"""
import argparse
import datetime
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKER = os.environ.get("FERROKAFKA_BROKER_BIN", os.path.join(ROOT, "target/release/ferrokafka-broker"))
READY = "ferrokafka-broker listening on "
SECTION = "## Bundled broker driven by librdkafka"
TOPIC = "bench"
SAMPLE_S = 0.05          # RSS sampler period
READY_TIMEOUT_S = 30     # spawn -> ready line
FLUSH_TIMEOUT_S = 300    # Producer.flush()
STALL_TIMEOUT_S = 30     # consumer: no record for this long = hang
MIB = 1024


# --- the broker process --------------------------------------------------------------------

def proc_status(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def proc_cpu_s(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BrokerError(Exception):
    pass


class Broker:
    """A fresh ferrokafka-broker on a temp data dir and a free port; stderr kept in a file."""

    def __init__(self, partitions, extra_args=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="ferrokafka-bench-")
        self.data_dir = os.path.join(self.tmp.name, "data")
        self.stderr_path = os.path.join(self.tmp.name, "broker.stderr")
        self.cmd = [BROKER, "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                    "--set", f"num.partitions={partitions}", *extra_args]
        self._stderr = open(self.stderr_path, "wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._stderr)
        line = self._ready_line()
        self.ready_ms = (time.perf_counter() - started) * 1000
        if not line.startswith(READY):
            raise BrokerError(f"unexpected first stdout line {line!r}" + self.diagnosis())
        self.bootstrap = line[len(READY):].strip()
        self.pid = self.proc.pid
        self._sampling = None

    def _ready_line(self):
        got = []
        reader = threading.Thread(target=lambda: got.append(self.proc.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT_S)
        if not got:
            self.proc.kill()
            raise BrokerError(f"no ready line within {READY_TIMEOUT_S} s" + self.diagnosis())
        return got[0]

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise BrokerError("broker exited during the run" + self.diagnosis())

    def rss_kib(self):
        return proc_status(self.pid, "VmRSS")

    def hwm_kib(self):
        return proc_status(self.pid, "VmHWM")

    def cpu_s(self):
        return proc_cpu_s(self.pid)

    def log_bytes(self):
        """Bytes in the data dir's *.log segment files (what the records take on disk)."""
        total = 0
        for d, _, files in os.walk(self.data_dir):
            total += sum(os.path.getsize(os.path.join(d, f)) for f in files if f.endswith(".log"))
        return total

    # VmRSS sampled every SAMPLE_S by a background thread while a phase runs.
    def start_sampling(self):
        samples, stop = [], threading.Event()

        def run():
            while not stop.is_set():
                try:
                    samples.append(self.rss_kib())
                except (OSError, KeyError):
                    return
                stop.wait(SAMPLE_S)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self._sampling = (samples, stop, t)

    def stop_sampling(self):
        samples, stop, t = self._sampling
        stop.set()
        t.join()
        self._sampling = None
        return samples

    def diagnosis(self):
        rc = self.proc.poll()
        state = "still running" if rc is None else f"exit status {rc}"
        if rc is not None and rc < 0:
            state += f" (signal {signal.Signals(-rc).name})"
        self._stderr.flush()
        with open(self.stderr_path, "rb") as f:
            tail = f.read()[-4000:].decode(errors="replace")
        return f"\n  command: {' '.join(self.cmd)}\n  broker: {state}\n  broker stderr (tail):\n" + \
            "".join(f"    {l}\n" for l in tail.splitlines())

    def stop(self):
        """SIGTERM and wait; a broker that does not stop cleanly is an error."""
        try:
            if self.alive():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    diag = self.diagnosis()
                    self.proc.kill()
                    self.proc.wait()
                    raise BrokerError("broker did not exit within 60 s of SIGTERM" + diag)
                if rc != 0:
                    raise BrokerError(f"broker exited with status {rc} after SIGTERM" + self.diagnosis())
            else:
                raise BrokerError("broker had already exited before SIGTERM" + self.diagnosis())
        finally:
            self.proc.stdout.close()
            self._stderr.close()
            self.tmp.cleanup()


def create_topic(bootstrap, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    admin.create_topics([NewTopic(TOPIC, partitions, 1)])[TOPIC].result(30)


# --- workload --------------------------------------------------------------------------------

EVENTS = ("click", "view", "buy", "search", "add_to_cart", "checkout", "login", "logout", "share", "like")
PAGES = ("home", "products", "cart", "account", "help", "settings")
DEVICES = ("mobile", "desktop", "tablet")
OSES = ("android", "ios", "linux", "windows", "macos")
BROWSERS = ("chrome", "firefox", "safari", "edge")
LANGS = ("en", "de", "fr", "es", "it", "nl", "pl", "pt", "sv", "ja")
_pools = {}


def values(size, count=1024):
    """1,024 distinct JSON-like event payloads of exactly `size` bytes (field names from a small
    set, values random numbers, words and hex ids, cut to size): about as compressible as
    typical event data (the lz4 CLI stores them in ~0.43x), where one repeated value would
    flatter compression. Cached per size so building them is not timed."""
    if size in _pools:
        return _pools[size]
    rng = random.Random(size)
    out = []
    for _ in range(count):
        parts = [f'{{"user":{rng.randrange(10**7)},"event":"{rng.choice(EVENTS)}",'
                 f'"ts":{1_700_000_000_000 + rng.randrange(10**10)}']
        i = 0
        while sum(map(len, parts)) < size:
            k = rng.randrange(4)
            if k == 0:
                parts.append(f',"page{i}":"/{rng.choice(PAGES)}/{rng.randrange(10**5)}"')
            elif k == 1:
                parts.append(f',"device{i}":"{rng.choice(DEVICES)}","os":"{rng.choice(OSES)}",'
                             f'"browser":"{rng.choice(BROWSERS)}"')
            elif k == 2:
                parts.append(f',"lang{i}":"{rng.choice(LANGS)}","session":"{rng.getrandbits(64):016x}"')
            else:
                parts.append(f',"n{i}":{rng.randrange(10**6)},"ok":{rng.choice(["true", "false"])}')
            i += 1
        v = "".join(parts).encode()[:size - 1] + b"}"
        assert len(v) == size
        out.append(v)
    _pools[size] = out
    return out


def producer_config(bootstrap, acks, compression, idempotence):
    return {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "compression.type": compression,
        "linger.ms": 5,                           # librdkafka default
        "batch.size": 1_000_000,                  # librdkafka default
        "queue.buffering.max.messages": 1_000_000,  # default 100,000; raised so produce() rarely blocks
        "enable.idempotence": idempotence,
        "log_level": 3,
    }


CONSUMER_EXTRA = {}  # librdkafka defaults for every fetch setting


def consumer_config(bootstrap):
    return {"bootstrap.servers": bootstrap, "group.id": "ferrokafka-bench", "enable.auto.commit": False,
            "log_level": 3, **CONSUMER_EXTRA}


def produce(broker, records, size, acks, compression, partitions, idempotence):
    pool = values(size)
    npool = len(pool)
    failures = []
    delivered = [0]

    def report(err, _msg):
        if err is not None:
            failures.append(err)
        else:
            delivered[0] += 1

    p = Producer(producer_config(broker.bootstrap, acks, compression, idempotence))
    produce_ = p.produce
    started = time.perf_counter()
    for i in range(records):
        try:
            produce_(TOPIC, pool[i % npool], partition=i % partitions, on_delivery=report)
        except BufferError:  # local queue full: serve delivery reports, then retry
            while True:
                p.poll(0.01)
                try:
                    produce_(TOPIC, pool[i % npool], partition=i % partitions, on_delivery=report)
                    break
                except BufferError:
                    pass
        if i % 10_000 == 0:
            p.poll(0)
            if i % 200_000 == 0:
                broker.check_alive()
    left = p.flush(FLUSH_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    if left:
        raise BrokerError(f"flush({FLUSH_TIMEOUT_S}) left {left} records undelivered "
                          f"({delivered[0]} delivered, {len(failures)} failed)" + broker.diagnosis())
    if failures:
        raise BrokerError(f"{len(failures)} delivery errors, first: {failures[:3]}" + broker.diagnosis())
    if delivered[0] != records:
        raise BrokerError(f"{delivered[0]} delivery reports for {records} records" + broker.diagnosis())
    return elapsed


def consume(broker, records, partitions):
    c = Consumer(consumer_config(broker.bootstrap))
    try:
        tps = [TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(partitions)]
        started = time.perf_counter()
        c.assign(tps)
        got = 0
        first_ms = None
        last = time.perf_counter()
        while got < records:
            batch = c.consume(10_000, 1.0)
            now = time.perf_counter()
            if not batch:
                if now - last > STALL_TIMEOUT_S:
                    raise BrokerError(f"consumer stalled: no record for {STALL_TIMEOUT_S} s after {got:,} "
                                      f"of {records:,}" + broker.diagnosis())
                broker.check_alive()
                continue
            last = now
            if first_ms is None:
                first_ms = (now - started) * 1000
                first_at, first_n = now, len(batch)
            for m in batch:
                if m.error() is not None:
                    raise BrokerError(f"consume error after {got:,} records: {m.error()}" + broker.diagnosis())
            got += len(batch)
        ended = time.perf_counter()
        # Counts must match exactly: each partition's position is its record count, and
        # nothing more arrives (records beyond the count would mean duplicates).
        extra = c.consume(10_000, 0.5)
        positions = {tp.partition: tp.offset for tp in c.position(tps)}
        expected = {p: len(range(p, records, partitions)) for p in range(partitions)}
        if got != records or extra or positions != expected:
            raise BrokerError(f"wrong count: read {got:,} (+{len(extra)} extra) of {records:,}; positions "
                              f"{positions}, expected {expected}" + broker.diagnosis())
        # The rate from the first record on (the records of the first batch arrived at first_at).
        steady_s = (ended - first_at) * records / (records - first_n) if records > first_n else ended - first_at
        return {"consume_s": steady_s, "consume_total_s": ended - started, "first_ms": first_ms}
    finally:
        c.close()


# --- scenarios -------------------------------------------------------------------------------

def startup_run(partitions):
    """One start: time to ready, RSS idle, RSS once the bench topic exists."""
    b = Broker(partitions)
    try:
        idle = b.rss_kib()
        create_topic(b.bootstrap, partitions)
        time.sleep(0.2)
        with_topic = b.rss_kib()
        return {"ready_ms": b.ready_ms, "idle_kib": idle, "topic_kib": with_topic}
    finally:
        b.stop()


def load_run(records, size, acks, compression, partitions, idempotence):
    b = Broker(partitions)
    ok = False
    try:
        create_topic(b.bootstrap, partitions)
        self_cpu0 = sum(os.times()[:2])
        cpu0 = b.cpu_s()
        b.start_sampling()
        p_s = produce(b, records, size, acks, compression, partitions, idempotence)
        p_samples = b.stop_sampling()
        cpu1, self_cpu1 = b.cpu_s(), sum(os.times()[:2])
        on_disk = b.log_bytes()
        b.start_sampling()
        c = consume(b, records, partitions)
        c_samples = b.stop_sampling()
        cpu2, self_cpu2 = b.cpu_s(), sum(os.times()[:2])
        result = {
            "produce_s": p_s, **c,
            "hwm_kib": b.hwm_kib(),
            "produce_rss_max_kib": max(p_samples), "produce_rss_median_kib": statistics.median(p_samples),
            "consume_rss_max_kib": max(c_samples), "consume_rss_median_kib": statistics.median(c_samples),
            "after_kib": b.rss_kib(),
            "broker_cpu_produce_s": cpu1 - cpu0, "broker_cpu_consume_s": cpu2 - cpu1,
            "client_cpu_produce_s": self_cpu1 - self_cpu0, "client_cpu_consume_s": self_cpu2 - self_cpu1,
            "log_bytes": on_disk,
        }
        ok = True
        return result
    finally:
        if b._sampling:
            b.stop_sampling()
        try:
            b.stop()
        except BrokerError:
            if ok:
                raise
            # the run already failed: its own error says more than the failed stop


# --- report ----------------------------------------------------------------------------------

def fmt(vals, scale=1.0, digits=0):
    if not vals:
        return "—"
    vals = [v * scale for v in vals]
    med = statistics.median(vals)
    if len(vals) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(vals):,.{digits}f}–{max(vals):,.{digits}f})"


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    usable = len(os.sched_getaffinity(0))
    return f"{cpu}, {os.cpu_count()} cores ({usable} usable), {mem_kib / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}"


def versions():
    v = confluent_kafka.version()
    ck = v[0] if isinstance(v, tuple) else v
    lib = confluent_kafka.libversion()[0]
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "broker", "core")
    built = datetime.datetime.fromtimestamp(os.path.getmtime(BROKER), datetime.timezone.utc)
    tree = "broker/ and core/ with uncommitted changes" if dirty else "clean broker/ and core/"
    return ck, lib, f"`{commit}` ({tree}; binary built {built:%Y-%m-%d %H:%M} UTC)"


def render(args, started_at, wall_s, startups, rows, problems):
    ck, lib, commit = versions()
    runs_note = f"median of {args.runs} runs (min–max)" if args.runs > 1 else "a single run (no spread)"
    mb = lambda size: args.records * size / 1e6
    idem = "on" if args.idempotence else "off (librdkafka default)"
    lines = [
        SECTION,
        "",
        f"Generated by `bench/broker_bench.py` (`make bench-broker`) on {started_at:%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Machine: {machine()}.",
        f"- Broker: `ferrokafka-broker` release build, commit {commit}; default settings except",
        f"  `num.partitions={args.partitions}`; flush policy the default (`log.flush.interval.ms=1000`: an",
        "  acknowledged record is in the OS page cache and fsynced within 1 s). Data dir on the",
        "  machine's temp directory, fresh for every run.",
        f"- Client: confluent-kafka {ck} (librdkafka {lib}), Python {platform.python_version()}, in the same",
        "  machine; one producer, then one consumer, per run.",
        f"- Workload: {args.records:,} records per run, values of the stated size (no key), to a",
        f"  {args.partitions}-partition topic created with AdminClient, partition = i mod {args.partitions};",
        "  values are 1,024 distinct JSON-like event payloads cut to size (field names from a small",
        "  set; random numbers, words and hex ids), built before timing starts; the on-disk column",
        "  (sum of the partitions' `.log` segment files after produce) shows what lz4 makes of",
        "  them. MB = 10^6 bytes of values (record headers and protocol overhead not counted).",
        f"- Producer: `acks` as stated, `compression.type` as stated, `linger.ms=5`, `batch.size=1000000`",
        "  (both librdkafka defaults), `queue.buffering.max.messages=1000000` (default 100,000),",
        f"  `enable.idempotence` {idem}; a delivery callback per record. Timed from the first",
        "  `produce()` to `flush()` returning; every record must be reported delivered without error.",
        "- Consumer: `group.id` set, `enable.auto.commit=false`, manual `assign()` of every partition",
        "  at `OFFSET_BEGINNING` (no subscribe, no commits); every fetch setting the librdkafka default",
        "  (`fetch.max.bytes=52428800`, `max.partition.fetch.bytes=1048576`, `fetch.wait.max.ms=500`);",
        "  `consume(10000, 1.0)` batches, each message's error checked. Fetch rate: from the first",
        "  record to the last (records after the first batch / that time); the time from `assign()`",
        "  to the first record (connecting, offset lookup) is its own column; afterwards each partition's position must equal its record count and no",
        "  further record may arrive.",
        f"- Each figure: {runs_note}; each run on a fresh broker, data dir and port.",
        "",
        "### Throughput",
        "",
        "| value | acks | compression | produce rec/s | produce MB/s | fetch rec/s | fetch MB/s | fetch: first record ms | on disk MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, acks, comp), runs in rows:
        if not runs:
            lines.append(f"| {size} B | {acks} | {comp} | failed | | | | | |")
            continue
        lines.append(
            f"| {size} B | {acks} | {comp} "
            f"| {fmt([args.records / r['produce_s'] for r in runs])} | {fmt([mb(size) / r['produce_s'] for r in runs], digits=1)} "
            f"| {fmt([args.records / r['consume_s'] for r in runs])} | {fmt([mb(size) / r['consume_s'] for r in runs], digits=1)} "
            f"| {fmt([r['first_ms'] for r in runs])} | {fmt([r['log_bytes'] for r in runs], 1e-6, 1)} |")
    lines += [
        "",
        "### Broker memory and CPU under load",
        "",
        "RSS in MiB from `/proc/PID/status`: `VmRSS` sampled every 50 ms by a background thread",
        "during each phase (max and median of the samples), `VmHWM` (the process's peak) at the",
        "end of the run, and `VmRSS` after the consumer closed. CPU: the broker's utime+stime over",
        "the phase; the client's (Python + librdkafka threads) for comparison.",
        "",
        "| value | acks | compression | RSS produce max / median | RSS fetch max / median | VmHWM | RSS after | broker CPU s produce / fetch | client CPU s produce / fetch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, acks, comp), runs in rows:
        if not runs:
            lines.append(f"| {size} B | {acks} | {comp} | failed | | | | | |")
            continue
        m = lambda k: fmt([r[k] for r in runs], 1 / MIB, 1)
        c = lambda k: fmt([r[k] for r in runs], digits=2)
        lines.append(
            f"| {size} B | {acks} | {comp} | {m('produce_rss_max_kib')} / {m('produce_rss_median_kib')} "
            f"| {m('consume_rss_max_kib')} / {m('consume_rss_median_kib')} | {m('hwm_kib')} | {m('after_kib')} "
            f"| {c('broker_cpu_produce_s')} / {c('broker_cpu_consume_s')} "
            f"| {c('client_cpu_produce_s')} / {c('client_cpu_consume_s')} |")
    lines += [
        "",
        "### Start-up and idle memory",
        "",
        f"Median of {len(startups)} starts (min–max), after one uncounted warm-up start (binary in the",
        "page cache), each on a fresh data dir. Time to ready: from `Popen` to the broker's",
        "`listening on` stdout line. Idle RSS: `VmRSS` right after that line, and again once a",
        f"{args.partitions}-partition topic has been created through AdminClient.",
        "",
        "| time to ready | idle RSS | RSS with one topic |",
        "|---|---|---|",
        f"| {fmt([s['ready_ms'] for s in startups], digits=1)} ms "
        f"| {fmt([s['idle_kib'] for s in startups], 1 / MIB, 1)} MiB "
        f"| {fmt([s['topic_kib'] for s in startups], 1 / MIB, 1)} MiB |",
        "",
        f"Whole benchmark: {wall_s:.0f} s wall clock.",
        "",
    ]
    lines += observations(args, rows)
    if problems:
        lines += ["### Problems", "", f"{len(problems)} run(s) failed; they are left out of the figures above.", ""]
        for p in problems:
            lines += ["```", p.rstrip(), "```", ""]
    return "\n".join(lines)


def observations(args, rows):
    """What the numbers mean: fixed caveats plus sentences computed from this run's figures."""
    out = [
        "### Reading the figures",
        "",
        "These are end-to-end figures on one box, not the broker alone: the broker, the Python",
        "client with its librdkafka threads, and the RSS sampler share the machine's cores (compare",
        "the broker and client CPU columns with the wall-clock time of a phase). On 2 cores, time",
        "spent compressing or building Python message objects in the client is time the broker",
        "does not get. On this single-node broker acks=all and acks=1 are answered at the same",
        "point (record written to the log file, no replica to wait for, no fsync: the log is",
        "flushed within 1 s), so a difference between them is client-side or noise. Fetch goes",
        "through confluent-kafka's Python `Message` objects, one per record, so its rate is bound",
        "per record by the client as much as by the broker; 1 KiB values show the byte rate the",
        "path sustains. Produce figures include a delivery callback per record in Python. The",
        "~0.5 s from `assign()` to the first record is librdkafka's: in its debug log (checked",
        "2026-11-25) the broker answers ApiVersions, Metadata and FindCoordinator within a",
        "millisecond, then nothing is outstanding until librdkafka sends ListOffsets about 0.45 s",
        "later; that is why the fetch rate is timed from the first record.",
    ]
    ok = {k: v for k, v in rows if v}
    med = lambda runs, f: statistics.median([f(r) for r in runs])
    facts = []
    fetch = [med(v, lambda r: args.records / r["consume_s"]) for v in ok.values()]
    if fetch:
        facts.append(f"Fetch ran at {min(fetch):,.0f}–{max(fetch):,.0f} records/s across all scenarios.")
    for size in args.sizes:
        a, b = ok.get((size, "1", "none")), ok.get((size, "1", "lz4"))
        if a and b:
            pa, pb = med(a, lambda r: args.records / r["produce_s"]), med(b, lambda r: args.records / r["produce_s"])
            da, db = med(a, lambda r: r["log_bytes"]), med(b, lambda r: r["log_bytes"])
            facts.append(f"With {size} B values (acks=1), lz4 changed produce throughput by {100 * (pb / pa - 1):+.0f}% "
                         f"and stored {db / da:.2f}x the bytes of uncompressed.")
        a, b = ok.get((size, "1", "none")), ok.get((size, "all", "none"))
        if a and b:
            pa, pb = med(a, lambda r: args.records / r["produce_s"]), med(b, lambda r: args.records / r["produce_s"])
            facts.append(f"With {size} B values (no compression), acks=all vs acks=1: {100 * (pb / pa - 1):+.0f}% produce throughput.")
    hwm = [med(v, lambda r: r["hwm_kib"]) / MIB for v in ok.values()]
    if hwm:
        facts.append(f"The broker's peak RSS (VmHWM) was {min(hwm):.0f}–{max(hwm):.0f} MiB depending on the scenario.")
    if facts:
        out += ["", "From this run: " + " ".join(facts)]
    out.append("")
    return out


def write_section(path, section, title=SECTION):
    """Replaces the section headed `title` in the markdown file at `path` (appends it when
    missing); the rest of the file is kept."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if title in text:
        head, rest = text.split(title, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
        text = head + section.rstrip() + "\n" + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    csv = lambda conv: (lambda s: [conv(x) for x in s.split(",") if x])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="records per run (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per scenario (default 3)")
    ap.add_argument("--starts", type=int, default=5, help="broker starts for time-to-ready/idle RSS (default 5)")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--sizes", type=csv(int), default=[100, 1024], help="value sizes in bytes (default 100,1024)")
    ap.add_argument("--acks", type=csv(str), default=["1", "all"], help="default 1,all")
    ap.add_argument("--compression", type=csv(str), default=["none", "lz4"], help="default none,lz4")
    ap.add_argument("--idempotence", action="store_true", help="enable.idempotence=true for every producer")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"),
                    help="markdown file whose broker section is replaced (default BENCHMARKS.md at the repo root)")
    args = ap.parse_args()
    if not os.access(BROKER, os.X_OK):
        sys.exit(f"{BROKER} missing: run `cargo build --release -p ferrokafka-broker` first")

    started_at = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    problems = []

    def attempt(label, fn):
        try:
            return fn()
        except Exception as e:  # a failed run is reported, not fatal
            msg = f"{label}: {type(e).__name__}: {e}"
            if not isinstance(e, (BrokerError, KafkaException)):
                msg += "\n" + traceback.format_exc()
            print("FAILED " + msg, file=sys.stderr, flush=True)
            problems.append(msg)
            return None

    for size in args.sizes:
        values(size)
    # One start not counted: it pages the binary in, so the figures are for a warm page cache.
    attempt("warm-up start", lambda: startup_run(args.partitions))
    startups = []
    for i in range(args.starts):
        s = attempt(f"start {i + 1}", lambda: startup_run(args.partitions))
        if s:
            startups.append(s)
    print(f"start-up: ready {fmt([s['ready_ms'] for s in startups], digits=1)} ms, idle RSS "
          f"{fmt([s['idle_kib'] for s in startups], 1 / MIB, 1)} MiB, with topic "
          f"{fmt([s['topic_kib'] for s in startups], 1 / MIB, 1)} MiB", flush=True)

    rows = []
    for size in args.sizes:
        for acks in args.acks:
            for comp in args.compression:
                runs = []
                for i in range(args.runs):
                    label = f"{size} B acks={acks} compression={comp} run {i + 1}/{args.runs}"
                    r = attempt(label, lambda: load_run(args.records, size, acks, comp, args.partitions, args.idempotence))
                    if r:
                        runs.append(r)
                        print(f"  {label}: produce {args.records / r['produce_s']:,.0f} rec/s, "
                              f"fetch {args.records / r['consume_s']:,.0f} rec/s, VmHWM {r['hwm_kib'] / MIB:.1f} MiB",
                              flush=True)
                rows.append(((size, acks, comp), runs))

    section = render(args, started_at, time.perf_counter() - t0, startups, rows, problems)
    print()
    print(section)
    write_section(args.out, section)
    print(f"wrote {args.out}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
