"""The group consumer through the binding: rebalance callbacks, commits, seek, pause/resume."""
import threading
import time

import pytest

import ferrokafka
from conftest import poll_until
from ferrokafka import Consumer, Producer, TopicPartition


def produce(bootstrap, topic, values, partition=-1):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    for v in values:
        p.produce(topic, value=str(v), partition=partition if partition >= 0 else v % 3)
    assert p.flush(30) == 0


def test_subscribe_with_callbacks_commit_committed_seek(bootstrap, new_topic):
    topic = new_topic(3)
    produce(bootstrap, topic, range(30))
    events = []
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic], on_assign=lambda cons, tps: events.append(("assign", sorted(tp.partition for tp in tps), threading.get_ident())),
                on_revoke=lambda cons, tps: events.append(("revoke", sorted(tp.partition for tp in tps), threading.get_ident())))
    got = poll_until(c, 30)
    assert len(got) == 30
    assert events[0] == ("assign", [0, 1, 2], threading.get_ident()), "on_assign ran on the polling thread"
    assert sorted(tp.partition for tp in c.assignment()) == [0, 1, 2]
    committed = c.commit(asynchronous=False)
    assert sorted((tp.partition, tp.offset) for tp in committed) == [(0, 10), (1, 10), (2, 10)]
    assert [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(3)])] == [10, 10, 10]

    # A message's offset + 1; explicit offsets with metadata; asynchronous commits.
    c.commit(message=got[0], asynchronous=False)
    assert c.committed([TopicPartition(topic, got[0].partition())])[0].offset == got[0].offset() + 1
    c.commit(offsets=[TopicPartition(topic, 0, 4, "note")], asynchronous=False)
    tp0 = c.committed([TopicPartition(topic, 0)])[0]
    assert (tp0.offset, tp0.metadata) == (4, "note")
    assert c.commit(offsets=[TopicPartition(topic, 1, 6)]) is None  # asynchronous by default
    deadline = time.monotonic() + 10
    while c.committed([TopicPartition(topic, 1)])[0].offset != 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.committed([TopicPartition(topic, 1)])[0].offset == 6

    c.seek(TopicPartition(topic, 1, 7))
    m = c.poll(5)
    assert (m.partition(), m.offset()) == (1, 7)
    assert c.position([TopicPartition(topic, 1)])[0].offset == 8
    c.seek(TopicPartition(topic, 2, ferrokafka.OFFSET_BEGINNING))
    assert sorted((m.partition(), m.offset()) for m in poll_until(c, 12, 10)) == [(1, 8), (1, 9)] + [(2, o) for o in range(10)]
    c.close()
    assert events[-1][:2] == ("revoke", [0, 1, 2]), "close revokes"


