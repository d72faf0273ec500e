"""Consumer groups of librdkafka (confluent-kafka) coordinated by the bundled broker.

Members run as separate processes (group_member.py) so one can be killed outright: no
LeaveGroup, no commit of what it had in hand."""
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
from conftest import DIE_WITH_PARENT, BrokerProcess
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

MEMBER = os.path.join(os.path.dirname(__file__), "group_member.py")
# The same member written with ferrokafka (examples/rust/group_member.rs).
FERROKAFKA_MEMBER = os.environ.get("FERROKAFKA_GROUP_MEMBER_BIN", "target/debug/examples/group_member")
PARTITIONS = 6


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result is in
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Timeline:
    """Events of every member in the order they were printed, as seen by this process."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def add(self, member, event):
        with self.cond:
            self.events.append((member, event))
            self.cond.notify_all()

    def wait_for(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = [f"{m}: {e}" for m, e in self.events if e["event"] != "record"][-20:]
                    pytest.fail(f"timed out waiting for {what}; last group events:\n" + "\n".join(tail))
                self.cond.wait(left)
            return list(self.events)


class Member:
    def __init__(self, timeline, bootstrap, group, topic, name, assignor, instance_id=None, kind="librdkafka"):
        self.name = name
        program = [sys.executable, MEMBER] if kind == "librdkafka" else [FERROKAFKA_MEMBER]
        args = [*program, bootstrap, group, topic, name, assignor]
        if instance_id:
            args.append(instance_id)
        self.proc = subprocess.Popen([*DIE_WITH_PARENT, *args], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, args=(timeline,), daemon=True)
        self.thread.start()

    def _read(self, timeline):
        for line in self.proc.stdout:
            timeline.add(self.name, json.loads(line))

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=30) == 0
        self.thread.join(10)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=30)


def owned(events, name):
    """The partitions `name` holds after the events so far."""
    current = set()
    for m, e in events:
        if m == name and e["event"] in ("assigned", "revoked"):
            current = set(e["all"])
    return current


def settled(names):
    """All of `names` hold partitions, disjointly, covering the topic."""
    def check(events):
        sets = [owned(events, n) for n in names]
        union = set().union(*sets)
        return all(sets) and union == set(range(PARTITIONS)) and sum(map(len, sets)) == PARTITIONS
    return check


def consumed(values):
    def check(events):
        got = {e["value"] for _, e in events if e["event"] == "record"}
        return values <= got
    return check


def produce(bootstrap, topic, prefix, n, partitions=PARTITIONS):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values, failures = set(), []

    def report(err, msg):
        if err is not None:
            failures.append(err)

    for i in range(n):
        value = f"{prefix}-{i}"
        producer.produce(topic, value=value.encode(), partition=i % partitions, on_delivery=report)
        values.add(value)
    assert producer.flush(30) == 0
    assert failures == []
    return values


def check_one_owner_at_a_time(events, dead):
    """Replays the timeline: a partition is assigned to a member only once its previous
    owner revoked it (or died), and members only read partitions they hold."""
    owner = {}
    for m, e in events:
        if e["event"] == "assigned":
            for p in e["partitions"]:
                assert owner.get(p) in (None, dead), f"{m} got partition {p} while {owner.get(p)} held it"
                owner[p] = m
        elif e["event"] == "revoked":
            for p in e["partitions"]:
                assert owner.get(p) == m, f"{m} revoked partition {p} it did not hold"
                owner[p] = None
        elif e["event"] == "record":
            assert owner.get(e["partition"]) == m, f"{m} read partition {e['partition']} it does not hold"


@pytest.mark.parametrize("assignor", ["range", "cooperative-sticky"])
@pytest.mark.parametrize("kinds", [
    ("librdkafka", "librdkafka", "librdkafka"),
    # Mixed: two ferrokafka members and a librdkafka one; a ferrokafka member is killed.
    ("ferrokafka", "librdkafka", "ferrokafka"),
], ids=["librdkafka", "mixed"])
def test_three_members_share_partitions_and_survive_a_killed_member(bootstrap, assignor, kinds):
    three_members_survive_a_killed_member(bootstrap, assignor, kinds)


@pytest.mark.parametrize("kinds", [
    ("librdkafka", "librdkafka", "librdkafka"),
    # Mixed: two ferrokafka members and a librdkafka one; a ferrokafka member is killed.
    ("ferrokafka", "librdkafka", "ferrokafka"),
], ids=["librdkafka", "mixed"])
@pytest.mark.parametrize("broker", ["ferrokafka", "apache-kafka"])
def test_kip848_consumer_protocol_group_survives_a_killed_member(tmp_path, request, broker, kinds):
    """group.protocol=consumer: the broker assigns partitions (KIP-848). Apache Kafka runs
    with the same 6 s session and 500 ms heartbeat (tests/apache_kafka/cluster.py)."""
    if broker == "apache-kafka":
        three_members_survive_a_killed_member(request.getfixturevalue("apache_kafka"), "consumer", kinds)
        return
    own = BrokerProcess(str(tmp_path), extra=["--set", "group.consumer.session.timeout.ms=6000",
                                               "--set", "group.consumer.heartbeat.interval.ms=500"])
    try:
        three_members_survive_a_killed_member(own.start(), "consumer", kinds)
        own.stop()
    finally:
        own.close()


def three_members_survive_a_killed_member(bootstrap, assignor, kinds):
    topic, group = unique(f"grp-{assignor}"), unique("g")
    create_topic(bootstrap, topic, PARTITIONS)
    timeline = Timeline()
    names = ["m0", "m1", "m2"]
    members = {n: Member(timeline, bootstrap, group, topic, n, assignor, kind=k) for n, k in zip(names, kinds)}
    try:
        timeline.wait_for("three members to share the partitions", settled(names))
        first = produce(bootstrap, topic, "a", 600)
        timeline.wait_for("the first 600 records", consumed(first))

        members["m2"].kill()
        second = produce(bootstrap, topic, "b", 600)
        # The survivors take m2's partitions once its session (6 s) times out.
        events = timeline.wait_for("the survivors to take over and read everything",
                                   lambda ev: settled(["m0", "m1"])(ev) and consumed(first | second)(ev))
        for n in ("m0", "m1"):
            members[n].stop()
    finally:
        for m in members.values():
            if m.proc.poll() is None:
                m.kill()

    check_one_owner_at_a_time(events, dead="m2")
    # At least once: a record is read twice only if the first reader died before committing
    # it or its commit failed (a rebalance in between).
    readers = {}
    for m, e in events:
        if e["event"] == "record":
            readers.setdefault(e["value"], []).append(m)
    failed = {(e["partition"], e["offset"]) for _, e in events if e["event"] == "commit_failed"}
    offsets = {e["value"]: (e["partition"], e["offset"]) for _, e in events if e["event"] == "record"}
    for value, who in readers.items():
        if len(who) > 1:
            assert "m2" in who[:-1] or offsets[value] in failed, f"{value} read by {who} without cause"
    assert set(readers) == first | second


def test_group_resumes_from_committed_offsets_after_clean_and_unclean_restarts(own_broker):
    topic, group = unique("resume"), unique("g")
    create_topic(own_broker.bootstrap, topic, 2)

    def read_batch(expected):
        consumer = Consumer({
            "bootstrap.servers": own_broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000,
        })
        consumer.subscribe([topic])
        got = []
        deadline = time.monotonic() + 60
        while len(got) < len(expected) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            got.append(msg.value().decode())
        consumer.commit(asynchronous=False)
        # Nothing beyond what was produced: the group starts exactly at its commits.
        extra = consumer.poll(1.0)
        committed = consumer.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        consumer.close()
        assert extra is None or extra.error(), f"read past the expected records: {extra.value()!r}"
        return got, {tp.partition: tp.offset for tp in committed}

    first = produce(own_broker.bootstrap, topic, "a", 100, partitions=2)
    got, committed = read_batch(first)
    assert set(got) == first and len(got) == 100
    assert sum(committed.values()) == 100

    own_broker.stop()
    own_broker.start()
    second = produce(own_broker.bootstrap, topic, "b", 100, partitions=2)
    got, committed = read_batch(second)
    assert set(got) == second and len(got) == 100, "resumed after a clean restart"
    assert sum(committed.values()) == 200

    own_broker.kill()
    own_broker.start()
    third = produce(own_broker.bootstrap, topic, "c", 100, partitions=2)
    got, committed = read_batch(third)
    assert set(got) == third and len(got) == 100, "resumed after kill -9"
    assert sum(committed.values()) == 300


def test_static_member_restart_does_not_rebalance(bootstrap):
    topic, group = unique("static"), unique("g")
    create_topic(bootstrap, topic, PARTITIONS)
    timeline = Timeline()
    s0 = Member(timeline, bootstrap, group, topic, "s0", "range", instance_id="instance-0")
    s1 = Member(timeline, bootstrap, group, topic, "s1", "range", instance_id="instance-1")
    members = [s0, s1]
    try:
        events = timeline.wait_for("two static members to share the partitions", settled(["s0", "s1"]))
        before = {n: owned(events, n) for n in ("s0", "s1")}
        seen = len(events)
        s1.stop()  # a static member's close sends no LeaveGroup
        s1b = Member(timeline, bootstrap, group, topic, "s1b", "range", instance_id="instance-1")
        members.append(s1b)
        events = timeline.wait_for("the restarted member to get its partitions back", lambda ev: owned(ev, "s1b"))
        assert owned(events, "s1b") == before["s1"], "the same instance gets the same partitions"
        # Let a rebalance, if one were triggered, reach s0 before checking it saw none.
        values = produce(bootstrap, topic, "s", 60)
        events = timeline.wait_for("the records", consumed(values))
        s0_changes = [e for m, e in events[seen:] if m == "s0" and e["event"] in ("assigned", "revoked")]
        assert s0_changes == [], f"s0 went through a rebalance: {s0_changes}"
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.kill()
