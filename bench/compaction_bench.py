"""Log compaction at scale: one million updates over 10,000 keys, then the topic switched to
cleanup.policy=compact; reports the log before and after (records and bytes on disk) and the
cleaner's rate from its own log lines, for the bundled broker and for Apache Kafka's cleaner
on the same data and machine. A benchmark, not a test.

Usage (with the venv python, after `cargo build --release -p ferrokafka-broker`; Kafka's jars
are fetched by scripts/apache-kafka.sh on first use):

    .cache/venv/bin/python bench/compaction_bench.py [--updates N] [--keys K] [--value-bytes B]
        [--no-kafka] [--out BENCHMARKS.md]

Each broker in turn (the bundled one, then Apache Kafka as one KRaft node from its jars, 1 GiB
heap, G1, as kafka-server-start.sh runs it) gets a topic with 16 MiB segments and
min.cleanable.dirty.ratio=0.5, written under cleanup.policy=delete (so the "before" log is the
whole million); then segment.ms=1 and one more record roll the active segment, so every
update is in a sealed segment, and only then is the topic switched to compact (both with
IncrementalAlterConfigs), so one cleaning covers the whole million. Both cleaners run unthrottled (log.cleaner.io.max.bytes.per.second=1e15) with
log.cleaner.backoff.ms=200, and otherwise their defaults (one thread, 128 MiB dedupe buffer).

The rates, from the cleaners' own log lines, in two definitions:
- Kafka's ("MB of log processed ... MB/sec"): the bytes the recopy pass reads (the "Start
  size") per second of the whole cleaning, in MiB/s (Kafka's "MB" is 2^20 bytes). The bundled
  broker logs the bytes of both passes (key map + recopy) together; when the cleaning covers
  the whole log once, as here, its recopy pass read half of them (checked against the log's
  size before).
- The bundled broker's (its mb_per_sec): all bytes read (both passes) plus bytes written per
  second, in 10^6 B/s. Kafka's "Indexed", "Start size" and "End size" give the same for it.
Kafka's cleaner logs per cleaning at INFO on org.apache.kafka.storage.internals.log.LogCleaner$
CleanerThread, raised to INFO here in the log4j2.xml the cluster writes. If Kafka cannot be
fetched or started, or logs no cleaning, the section says so. Only the section
"## Log compaction" of the --out file is replaced.
"""
import argparse
import datetime
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "apache_kafka"))
import cluster  # noqa: E402  (Apache Kafka from its jars)

BROKER = os.environ.get("FERROKAFKA_BROKER_BIN", os.path.join(ROOT, "target/release/ferrokafka-broker"))
READY = "ferrokafka-broker listening on "
SECTION = "## Log compaction"
TOPIC = "compacted"
CLEANED = re.compile(r"cleaned log.*")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MIB = 1024 * 1024
DIRTY_RATIO = "0.5"
CLEANER_SETTINGS = {"log.cleaner.io.max.bytes.per.second": "1e15", "log.cleaner.backoff.ms": "200"}
KAFKA_CLEANER_LOGGERS = ("org.apache.kafka.storage.internals.log.LogCleaner",
                         "org.apache.kafka.storage.internals.log.LogCleaner$CleanerThread",
                         "kafka.log.LogCleaner")
KAFKA_VERSION = os.environ.get("APACHE_KAFKA_VERSION", "4.1.1")


def log_bytes(part_dir):
    return sum(os.path.getsize(os.path.join(part_dir, f)) for f in os.listdir(part_dir) if f.endswith(".log"))


def field(line, name):
    m = re.search(rf"\b{name}=\"?([0-9.]+)", line)
    return float(m.group(1)) if m else 0.0


def count_records(bootstrap):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 52428800})
    tp = TopicPartition(TOPIC, 0, OFFSET_BEGINNING)
    _low, high = consumer.get_watermark_offsets(tp, timeout=10)
    consumer.assign([tp])
    n = 0
    try:
        while True:
            batch = consumer.consume(10000, 10)
            assert batch, f"stalled after {n} records"
            for msg in batch:
                if msg.error():
                    raise KafkaException(msg.error())
                n += 1
                if msg.offset() >= high - 1:
                    return n, high
    finally:
        consumer.close()


