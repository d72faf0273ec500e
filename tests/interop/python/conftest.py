"""The bundled broker binary as a fixture: one per test session on a free port and a temp
dir, plus a restartable one for tests that stop, kill and restart it."""
import os
import shutil
import sys
import signal
import subprocess
import tempfile

import pytest

READY = "ferrokafka-broker listening on "
# Prefix for the processes tests start (brokers, client programs): SIGKILL to them if the
# test process dies without stopping them. (The kernel sends it when the starting thread ends:
# start them from the test's own thread.)
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
BINARY = os.environ.get("FERROKAFKA_BROKER_BIN", "target/debug/ferrokafka-broker")


class BrokerProcess:
    """The broker binary on a data dir that outlives restarts. `start` returns once the
    broker prints its ready line; the port is kept across restarts so clients reconnect."""

    def __init__(self, data_dir, extra=()):
        self.data_dir = data_dir
        self.extra = list(extra)
        self.listen = "127.0.0.1:0"
        self.proc = None
        self.bootstrap = None

    def start(self):
        self.proc = subprocess.Popen(
            [*DIE_WITH_PARENT, BINARY, "--listen", self.listen, "--data-dir", self.data_dir, "--log-level", "warn",
             *self.extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # blocks until the broker is ready (or exits)
        assert line.startswith(READY), f"broker did not start: {line!r}"
        self.bootstrap = line[len(READY):].strip()
        self.listen = self.bootstrap
        return self.bootstrap

    def stop(self):
        """SIGTERM: a clean shutdown, which must exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, "broker shut down cleanly on SIGTERM"
        self.proc = None

    def kill(self):
        """SIGKILL: no chance to flush or close anything."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def bootstrap():
    with tempfile.TemporaryDirectory() as data_dir:
        broker = BrokerProcess(data_dir)
        try:
            yield broker.start()
            broker.stop()
        finally:
            broker.close()


@pytest.fixture
def own_broker():
    """A broker of this test's own, which the test may stop, kill and restart."""
    with tempfile.TemporaryDirectory() as data_dir:
        broker = BrokerProcess(data_dir)
        broker.start()
        try:
            yield broker
        finally:
            broker.close()


# Apache Kafka, started when a test first asks for it (tests/apache_kafka/cluster.py) and
# stopped at the end whatever happens: fixture finalizers, atexit, and SIGKILL from the kernel
# to every Kafka process if this one dies first.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "apache_kafka"))


def _interrupt(signum, _frame):
    # SIGTERM (e.g. a CI timeout) ends the run the way Ctrl-C does: pytest then runs every
    # fixture finalizer, which stops the brokers.
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def apache_kafka():
    """A single-node Apache Kafka (KRaft, combined broker and controller): once per run."""
    from cluster import KafkaCluster
    cluster = KafkaCluster(1).start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def apache_kafka_sasl_ssl():
    """A single Apache Kafka node with a SASL_SSL listener (SCRAM-SHA-256/512, user alice with
    password alice-secret, a CA made for it): the cluster object, stopped after the module."""
    from cluster import KafkaCluster
    cluster = KafkaCluster(1, scram_users={"alice": "alice-secret"}).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def apache_kafka_cluster():
    """Three Apache Kafka brokers and a controller; replication factor 3, min.insync.replicas 2.
    Only test_apache_kafka.py uses it: started once per run, stopped after that module so its
    four JVMs do not idle through the rest of the suite."""
    from cluster import KafkaCluster
    cluster = KafkaCluster(3).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["ferrokafka", "apache-kafka"])
def any_broker(request):
    """The bundled broker and Apache Kafka in turn: the same test against both."""
    return request.getfixturevalue("bootstrap" if request.param == "ferrokafka" else "apache_kafka")
