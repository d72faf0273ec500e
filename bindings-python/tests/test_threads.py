"""Threads: blocking calls release the GIL, Ctrl-C stops them promptly, and a forked child
gets a runtime of its own while the parent's clients refuse to work in it."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import ferrokafka
from ferrokafka import Consumer, Producer, TopicPartition


def ticks_while(call):
    """How many times another Python thread ran (every 10 ms) while `call` blocked."""
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    before = len(ticks)
    call()
    after = len(ticks)
    stop.set()
    t.join()
    return after - before


def test_blocking_calls_release_the_gil(bootstrap, new_topic):
    topic = new_topic(1)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"gil-{topic}"})
    c.assign([TopicPartition(topic, 0, ferrokafka.OFFSET_END)])
    assert ticks_while(lambda: c.poll(1.0)) >= 20, "another Python thread ran while Consumer.poll waited"
    assert ticks_while(lambda: c.consume(10, 1.0)) >= 20
    c.close()
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, b"x")
    p.flush(10)
    assert ticks_while(lambda: p.poll(1.0)) >= 20, "and while Producer.poll waited"


def test_ctrl_c_stops_a_blocking_poll_promptly(bootstrap, new_topic, tmp_path):
    topic = new_topic(1)
    script = tmp_path / "blocked.py"
    script.write_text(
        "import signal, sys, ferrokafka\n"
        # A shell that starts `make test` in the background hands its children SIGINT ignored,
        # and CPython then installs no KeyboardInterrupt handler: set the one this test needs.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"c = ferrokafka.Consumer({{'bootstrap.servers': '{bootstrap}', 'group.id': 'ctrl-c'}})\n"
        f"c.assign([ferrokafka.TopicPartition('{topic}', 0, ferrokafka.OFFSET_END)])\n"
        "print('polling', flush=True)\n"
        "try:\n    c.poll(60)\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n    sys.exit(3)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "polling"
    time.sleep(0.5)  # let it block in poll
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 3 and proc.stdout.readline().strip() == "interrupted"
    assert time.monotonic() - started < 2, "stopped within a slice of the wait"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_builds_its_own_runtime_and_refuses_the_parents_clients(bootstrap, new_topic):
    topic = new_topic(1)
    parent = Producer({"bootstrap.servers": bootstrap})
    parent.produce(topic, b"from the parent")
    assert parent.flush(10) == 0
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            try:
                parent.produce(topic, b"x")
                os.write(w, b"parent producer worked in the child\n")
            except RuntimeError as e:
                os.write(w, b"refused: " + str(e).encode() + b"\n")
            child = Producer({"bootstrap.servers": bootstrap})
            child.produce(topic, b"from the child")
            os.write(w, b"child flush: %d\n" % child.flush(10))
            code = 0
        except BaseException as e:  # noqa: BLE001 - anything is reported to the parent
            os.write(w, f"child failed: {e!r}\n".encode())
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        report = f.read()
    assert os.WEXITSTATUS(status) == 0, report
    assert "refused:" in report and "fork()" in report and "child flush: 0" in report, report
    parent.produce(topic, b"the parent still works")
    assert parent.flush(10) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fork-{topic}"})
    c.assign([TopicPartition(topic, 0, 0)])
    values = sorted(m.value() for m in c.consume(10, 5))
    assert values == [b"from the child", b"from the parent", b"the parent still works"]
    c.close()
