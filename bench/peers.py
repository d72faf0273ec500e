"""The bundled broker next to Apache Kafka, driven by the Java client's own perf tools
(ProducerPerformance, ConsumerPerformance, EndToEndLatency from kafka-tools): start-up time
and memory, produce and consume throughput with produce latency percentiles, partition
scaling, end-to-end latency, and the brokers' RSS under that load. A benchmark, not a test.

Usage (after `cargo build --release -p ferrokafka-broker` and scripts/apache-kafka.sh; the
Makefile's `bench-peers` target does both):

    .cache/venv/bin/python bench/peers.py [--records N] [--runs R] [--out BENCHMARKS.md]

Each run starts a fresh broker of each kind, alternately (ours, then Kafka) so drift on a
shared machine hits both; every scenario uses a fresh topic. Figures are medians of the runs
with min-max, and each ratio is computed run by run (ours / Kafka in the same run) before
taking its median. Apache Kafka runs as its start scripts run it (1 GiB heap, G1) with its
default broker settings except what a single node needs (replication factors 1); our broker
runs with its defaults. Writes the section below into --out and SVG charts to bench/charts/.
"""
import argparse
import datetime
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "apache_kafka"))
import broker_bench  # noqa: E402  (our broker process, /proc readers, formatting)
import cluster  # noqa: E402  (Apache Kafka from its jars)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

SECTION = "## Bundled broker next to Apache Kafka (Java perf tools)"
CHARTS = os.path.join(HERE, "charts")
TOOLS_JVM = ["-Xmx512m", "-Xms512m", "-XX:+UseG1GC"]
KAFKA_VERSION = "4.1.1"


# --- the two brokers, behind one interface ---------------------------------------------------

def api_versions_answered(port):
    """Whether a broker on `port` answers an ApiVersions v0 request (what every client sends
    first): the same readiness probe for both brokers, polled every millisecond."""
    req = struct.pack(">hhih", 18, 0, 1, 5) + b"bench"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(struct.pack(">i", len(req)) + req)
            head = s.recv(4)
            return len(head) == 4
    except OSError:
        return False


def wait_answering(port, proc, started, timeout=120):
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} before answering")
        if api_versions_answered(port):
            return (time.perf_counter() - started) * 1000
        time.sleep(0.001)
    raise RuntimeError(f"no answer on port {port} within {timeout} s")


class Ours:
    name = "ferrokafka-broker"

    def __init__(self):
        started = time.perf_counter()
        self.b = broker_bench.Broker(partitions=1)
        self.bootstrap = self.b.bootstrap
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        self.ready_ms = wait_answering(self.port, self.b.proc, started)
        self.pid = self.b.pid

    def stop(self):
        self.b.stop()


class Kafka:
    name = f"Apache Kafka {KAFKA_VERSION}"

    def __init__(self):
        # Kafka's defaults, but a single node: replication factors 1, and none of the test
        # suite's thread-count and flush overrides.
        overrides = {"num.network.threads": None, "num.io.threads": None, "background.threads": None,
                     "log.flush.interval.ms": None, "replica.lag.time.max.ms": None}
        self.c = cluster.KafkaCluster(1, jvm=cluster.KAFKA_DEFAULT_JVM, overrides=overrides)
        for n in self.c.all_nodes():
            n.format(self.c.cluster_id)  # one-time setup, not counted in time to ready
        node = self.c.nodes[0]
        started = time.perf_counter()
        node.start()
        self.ready_ms = wait_answering(node.port, node.proc, started)
        self.c.wait_ready()
        self.bootstrap = self.c.bootstrap
        self.pid = node.proc.pid

    def stop(self):
        self.c.stop()


def rss_mib(pid):
    return broker_bench.proc_status(pid, "VmRSS") / 1024


class Sampler:
    """The broker's VmRSS every 50 ms while a phase runs; max of the samples."""

    def __init__(self, pid):
        self.pid, self.samples, self.stop_ev = pid, [], threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                self.samples.append(rss_mib(self.pid))
            except (OSError, KeyError):
                return
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.t.join()
        return max(self.samples) if self.samples else float("nan")


