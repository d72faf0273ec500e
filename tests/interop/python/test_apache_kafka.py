"""Apache Kafka in the suite: our Rust client's own tests against it, the Java client against
both brokers, and a leader failover in a three-broker cluster."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import DIE_WITH_PARENT
from test_groups_confluent_kafka import Member, Timeline, owned

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "apache_kafka"))
from cluster import java, lib_dir  # noqa: E402

PRODUCE_STREAM = os.environ.get("FERROKAFKA_PRODUCE_STREAM_BIN", os.path.join(ROOT, "target/debug/examples/produce_stream"))


def test_our_client_tests_pass_against_apache_kafka(apache_kafka):
    """The same test code as against the bundled broker (core/tests/client.rs), pointed at
    Apache Kafka through FERROKAFKA_TEST_BOOTSTRAP."""
    env = {**os.environ, "FERROKAFKA_TEST_BOOTSTRAP": apache_kafka, "RUST_BACKTRACE": "0"}
    out = subprocess.run(["cargo", "test", "-q", "-p", "ferrokafka", "--test", "client"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    summary = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", out.stdout)
    panics = "\n".join(line for line in out.stdout.splitlines()
                       if "panicked at" in line or line.startswith(("called `", "assertion", "  left", " right")))
    assert out.returncode == 0, f"{panics}\n...\n{out.stdout[-3000:]}{out.stderr[-2000:]}"
    assert summary and int(summary[0][0]) > 0 and summary[0][1] == "0", out.stdout[-2000:]


# --- The Java client -----------------------------------------------------------------------

def java_classes(program="ProduceConsume"):
    """Compiles tests/interop/java/PROGRAM.java against the kafka-clients jar into .cache (once
    per source change)."""
    lib = lib_dir()
    src = os.path.join(ROOT, "tests", "interop", "java", f"{program}.java")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    out = os.path.join(ROOT, ".cache", "java-classes", digest)
    if not os.path.exists(os.path.join(out, f"{program}.class")):
        tmp = f"{out}.tmp{os.getpid()}"
        os.makedirs(tmp, exist_ok=True)
        javac = subprocess.run(["javac", "-cp", os.path.join(lib, "*"), "-d", tmp, src], capture_output=True, text=True,
                               timeout=300)
        if javac.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.fail(f"javac failed:\n{javac.stdout}{javac.stderr}")
        os.replace(tmp, out)
    return out, lib


def run_java(bootstrap, topic, partitions, records):
    return run_java_program("ProduceConsume", bootstrap, topic, str(partitions), str(records), f"{topic}-group")


def run_java_program(program, *args):
    classes, lib = java_classes(program)
    log4j = os.path.join(ROOT, "tests", "interop", "java", "log4j2.xml")
    return subprocess.run([java(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                           f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{classes}:{os.path.join(lib, '*')}",
                           program, *args], capture_output=True, text=True, timeout=300)


def test_java_client_produces_idempotently_and_consumes_in_a_group(any_broker):
    """kafka-clients 4.1: idempotent acks=all producer, then a subscribed consumer group that
    checks every record (key, value, timestamp, header, partition, order) and commits."""
    topic = f"java-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": any_broker})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    out = run_java(any_broker, topic, 3, 3000)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert out.stdout.splitlines() == ["produced 3000 (idempotent, acks=all)", "OK consumed 3000 in group "
                                       f"{topic}-group, committed 3000"], out.stdout + out.stderr[-3000:]


# --- Leader failover on three brokers ------------------------------------------------------

class Acks:
    """What a producer reported, as it happened: value -> (partition, offset, when)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.acked = {}
        self.failed = []

    def ack(self, value, partition, offset):
        with self.cond:
            assert value not in self.acked, f"{value} acknowledged twice"
            self.acked[value] = (partition, offset, time.monotonic())
            self.cond.notify_all()

    def fail(self, value, error):
        with self.cond:
            self.failed.append((value, error))
            self.cond.notify_all()

    def wait_for(self, what, predicate, timeout):
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self), timeout), f"timed out waiting for {what}"


