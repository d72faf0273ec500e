"""Apache Kafka in the suite: our Rust client's own tests against it, the Java client against
our broker, and a leader failover in a three-broker cluster."""
import os
import subprocess
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_our_client_tests_pass_against_apache_kafka(apache_kafka):
    """The same test code as against the bundled broker (core/tests/client.rs)."""
    env = {**os.environ, "FERROKAFKA_TEST_BOOTSTRAP": apache_kafka}
    out = subprocess.run(["cargo", "test", "-q", "-p", "ferrokafka", "--test", "client"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "6 passed" in out.stdout, out.stdout[-2000:]


def java_classes():
    """Compiles ProduceConsume.java against the kafka-clients jar (once per source change)."""
    import hashlib
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests", "apache_kafka"))
    from cluster import lib_dir
    lib = lib_dir()
    src = os.path.join(ROOT, "tests", "interop", "java", "ProduceConsume.java")
    digest = hashlib.sha256(open(src, "rb").read()).hexdigest()[:12]
    out = os.path.join(ROOT, ".cache", "java-classes", digest)
    if not os.path.exists(os.path.join(out, "ProduceConsume.class")):
        os.makedirs(out, exist_ok=True)
        subprocess.run(["javac", "-cp", os.path.join(lib, "*"), "-d", out, src], check=True, timeout=300)
    return out, lib


def run_java(bootstrap, topic, partitions, records):
    classes, lib = java_classes()
    log4j = os.path.join(ROOT, "tests", "interop", "java", "log4j2.xml")
    return subprocess.run(["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{classes}:{os.path.join(lib, '*')}",
                           "ProduceConsume", bootstrap, topic, str(partitions), str(records), f"{topic}-group"],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("target", ["ferrokafka", "apache-kafka"])
def test_java_client_produces_idempotently_and_consumes_in_a_group(request, target):
    bootstrap = request.getfixturevalue("bootstrap" if target == "ferrokafka" else "apache_kafka")
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = f"java-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    out = run_java(bootstrap, topic, 3, 3000)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "OK consumed 3000" in out.stdout


def test_failover_loses_and_duplicates_nothing(apache_kafka_cluster):
    """Three brokers, replication factor 3, min.insync.replicas 2. Our idempotent acks=all
    producer writes and two ferrokafka group members read while the leader of a partition is
    SIGKILLed; the clients follow the new leaders; every acknowledged record is read, none is
    in the log twice; the killed broker comes back into the ISR."""
    import threading
    import time

    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    from test_groups_confluent_kafka import Member, Timeline, owned

    cluster = apache_kafka_cluster
    bootstrap = cluster.bootstrap
    topic, group = f"failover-{uuid.uuid4().hex[:8]}", f"failover-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(30)

    timeline = Timeline()
    members = [Member(timeline, bootstrap, group, topic, f"m{i}", "range", kind="ferrokafka") for i in range(2)]
    try:
        timeline.wait_for("the members to share the partitions",
                          lambda ev: owned(ev, "m0") and owned(ev, "m1") and owned(ev, "m0") | owned(ev, "m1") == {0, 1, 2})
        count = 6000
        producer = subprocess.Popen([os.path.join(ROOT, "target/debug/examples/produce_stream"), bootstrap, topic, str(count), "1000"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        acked, failed = set(), []
        lock = threading.Condition()

        def read_acks():
            for line in producer.stdout:
                parts = line.split()
                with lock:
                    (acked.add(parts[1]) if parts[0] == "acked" else failed.append(line.strip()))
                    lock.notify_all()

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        with lock:
            assert lock.wait_for(lambda: len(acked) >= count // 3, timeout=60), f"only {len(acked)} acknowledged"
        leader = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
        cluster.node(leader).kill()
        killed_at = len(acked)

        assert producer.wait(timeout=240) == 0, f"producer failed: {failed[:5]} {producer.stderr.read()[-2000:]}"
        reader.join(10)
        assert len(acked) == count and not failed, (len(acked), failed[:5])
        assert killed_at < count, "the kill happened while the producer was writing"

        cluster.restart(leader)
        deadline = time.monotonic() + 120
        while True:
            parts = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
            if all(leader in p.isrs for p in parts):
                break
            assert time.monotonic() < deadline, "the restarted broker did not rejoin the ISR"
            time.sleep(0.5)

        timeline.wait_for("the group to read every acknowledged record",
                          lambda ev: acked <= {e["value"] for _, e in ev if e["event"] == "record"}, timeout=120)
        for m in members:
            m.stop()
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.kill()

    # The log itself: every value exactly once.
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "audit", "enable.auto.commit": False})
    reader.assign([TopicPartition(topic, p, 0) for p in range(3)])
    seen = {}
    while sum(seen.values()) < count:
        msg = reader.poll(10)
        assert msg is not None, f"log holds {sum(seen.values())} records, {count} were acknowledged"
        assert msg.error() is None, msg.error()
        seen[msg.value().decode()] = seen.get(msg.value().decode(), 0) + 1
    extra = reader.poll(2)
    reader.close()
    assert extra is None or extra.error(), "more records than acknowledged"
    assert set(seen) == acked and all(n == 1 for n in seen.values()), [v for v, n in seen.items() if n > 1][:5]
