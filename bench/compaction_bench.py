"""Log compaction at scale on the bundled broker: one million updates over 10,000 keys, then
the topic switched to cleanup.policy=compact; reports the log before and after (records and
bytes on disk) and the cleaner's rate from its own log lines. A benchmark, not a test.

Usage (with the venv python, after `cargo build --release -p ferrokafka-broker`):

    .cache/venv/bin/python bench/compaction_bench.py [--updates N] [--keys K] [--value-bytes B]
        [--out BENCHMARKS.md]

The topic is written under cleanup.policy=delete (so the "before" log is the whole million),
then switched to compact with IncrementalAlterConfigs and segment.ms=1, and one more record
rolls the active segment, so every update is in a sealed segment the cleaner may clean.
The cleaner runs unthrottled (log.cleaner.io.max.bytes.per.second=1e15). Its rate is
(bytes read + bytes written) / duration, summed over the cleanings it logs. Only the section
"## Log compaction" of the --out file is replaced. Apache Kafka's cleaner is not run here.
"""
import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKER = os.environ.get("FERROKAFKA_BROKER_BIN", os.path.join(ROOT, "target/release/ferrokafka-broker"))
READY = "ferrokafka-broker listening on "
SECTION = "## Log compaction"
TOPIC = "compacted"
CLEANED = re.compile(r"cleaned log.*")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_bytes(data_dir):
    part = os.path.join(data_dir, f"{TOPIC}-0")
    return sum(os.path.getsize(os.path.join(part, f)) for f in os.listdir(part) if f.endswith(".log"))


def field(line, name):
    m = re.search(rf"\b{name}=([0-9.]+)", line)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryFile("w+") as stderr:
        broker = subprocess.Popen(
            [BROKER, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log-level", "info",
             "--set", "log.cleaner.io.max.bytes.per.second=1e15", "--set", "log.cleaner.backoff.ms=200"],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            line = broker.stdout.readline()
            assert line.startswith(READY), f"broker did not start: {line!r}"
            bootstrap = line[len(READY):].strip()
            admin = AdminClient({"bootstrap.servers": bootstrap})
            admin.create_topics([NewTopic(TOPIC, 1, 1, config={"segment.bytes": str(16 << 20)})])[TOPIC].result(15)

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
            produce_s = time.monotonic() - started
            before_bytes = log_bytes(data_dir)
            before_records, _ = count_records(bootstrap)

            resource = ConfigResource(ResourceType.TOPIC, TOPIC, incremental_configs=[
                ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
                ConfigEntry("segment.ms", "1", incremental_operation=AlterConfigOpType.SET),
            ])
            for f in admin.incremental_alter_configs([resource]).values():
                f.result(15)
            time.sleep(0.01)
            producer.produce(TOPIC, key="roll", value="the active segment holds only this record")
            assert producer.flush(30) == 0

            deadline = time.monotonic() + 600
            lines = []
            while True:
                stderr.seek(0)
                lines = [m.group(0) for m in map(CLEANED.search, ANSI.sub("", stderr.read()).splitlines()) if m]
                if lines:
                    after_records, high = count_records(bootstrap)
                    if after_records <= args.keys + 1:
                        break
                assert time.monotonic() < deadline, "the cleaner did not compact the log in 10 minutes"
                time.sleep(1)
            after_bytes = log_bytes(data_dir)
            del producer, admin  # before the broker goes, so they do not log its absence
        finally:
            broker.terminate()
            broker.wait(30)

    read = sum(field(line, "bytes_read") for line in lines)
    written = sum(field(line, "bytes_written") for line in lines)
    removed = sum(field(line, "records_removed") for line in lines)
    secs = sum(field(line, "duration_ms") for line in lines) / 1000
    rate = (read + written) / 1e6 / max(secs, 1e-9)
    mib = 1024 * 1024
    report = f"""{SECTION}

Generated by `bench/compaction_bench.py` (`make bench-compaction`) on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.

- {args.updates:,} updates over {args.keys:,} keys, {args.value_bytes} B values, uncompressed, produced by
  librdkafka in {produce_s:.1f} s under `cleanup.policy=delete` (16 MiB segments), then switched to `compact`
  with IncrementalAlterConfigs; one more record rolled the active segment. Release broker, cleaner unthrottled.
- Before: {before_records:,} records, {before_bytes / mib:.1f} MiB of `.log` files.
- After: {after_records:,} records (high watermark {high:,}: offsets unchanged), {after_bytes / mib:.2f} MiB.
- The cleaner: {len(lines)} cleaning(s), {removed:,.0f} records removed, {read / mib:.1f} MiB read and
  {written / mib:.2f} MiB written in {secs:.2f} s: **{rate:.0f} MB/s** (read + written, 10^6 B/s).
- Apache Kafka's cleaner was not measured on this data.
"""
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