def scenario(bootstrap, part_dir, cleanings, args, timeout=600):
    """Writes the updates, compacts, waits for the cleaner; `cleanings()` lists the cleanings
    of the topic logged so far. Returns what was measured."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1, 1, config={"segment.bytes": str(16 << 20),
                                                       "min.cleanable.dirty.ratio": DIRTY_RATIO})])[TOPIC].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1 << 20,
                         "queue.buffering.max.messages": 1_000_000})
    pad = "x" * max(0, args.value_bytes - 16)
    started = time.monotonic()
    for i in range(args.updates):
        while True:
            try:
                producer.produce(TOPIC, key=f"key-{i % args.keys:08d}", value=f"{i:016d}{pad}")
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0
    r = {"produce_s": time.monotonic() - started}
    r["before_bytes"] = log_bytes(part_dir)
    r["before_records"], _ = count_records(bootstrap)

    # Roll first, then compact: switched in one step, the cleaner could clean the sealed
    # segments before the roll record arrives and then the last one apart (two cleanings).
    def alter(name, value):
        resource = ConfigResource(ResourceType.TOPIC, TOPIC, incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
        for f in admin.incremental_alter_configs([resource]).values():
            f.result(15)

    alter("segment.ms", "1")
    time.sleep(0.01)
    producer.produce(TOPIC, key="roll", value="the active segment holds only this record")
    assert producer.flush(30) == 0
    alter("cleanup.policy", "compact")

    deadline = time.monotonic() + timeout
    while True:
        found = cleanings()
        if found:
            r["after_records"], r["high"] = count_records(bootstrap)
            if r["after_records"] <= args.keys + 1:
                break
        assert time.monotonic() < deadline, f"the cleaner did not compact the log in {timeout} s"
        time.sleep(1)
    r["cleanings"] = found
    r["load"] = os.getloadavg()[0]
    r["after_bytes"] = log_bytes(part_dir)
    time.sleep(2)  # any cleaning after the compacting one(s) would be odd: counted, reported
    r["later"] = len(cleanings()) - len(found)
    return r


def run_bundled(args):
    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryFile("w+") as stderr:
        sets = [a for k, v in CLEANER_SETTINGS.items() for a in ("--set", f"{k}={v}")]
        broker = subprocess.Popen([BROKER, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log-level", "info", *sets],
                                  stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            line = broker.stdout.readline()
            assert line.startswith(READY), f"broker did not start: {line!r}"

            def cleanings():
                stderr.seek(0)
                return [m.group(0) for m in map(CLEANED.search, ANSI.sub("", stderr.read()).splitlines())
                        if m and f"topic={TOPIC} " in m.group(0) + " "]

            r = scenario(line[len(READY):].strip(), os.path.join(data_dir, f"{TOPIC}-0"), cleanings, args)
        finally:
            broker.terminate()
            broker.wait(30)
    lines = r.pop("cleanings")
    read = sum(field(x, "bytes_read") for x in lines)
    r.update(n=len(lines), read=read, written=sum(field(x, "bytes_written") for x in lines),
             removed=sum(field(x, "records_removed") for x in lines),
             records_read=sum(field(x, "records_read") for x in lines),
             secs=sum(field(x, "duration_ms") for x in lines) / 1000,
             logged_rates=[field(x, "mb_per_sec") for x in lines])
    # Both passes read the whole sealed log once when one cleaning covers all of it.
    r["recopy_read"] = read / 2
    r["recopy_exact"] = len(lines) == 1 and read == 2 * r["before_bytes"]
    return r


NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?|NaN|Infinity|-?Infinity)"


def num(s):
    return float(s.replace(",", ""))


def parse_kafka_cleanings(text):
    """Kafka's per-cleaning statistics (LogCleaner$CleanerThread.recordStats) for the topic."""
    out = []
    heads = list(re.finditer(rf"cleaned log {TOPIC}-0 \(dirty section = \[(\d+), (\d+)\]\)", text))
    for i, h in enumerate(heads):
        block = text[h.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        block = block[:block.find("\n[") if "\n[" in block else len(block)]
        c = {"dirty": (int(h.group(1)), int(h.group(2)))}
        pats = {"processed": rf"{NUM} MB of log processed in {NUM} seconds \({NUM} MB/sec\)",
                "indexed": rf"Indexed {NUM} MB in {NUM} seconds \({NUM} Mb/sec",
                "start": rf"Start size: {NUM} MB \({NUM} messages\)",
                "end": rf"End size: {NUM} MB \({NUM} messages\)"}
        for k, p in pats.items():
            m = re.search(p, block)
            if not m:
                break
            c[k] = tuple(num(g) for g in m.groups())
        else:
            mib, secs, rate = c["processed"]
            # Kafka prints the seconds to 0.1; its rate is exact, so the time is taken from it.
            c["secs"] = mib / rate if rate > 0 and math.isfinite(rate) else secs
            imib, isecs, irate = c["indexed"]
            c["index_secs"] = imib / irate if irate > 0 and math.isfinite(irate) else isecs
            c["text"] = (h.group(0) + block).rstrip()
            out.append(c)
    return out


def run_kafka(args):
    overrides = {"num.network.threads": None, "num.io.threads": None, "background.threads": None,
                 "log.flush.interval.ms": None, "replica.lag.time.max.ms": None, **CLEANER_SETTINGS}
    # An English locale: the statistics are printed with %,.1f, parsed here.
    jvm = [*cluster.KAFKA_DEFAULT_JVM, "-Duser.language=en", "-Duser.country=US"]
    c = cluster.KafkaCluster(1, jvm=jvm, overrides=overrides)
    node = c.nodes[0]
    loggers = "".join(f'<Logger name="{name}" level="INFO"/>' for name in KAFKA_CLEANER_LOGGERS)
    path = os.path.join(node.dir, "log4j2.xml")
    with open(path) as f:
        xml = f.read()
    with open(path, "w") as f:
        f.write(xml.replace("<Loggers>", "<Loggers>" + loggers))
    server_log = os.path.join(node.dir, "server.log")

    def read_log():
        if not os.path.exists(server_log):
            return ""
        with open(server_log, errors="replace") as f:
            return f.read()

    try:
        c.start()
        part_dir = os.path.join(node.dir, "data", f"{TOPIC}-0")
        try:
            r = scenario(c.bootstrap, part_dir, lambda: parse_kafka_cleanings(read_log()), args, timeout=args.kafka_timeout)
        except AssertionError as e:
            text = read_log()
            if "cleaned log" not in text:
                raise RuntimeError(f"{e}; its log ({os.path.basename(server_log)}) has no cleaner statistics") from e
            raise
    except BaseException:
        sys.stderr.write(node.log_tail(60))
        raise
    finally:
        c.stop()
    cl = r.pop("cleanings")
    r.update(n=len(cl), secs=sum(x["secs"] for x in cl), start=sum(x["start"][0] for x in cl),
             indexed=sum(x["indexed"][0] for x in cl), end=sum(x["end"][0] for x in cl),
             messages_read=sum(x["start"][1] for x in cl), messages_written=sum(x["end"][1] for x in cl),
             index_secs=sum(x["index_secs"] for x in cl),
             logged_rates=[x["processed"][2] for x in cl], dirty=[x["dirty"] for x in cl])
    print("Apache Kafka's cleaner logged:\n" + "\n".join(x["text"] for x in cl), file=sys.stderr)
    return r


def section(args, ours, kafka, kafka_error, when):
    def both(f_ours, f_kafka):
        k = f_kafka(kafka) if kafka else "—"
        return f"| {f_ours(ours)} | {k} |"

    rates = lambda xs: ", ".join(f"{x:,.1f}" for x in xs)  # noqa: E731
    ours_kafka_def = ours["recopy_read"] / MIB / max(ours["secs"], 1e-9)
    ours_own_def = (ours["read"] + ours["written"]) / 1e6 / max(ours["secs"], 1e-9)
    rows = [
        ("Records before", lambda r: f"{r['before_records']:,}"),
        ("Records after (high watermark)", lambda r: f"{r['after_records']:,} ({r['high']:,})"),
        ("`.log` bytes before", lambda r: f"{r['before_bytes'] / MIB:.1f} MiB"),
        ("`.log` bytes after", lambda r: f"{r['after_bytes'] / MIB:.2f} MiB"),
        ("Produce time (librdkafka)", lambda r: f"{r['produce_s']:.1f} s"),
        ("Cleanings logged (then in the next 2 s)", lambda r: f"{r['n']} ({r['later']})"),
        ("Load average (1 min) once cleaned", lambda r: f"{r['load']:.2f}"),
    ]
    out = [SECTION, "",
           f"Generated by `bench/compaction_bench.py` (`make bench-compaction`) on {when:%Y-%m-%d %H:%M} UTC.", "",
           f"- {args.updates:,} updates over {args.keys:,} keys, {args.value_bytes} B values, uncompressed, produced by "
           "librdkafka (`linger.ms=20`, 1 MiB batches) under `cleanup.policy=delete` (16 MiB segments, "
           f"`min.cleanable.dirty.ratio={DIRTY_RATIO}`); then `segment.ms=1` and one more record rolled the active "
           "segment, so the whole million is in sealed segments, and only then was the topic switched to `compact` "
           "(IncrementalAlterConfigs). Both cleaners unthrottled (`log.cleaner.io.max.bytes.per.second=1e15`), "
           "`log.cleaner.backoff.ms=200`, otherwise their defaults (one cleaner thread, 128 MiB dedupe buffer).",
           f"- The release bundled broker, then Apache Kafka {KAFKA_VERSION} (Maven Central jars, one KRaft node, "
           "`-Xmx1G -Xms1G`, G1, as `kafka-server-start.sh` runs it; no warm-up run before, so the cleaner's code "
           "is JIT-compiled while it cleans), one after the other on the same machine "
           f"({os.cpu_count()} cores, shared: other work may have run meanwhile) and disk (ext4 under /tmp); the "
           "data had just been written, so the page cache was warm: the cleaners read from memory.",
           "- The rates come from each cleaner's own log lines. **Kafka's definition**: bytes of log the recopy "
           "pass read (Kafka's \"Start size\") per second of the whole cleaning (key map + recopy), in MiB/s — "
           "Kafka's \"MB/sec\". The bundled broker logs both passes' reads together; here its one cleaning "
           "read the sealed log twice (key map, recopy), so half its `bytes_read` is the recopy pass"
           + ("" if ours["recopy_exact"] else " (*not* exactly twice the log's size before in this run: an estimate)")
           + ". **The bundled broker's definition** (its `mb_per_sec`): all bytes read by both passes plus bytes "
           "written, per second, in 10^6 B/s; for Kafka from its \"Indexed\", \"Start size\" and \"End size\" "
           "(printed to 0.1 MiB).",
           "", f"| | Bundled broker | Apache Kafka {KAFKA_VERSION} |", "|---|---:|---:|"]
    for name, f in rows:
        out.append(f"| {name} " + both(f, f))
    out.append("| Cleaner time " + both(lambda r: f"{r['secs']:.2f} s", lambda r: f"{r['secs']:.2f} s"))
    out.append("| Of which key map; recopy " + both(
        lambda r: "not logged apart",
        lambda r: f"{r['index_secs']:.2f} s; {r['secs'] - r['index_secs']:.2f} s"))
    out.append("| Read: key map + recopy; written " + both(
        lambda r: f"{(r['read'] - r['recopy_read']) / MIB:.1f} + {r['recopy_read'] / MIB:.1f}; {r['written'] / MIB:.2f} MiB",
        lambda r: f"{r['indexed']:.1f} + {r['start']:.1f}; {r['end']:.1f} MiB"))
    out.append("| Records read → kept by the cleaner " + both(
        lambda r: f"{r['records_read']:,.0f} → {r['records_read'] - r['removed']:,.0f}",
        lambda r: f"{r['messages_read']:,.0f} → {r['messages_written']:,.0f}"))
    out.append("| **MB/s, Kafka's definition** (recopy read, MiB/s) " + both(
        lambda r: f"**{ours_kafka_def:,.0f}**",
        lambda r: f"**{r['start'] / max(r['secs'], 1e-9):,.0f}** (logged: {rates(r['logged_rates'])})"))
    out.append("| MB/s, bundled definition (read + written, 10^6 B/s) " + both(
        lambda r: f"{ours_own_def:,.0f} (logged: {rates(r['logged_rates'])})",
        lambda r: f"{(r['indexed'] + r['start'] + r['end']) * MIB / 1e6 / max(r['secs'], 1e-9):,.0f}"))
    if kafka:
        k_rate = kafka["start"] / max(kafka["secs"], 1e-9)
        out += ["", f"On Kafka's definition the bundled cleaner ran at {ours_kafka_def / k_rate:.1f}× Kafka's rate "
                "in this run (one run each, so the ratio is rough: the figures move from run to run, the bundled "
                "broker's most, its cleaning lasting a fraction of a second)."]
    else:
        out += ["", f"Apache Kafka's cleaner was not measured: {kafka_error}"]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--no-kafka", action="store_true", help="only the bundled broker")
    ap.add_argument("--kafka-timeout", type=int, default=300, help="seconds to wait for Kafka's cleaner")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    when = datetime.datetime.now(datetime.timezone.utc)
    ours = run_bundled(args)
    kafka, kafka_error = None, "skipped (--no-kafka)."
    if not args.no_kafka:
        try:
            kafka = run_kafka(args)
        except Exception as e:  # reported in the section, not a crash
            traceback.print_exc()
            kafka_error = " ".join(f"{type(e).__name__}: {e}".split())[:300]
    report = section(args, ours, kafka, kafka_error, when)
    print(report)
    if args.out:
        text = open(args.out).read() if os.path.exists(args.out) else ""
        start = text.find(SECTION)
        if start >= 0:
            end = text.find("\n## ", start + len(SECTION))
            text = text[:start] + report + (text[end + 1:] if end >= 0 else "")
        else:
            text = text.rstrip() + "\n\n" + report
        open(args.out, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