# --- the Java tools --------------------------------------------------------------------------

def java_tool(main, *args, timeout=600):
    lib = cluster.lib_dir()
    cmd = [cluster.java(), *TOOLS_JVM, "-Dlog4j2.level=WARN", "-cp", os.path.join(lib, "*"), main, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{main} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


PRODUCED = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                      r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


def produce(bootstrap, topic, records, size, acks, throughput=-1, compression="none"):
    out = java_tool("org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
                    "--record-size", str(size), "--throughput", str(throughput), "--producer-props",
                    f"bootstrap.servers={bootstrap}", f"acks={acks}", f"compression.type={compression}")
    m = None
    for m in PRODUCED.finditer(out):
        pass
    if m is None or int(m.group(1)) != records:
        raise RuntimeError(f"ProducerPerformance output not understood:\n{out[-2000:]}")
    return {"rec_s": float(m.group(2)), "mb_s": float(m.group(3)), "p50": int(m.group(6)),
            "p99": int(m.group(8)), "p999": int(m.group(9))}


def consume(bootstrap, topic, records):
    out = java_tool("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic,
                    "--messages", str(records), "--timeout", "30000", "--group", f"perf-{topic}")
    rows = [l for l in out.splitlines() if l and l[0].isdigit()]
    if not rows:
        raise RuntimeError(f"ConsumerPerformance output not understood:\n{out[-2000:]}")
    f = [x.strip() for x in rows[-1].split(",")]
    # start, end, MB, MB/s, nMsg, nMsg/s, rebalance ms, fetch ms, fetch MB/s, fetch nMsg/s
    if int(f[4]) < records:
        raise RuntimeError(f"ConsumerPerformance read {f[4]} of {records} records")
    return {"rec_s": float(f[9]), "mb_s": float(f[8])}


def end_to_end(bootstrap, topic, messages, size):
    out = java_tool("org.apache.kafka.tools.EndToEndLatency", bootstrap, topic, str(messages), "1", str(size))
    avg = re.search(r"Avg latency: ([\d.]+) ms", out)
    pct = re.search(r"Percentiles: 50th = ([\d.]+), 99th = ([\d.]+), 99.9th = ([\d.]+)", out)
    if not (avg and pct):
        raise RuntimeError(f"EndToEndLatency output not understood:\n{out[-2000:]}")
    return {"avg": float(avg.group(1)), "p50": float(pct.group(1)), "p99": float(pct.group(2)), "p999": float(pct.group(3))}


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    started = time.perf_counter()
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(60)
    # Created means every partition has a leader the producer can find.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        md = admin.list_topics(name, timeout=10).topics.get(name)
        if md is not None and md.error is None and len(md.partitions) == partitions and \
                all(p.leader >= 0 for p in md.partitions.values()):
            return (time.perf_counter() - started) * 1000
        time.sleep(0.01)
    raise RuntimeError(f"topic {name} not ready")


# --- one run: each scenario on one broker ----------------------------------------------------

def run_on(kind, args, run):
    res = {}
    broker = kind()
    try:
        res["ready_ms"] = broker.ready_ms
        time.sleep(1)  # let start-up work (JIT, log recovery threads) settle before idle RSS
        res["idle_mib"] = rss_mib(broker.pid)
        for size in args.sizes:
            for acks in args.acks:
                topic = f"t{run}-{size}-{acks}"
                create_topic(broker.bootstrap, topic, args.partitions)
                s = Sampler(broker.pid)
                p = produce(broker.bootstrap, topic, args.records, size, acks)
                p["rss"] = s.stop()
                s = Sampler(broker.pid)
                c = consume(broker.bootstrap, topic, args.records)
                c["rss"] = s.stop()
                res[("load", size, acks)] = (p, c)
        for parts in args.scaling:
            topic = f"s{run}-{parts}"
            created_ms = create_topic(broker.bootstrap, topic, parts)
            s = Sampler(broker.pid)
            p = produce(broker.bootstrap, topic, args.scaling_records, 100, "1")
            p["rss"] = s.stop()
            res[("scale", parts)] = (created_ms, p)
        topic = f"r{run}"
        create_topic(broker.bootstrap, topic, args.partitions)
        res["fixed_rate"] = produce(broker.bootstrap, topic, args.rate * args.rate_seconds, 100, "all", throughput=args.rate)
        topic = f"e{run}"
        create_topic(broker.bootstrap, topic, 1)
        res["e2e"] = end_to_end(broker.bootstrap, topic, args.e2e_messages, 100)
        res["hwm_mib"] = broker_bench.proc_status(broker.pid, "VmHWM") / 1024
    finally:
        broker.stop()
    return res


# --- report ----------------------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, digits=0, scale=1.0):
    return broker_bench.fmt([x * scale for x in xs], digits=digits)


def ratio(ours, theirs):
    """Median of the per-run ratios, as 'x.xx×'."""
    rs = [a / b for a, b in zip(ours, theirs) if b]
    return f"{med(rs):.3g}×" if rs else "—"


def svg_bars(path, title, unit, groups, series_names, values):
    """A grouped bar chart: values[series][group]; one colour per series; no dependencies."""
    colours = ["#d9480f", "#1c7ed6", "#2b8a3e", "#862e9c"]
    w, h, left, bottom, top = 760, 340, 70, 60, 40
    peak = max((v for row in values for v in row if v == v), default=1) or 1
    gw = (w - left - 20) / max(len(groups), 1)
    bw = gw * 0.8 / len(series_names)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    plot_h = h - top - bottom
    for i in range(5):
        y = top + plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{w - 20}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 5}" y="{y + 4}" text-anchor="end">{peak * (4 - i) / 4:,.0f}</text>')
    out.append(f'<text x="15" y="{top + plot_h / 2}" transform="rotate(-90 15 {top + plot_h / 2})" text-anchor="middle">{unit}</text>')
    for g, name in enumerate(groups):
        x0 = left + g * gw + gw * 0.1
        for s in range(len(series_names)):
            v = values[s][g]
            if v != v:
                continue
            bh = plot_h * v / peak
            out.append(f'<rect x="{x0 + s * bw:.1f}" y="{top + plot_h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" fill="{colours[s]}"/>')
        out.append(f'<text x="{left + g * gw + gw / 2:.1f}" y="{h - bottom + 15}" text-anchor="middle">{name}</text>')
    for s, name in enumerate(series_names):
        out.append(f'<rect x="{left + s * 200}" y="{h - 22}" width="12" height="12" fill="{colours[s]}"/>')
        out.append(f'<text x="{left + s * 200 + 16}" y="{h - 12}">{name}</text>')
    out.append("</svg>")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def render(args, results, wall_s, problems):
    ours, kafka = results[Ours.name], results[Kafka.name]
    names = [Ours.name, Kafka.name]
    get = lambda runs, *path: [r[path[0]] if len(path) == 1 else r[path[0]][path[1]] for r in runs]
    java_ver = subprocess.run([cluster.java(), "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    _, _, commit = broker_bench.versions()
    out = [SECTION, "",
           f"Generated by `bench/peers.py` (`make bench-peers`) on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
           f"in {wall_s:.0f} s; {len(ours)} runs per broker, alternating.", "",
           f"- Machine: {broker_bench.machine()}.",
           f"- ferrokafka-broker: release build, commit {commit}; default settings (an acknowledged record is in the page "
           "cache and fsynced within `log.flush.interval.ms=1000`).",
           f"- Apache Kafka {KAFKA_VERSION} from the Maven Central jars, one KRaft node (broker + controller), started as "
           "`kafka-server-start.sh` starts it (`-Xmx1G -Xms1G`, G1); Kafka's default settings (no fsync: it relies on "
           "replication) except replication factors 1. Data dirs on the machine's temp directory.",
           f"- Clients: Kafka's own perf tools from kafka-tools {KAFKA_VERSION} (Java client, its default settings: "
           f"`linger.ms=5`, `batch.size=16384`, idempotence on), {java_ver}, `{' '.join(TOOLS_JVM)}`. The tools, "
           "the broker and the samplers share the machine's cores.",
           f"- Each figure: median of the runs (min–max); the ratio column is the median of the per-run ratios "
           "ours/Kafka.", ""]
    if problems:
        out += ["**Problems in this run** (their runs are left out):", ""] + [f"- {p}" for p in problems] + [""]
    if not ours or not kafka:
        return out

    out += ["### Start-up and memory", "",
            "Time to ready: spawn to the first answered ApiVersions request (polled every millisecond; Kafka's "
            "`format` step is not counted). Idle RSS: 1 s after ready. Peak: VmHWM at the end of the run.", "",
            "| | time to ready ms | idle RSS MiB | peak RSS MiB (whole run) |", "|---|---|---|---|"]
    for name, runs in results.items():
        out.append(f"| {name} | {spread(get(runs, 'ready_ms'))} | {spread(get(runs, 'idle_mib'), 1)} | {spread(get(runs, 'hwm_mib'), 1)} |")
    out.append(f"| ours / Kafka | {ratio(get(ours, 'ready_ms'), get(kafka, 'ready_ms'))} | "
               f"{ratio(get(ours, 'idle_mib'), get(kafka, 'idle_mib'))} | {ratio(get(ours, 'hwm_mib'), get(kafka, 'hwm_mib'))} |")

    out += ["", f"### Produce and consume, {args.records:,} records, {args.partitions} partitions", "",
            "ProducerPerformance (`--throughput -1`): records/s, and its send-to-acknowledgement latency percentiles "
            "(under full load these measure queueing in the producer, not the broker alone). ConsumerPerformance: "
            "fetch records/s. RSS: the broker's maximum during the phase.", "",
            "| value | acks | broker | produce rec/s | produce MB/s | p50 / p99 / p99.9 ms | consume rec/s | RSS produce / consume MiB |",
            "|---|---|---|---|---|---|---|---|"]
    chart_groups, chart_vals = [], [[], []]
    for size in args.sizes:
        for acks in args.acks:
            key = ("load", size, acks)
            for name, runs in results.items():
                p = [r[key][0] for r in runs]
                c = [r[key][1] for r in runs]
                out.append(f"| {size} B | {acks} | {name} | {spread([x['rec_s'] for x in p])} | {spread([x['mb_s'] for x in p], 1)} | "
                           f"{med([x['p50'] for x in p]):.0f} / {med([x['p99'] for x in p]):.0f} / {med([x['p999'] for x in p]):.0f} | "
                           f"{spread([x['rec_s'] for x in c])} | {med([x['rss'] for x in p]):.0f} / {med([x['rss'] for x in c]):.0f} |")
            po = [r[key][0]["rec_s"] for r in ours]
            pk = [r[key][0]["rec_s"] for r in kafka]
            co = [r[key][1]["rec_s"] for r in ours]
            ck = [r[key][1]["rec_s"] for r in kafka]
            out.append(f"| {size} B | {acks} | ours / Kafka | {ratio(po, pk)} | | | {ratio(co, ck)} | |")
            chart_groups.append(f"{size} B acks={acks}")
            chart_vals[0].append(med(po))
            chart_vals[1].append(med(pk))
    svg_bars(os.path.join(CHARTS, "peers-produce.svg"), "Java ProducerPerformance: records/s", "records/s",
             chart_groups, names, chart_vals)

    out += ["", f"### Partition scaling: {args.scaling_records:,} records of 100 B, acks=1", "",
            "Topic creation: CreateTopics until every partition has a leader in Metadata.", "",
            "| partitions | broker | create topic ms | produce rec/s | p99 ms | broker RSS MiB |", "|---|---|---|---|---|---|"]
    scale_vals = [[], []]
    for parts in args.scaling:
        key = ("scale", parts)
        for i, (name, runs) in enumerate(results.items()):
            created = [r[key][0] for r in runs]
            p = [r[key][1] for r in runs]
            out.append(f"| {parts} | {name} | {spread(created)} | {spread([x['rec_s'] for x in p])} | "
                       f"{med([x['p99'] for x in p]):.0f} | {med([x['rss'] for x in p]):.0f} |")
            scale_vals[i].append(med([x["rec_s"] for x in p]))
        out.append(f"| {parts} | ours / Kafka | {ratio([r[key][0] for r in ours], [r[key][0] for r in kafka])} | "
                   f"{ratio([r[key][1]['rec_s'] for r in ours], [r[key][1]['rec_s'] for r in kafka])} | | |")
    svg_bars(os.path.join(CHARTS, "peers-partitions.svg"), "Produce records/s by partition count", "records/s",
             [str(p) for p in args.scaling], names, scale_vals)

    out += ["", "### Latency", "",
            f"Fixed rate: ProducerPerformance at {args.rate:,} records/s for {args.rate_seconds} s, 100 B, acks=all "
            "(send to acknowledgement). End to end: EndToEndLatency, "
            f"{args.e2e_messages:,} records of 100 B one at a time, acks=1 (send, then poll until the record is "
            "consumed; the consumer commits each one).", "",
            "| broker | fixed rate p50 / p99 / p99.9 ms | end-to-end avg ms | end-to-end p50 / p99 / p99.9 ms |", "|---|---|---|---|"]
    lat_vals = [[], []]
    for i, (name, runs) in enumerate(results.items()):
        f = get(runs, "fixed_rate")
        e = get(runs, "e2e")
        out.append(f"| {name} | {med([x['p50'] for x in f]):.0f} / {med([x['p99'] for x in f]):.0f} / {med([x['p999'] for x in f]):.0f} | "
                   f"{spread([x['avg'] for x in e], 2)} | {med([x['p50'] for x in e]):.2f} / {med([x['p99'] for x in e]):.2f} / "
                   f"{med([x['p999'] for x in e]):.2f} |")
        lat_vals[i] = [med([x["p50"] for x in e]), med([x["p99"] for x in e]), med([x["p999"] for x in e])]
    svg_bars(os.path.join(CHARTS, "peers-e2e-latency.svg"), "End-to-end latency (EndToEndLatency, 100 B)", "ms",
             ["p50", "p99", "p99.9"], names, lat_vals)
    out += ["", "![produce](bench/charts/peers-produce.svg)", "![partitions](bench/charts/peers-partitions.svg)",
            "![latency](bench/charts/peers-e2e-latency.svg)", ""]
    return out


def main():
    csv = lambda conv: (lambda s: [conv(x) for x in s.split(",") if x])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--sizes", type=csv(int), default=[100, 1024])
    ap.add_argument("--acks", type=csv(str), default=["1", "all"])
    ap.add_argument("--scaling", type=csv(int), default=[1, 10, 100, 1000])
    ap.add_argument("--scaling-records", type=int, default=500_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--rate-seconds", type=int, default=10)
    ap.add_argument("--e2e-messages", type=int, default=5_000)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    if not os.access(broker_bench.BROKER, os.X_OK):
        sys.exit(f"{broker_bench.BROKER} missing: run `cargo build --release -p ferrokafka-broker` first")
    t0 = time.perf_counter()
    results = {Ours.name: [], Kafka.name: []}
    problems = []
    for run in range(args.runs):
        for kind in (Ours, Kafka):
            print(f"run {run + 1}/{args.runs}: {kind.name}", flush=True)
            try:
                results[kind.name].append(run_on(kind, args, run))
            except Exception as e:  # a failed run is reported, not fatal
                problems.append(f"run {run + 1} on {kind.name}: {str(e).splitlines()[0][:300]}")
                print(f"  failed: {e}", file=sys.stderr)
    section = render(args, results, time.perf_counter() - t0, problems)
    broker_bench.write_section(args.out, "\n".join(section), SECTION)
    print("\n".join(section))
    print(f"wrote {args.out} and {CHARTS}/*.svg")


if __name__ == "__main__":
    main()