class LibrdkafkaProducer:
    """confluent-kafka: idempotent, acks=all, `rate` records/s, values "0".."count-1" round
    robin over the partitions."""

    def __init__(self, bootstrap, topic, partitions, count, rate, acks):
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(bootstrap, topic, partitions, count, rate, acks), daemon=True)
        self.thread.start()

    def _run(self, bootstrap, topic, partitions, count, rate, acks):
        try:
            p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                          "message.timeout.ms": 120000})

            def report(err, msg):
                v = msg.value().decode()
                acks.fail(v, str(err)) if err else acks.ack(v, msg.partition(), msg.offset())

            started = time.monotonic()
            for i in range(count):
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
                p.produce(topic, value=str(i).encode(), partition=i % partitions, on_delivery=report)
                p.poll(0)
            left = p.flush(180)
            if left:
                self.error = f"{left} records still unacknowledged after 180 s"
        except Exception as e:  # reported by wait()
            self.error = repr(e)

    def wait(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the producer did not finish"
        assert self.error is None, self.error


class FerrokafkaProducer:
    """Our Rust producer (examples/rust/produce_stream.rs): the same contract."""

    def __init__(self, bootstrap, topic, partitions, count, rate, acks):
        assert os.path.exists(PRODUCE_STREAM), f"{PRODUCE_STREAM} is missing: make broker builds it"
        self.proc = subprocess.Popen([*DIE_WITH_PARENT, PRODUCE_STREAM, bootstrap, topic, str(count), str(rate)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, args=(acks,), daemon=True)
        self.thread.start()

    def _read(self, acks):
        for line in self.proc.stdout:
            parts = line.split()
            if parts[0] == "acked":
                acks.ack(parts[1], int(parts[2]), int(parts[3]))
            else:
                acks.fail(parts[1], line.strip())

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.thread.join(10)
        assert rc == 0, f"produce_stream exited {rc}: {self.proc.stderr.read()[-2000:]}"


# Producer and group members of each client; swap in another client by adding a row.
FAILOVER_CLIENTS = {
    "librdkafka": (LibrdkafkaProducer, "librdkafka"),
    "ferrokafka": (FerrokafkaProducer, "ferrokafka"),
}


@pytest.mark.parametrize("clients", list(FAILOVER_CLIENTS))
def test_leader_failover_loses_and_duplicates_nothing(apache_kafka_cluster, clients):
    """Three brokers, replication factor 3, min.insync.replicas 2. An idempotent acks=all
    producer writes and a two-member consumer group reads while the leader of partition 0 is
    SIGKILLed; the clients follow the new leader; every acknowledged record is read, none is
    in the log twice; the killed broker comes back into the ISR."""
    producer_class, member_kind = FAILOVER_CLIENTS[clients]
    cluster = apache_kafka_cluster
    bootstrap = cluster.bootstrap
    partitions, count, rate = 3, 3000, 1000
    topic, group = f"failover-{uuid.uuid4().hex[:8]}", f"failover-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 3)])[topic].result(30)
    phases = [("start", time.monotonic())]

    timeline = Timeline()
    members = [Member(timeline, bootstrap, group, topic, f"m{i}", "range", kind=member_kind) for i in range(2)]
    try:
        timeline.wait_for("the members to share the partitions",
                          lambda ev: owned(ev, "m0") and owned(ev, "m1") and owned(ev, "m0") | owned(ev, "m1") == set(range(partitions)))
        phases.append(("group formed", time.monotonic()))
        acks = Acks()
        producer = producer_class(bootstrap, topic, partitions, count, rate, acks)
        acks.wait_for(f"{count // 3} acknowledgements", lambda a: len(a.acked) >= count // 3, 60)
        leader = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
        cluster.kill(leader)
        killed_at, acked_at_kill = time.monotonic(), len(acks.acked)
        phases.append((f"broker {leader} killed", killed_at))

        producer.wait(240)
        phases.append(("producer done", time.monotonic()))
        assert acks.failed == [], acks.failed[:5]
        assert len(acks.acked) == count
        assert acked_at_kill < count, "the kill happened while the producer was writing"
        # The producer followed partition 0 to its new leader.
        new_leader = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
        assert new_leader not in (leader, -1)
        after = [v for v, (p, _, t) in acks.acked.items() if p == 0 and t > killed_at]
        assert after, "records of partition 0 were acknowledged after its leader died"

        cluster.restart(leader)
        phases.append((f"broker {leader} restarted", time.monotonic()))
        cluster.wait_in_sync(leader)
        phases.append((f"broker {leader} in the ISR of every partition", time.monotonic()))

        timeline.wait_for("the group to read every acknowledged record",
                          lambda ev: set(acks.acked) <= {e["value"] for _, e in ev if e["event"] == "record"}, timeout=120)
        phases.append(("group read everything", time.monotonic()))
        for m in members:
            m.stop()
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.kill()

    # The log itself: every acknowledged value exactly once, nothing else, at the offset the
    # producer was told.
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "audit", "enable.auto.commit": False})
    reader.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = {}
    while len(seen) < count:
        msg = reader.poll(10)
        assert msg is not None, f"the log holds {len(seen)} distinct records, {count} were acknowledged"
        assert msg.error() is None, msg.error()
        v = msg.value().decode()
        assert v not in seen, f"{v} is in the log twice: {seen[v]} and {(msg.partition(), msg.offset())}"
        seen[v] = (msg.partition(), msg.offset())
    extra = reader.poll(2)
    reader.close()
    assert extra is None or extra.error(), f"more records than acknowledged: {extra.value()!r}"
    assert seen == {v: (p, o) for v, (p, o, _) in acks.acked.items()}
    phases.append(("log audited", time.monotonic()))
    print(" | ".join(f"{name} +{t - phases[0][1]:.1f}s" for name, t in phases[1:]))