def test_pause_and_resume(bootstrap, new_topic):
    topic = new_topic(2)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"p-{topic}"})
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    c.pause([TopicPartition(topic, 1)])
    produce(bootstrap, topic, range(5), partition=0)
    produce(bootstrap, topic, range(5), partition=1)
    got = poll_until(c, 10, timeout=3)
    assert [(m.partition(), m.offset()) for m in got] == [(0, o) for o in range(5)], "paused partition 1 is not read"
    c.resume([TopicPartition(topic, 1)])
    assert [(m.partition(), m.offset()) for m in poll_until(c, 5)] == [(1, o) for o in range(5)]
    c.unassign()
    assert c.assignment() == []
    c.close()


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_a_second_member_triggers_revoke_and_assign(bootstrap, new_topic, protocol):
    """Either group protocol; with `consumer` (KIP-848) the broker assigns."""
    topic = new_topic(4)
    group = f"two-{protocol}-{topic}"
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest", "group.protocol": protocol}
    if protocol == "classic":
        conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    held = {"a": set(), "b": set()}
    log = []
    stop = threading.Event()

    def member(name):
        c = Consumer(conf)

        def on_assign(cons, tps):
            held[name] |= {tp.partition for tp in tps}
            log.append((name, "assign", threading.get_ident() == me))

        def on_revoke(cons, tps):
            held[name] -= {tp.partition for tp in tps}
            log.append((name, "revoke", threading.get_ident() == me))

        me = threading.get_ident()
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        while not stop.is_set():
            c.poll(0.2)
        c.close()

    a = threading.Thread(target=member, args=("a",))
    a.start()
    deadline = time.monotonic() + 30
    while held["a"] != {0, 1, 2, 3} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held["a"] == {0, 1, 2, 3}
    b = threading.Thread(target=member, args=("b",))
    b.start()
    deadline = time.monotonic() + 60
    while not (held["a"] and held["b"] and held["a"] | held["b"] == {0, 1, 2, 3} and not held["a"] & held["b"]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    a.join(60)
    b.join(60)
    assert ("a", "revoke", True) in log, "the first member gave partitions up"
    assert ("b", "assign", True) in log
    assert all(on_own_thread for _, _, on_own_thread in log), "each member's callbacks ran on its polling thread"
    assert held == {"a": set(), "b": set()}, "close revoked what each held"


def test_assign_inside_on_assign_picks_start_offsets(bootstrap, new_topic):
    """confluent-kafka's idiom: set offsets in on_assign and call assign() with them."""
    topic = new_topic(1)
    group = f"reset-{topic}"
    produce(bootstrap, topic, range(5), partition=0)
    first = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    first.subscribe([topic])
    assert len(poll_until(first, 5)) == 5
    first.commit(asynchronous=False)
    first.close()

    def from_beginning(consumer, partitions):
        for tp in partitions:
            tp.offset = ferrokafka.OFFSET_BEGINNING
        consumer.assign(partitions)

    again = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    again.subscribe([topic], on_assign=from_beginning)
    assert [m.offset() for m in poll_until(again, 5)] == [0, 1, 2, 3, 4], "read again from the start, not from 5"
    again.close()


def test_assign_from_stored_offsets(bootstrap, new_topic):
    topic = new_topic(1)
    group = f"stored-{topic}"
    produce(bootstrap, topic, range(6), partition=0)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    c.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    c.assign([TopicPartition(topic, 0)])  # OFFSET_INVALID: the committed offset
    assert [m.offset() for m in poll_until(c, 2)] == [4, 5]
    c.close()


def test_on_revoke_runs_while_the_partitions_are_held_and_its_commits_land(bootstrap, new_topic):
    topic = new_topic(3)
    group = f"revoke-{topic}"
    produce(bootstrap, topic, range(30))
    seen = {}

    def on_revoke(cons, tps):
        seen["revoked"] = sorted(tp.partition for tp in tps)
        seen["held"] = sorted(tp.partition for tp in cons.assignment())
        seen["positions"] = sorted((tp.partition, tp.offset) for tp in cons.position(tps))
        seen["thread"] = threading.get_ident()
        try:
            cons.seek(TopicPartition(topic, 0, 0))
        except RuntimeError as e:
            seen["seek"] = str(e)
        seen["committed"] = sorted((tp.partition, tp.offset) for tp in cons.commit(asynchronous=False))

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic], on_revoke=on_revoke)
    assert len(poll_until(c, 30)) == 30
    c.unsubscribe()
    assert seen["revoked"] == [0, 1, 2]
    assert seen["held"] == [0, 1, 2], "on_revoke ran before the partitions were released"
    assert seen["positions"] == [(0, 10), (1, 10), (2, 10)]
    assert seen["thread"] == threading.get_ident()
    assert "inside on_revoke" in seen["seek"]
    assert seen["committed"] == [(0, 10), (1, 10), (2, 10)]
    c.close()

    # The commit made inside on_revoke landed before the partitions went: a new member of the
    # group starts after everything read.
    check = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    assert [tp.offset for tp in check.committed([TopicPartition(topic, p) for p in range(3)])] == [10, 10, 10]
    check.close()


def test_an_exception_in_on_revoke_is_raised_by_the_call_that_revoked(bootstrap, new_topic):
    topic = new_topic(1)
    produce(bootstrap, topic, range(3), partition=0)

    def on_revoke(cons, tps):
        raise ValueError("from on_revoke")

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raise-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic], on_revoke=on_revoke)
    assert len(poll_until(c, 3)) == 3
    with pytest.raises(ValueError, match="from on_revoke"):
        c.close()
