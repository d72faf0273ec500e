"""Apache Kafka (KRaft, from the Maven Central jars fetched by scripts/apache-kafka.sh) on
127.0.0.1 with free ports and small heaps: a single combined node, or a three-broker cluster
with one controller. Used by the interop suite; also runnable by hand:

    python tests/apache_kafka/cluster.py single     # prints bootstrap servers, Ctrl-C stops
    python tests/apache_kafka/cluster.py cluster
"""
import atexit
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOG4J = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><File name="file" fileName="${sys:kafka.logs.dir}/server.log"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="file"/></Root></Loggers>
</Configuration>
"""
_live = []


def _cleanup():
    for node in list(_live):
        node.kill()


atexit.register(_cleanup)


def lib_dir():
    out = subprocess.run([os.path.join(ROOT, "scripts/apache-kafka.sh")], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _java():
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else "java"


class Node:
    """One Kafka process (broker, controller or both) with its own data dir."""

    def __init__(self, workdir, node_id, roles, props, lib):
        self.node_id = node_id
        self.dir = os.path.join(workdir, f"node-{node_id}")
        os.makedirs(self.dir, exist_ok=True)
        self.lib = lib
        self.config = os.path.join(self.dir, "server.properties")
        props = {"process.roles": roles, "node.id": str(node_id), "log.dirs": os.path.join(self.dir, "data"), **props}
        with open(self.config, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
        with open(os.path.join(self.dir, "log4j2.xml"), "w") as f:
            f.write(LOG4J)
        self.proc = None

    def _cmd(self, main, *args):
        return [_java(), "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                f"-Dlog4j2.configurationFile={os.path.join(self.dir, 'log4j2.xml')}", f"-Dkafka.logs.dir={self.dir}",
                "-cp", os.path.join(self.lib, "*"), main, *args]

    def format(self, cluster_id):
        subprocess.run(self._cmd("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", self.config),
                       check=True, capture_output=True, text=True)

    def start(self):
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(self._cmd("kafka.Kafka", self.config), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _live.append(self)

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        if self in _live:
            _live.remove(self)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        if self in _live:
            _live.remove(self)

    def log_tail(self, n=40):
        path = os.path.join(self.dir, "server.log")
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])


def _wait_ready(bootstrap, brokers, timeout=120, nodes=()):
    """Until a Metadata request lists `brokers` brokers: the cluster serves clients."""
    from confluent_kafka.admin import AdminClient
    deadline = time.monotonic() + timeout
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    last = None
    while time.monotonic() < deadline:
        for n in nodes:
            if n.proc and n.proc.poll() is not None:
                raise RuntimeError(f"Kafka node {n.node_id} exited: {n.log_tail()}")
        try:
            md = admin.list_topics(timeout=2)
            if len(md.brokers) >= brokers:
                return
            last = f"{len(md.brokers)} brokers"
        except Exception as e:  # not up yet
            last = repr(e)
        time.sleep(0.2)
    raise RuntimeError(f"Kafka at {bootstrap} not ready after {timeout}s ({last})")


class KafkaCluster:
    """`brokers` brokers; with one, a combined broker+controller node; with more, a separate
    controller. Defaults suit tests: replication factor = broker count (max 3),
    min.insync.replicas 2 when there are three brokers, no initial rebalance delay."""

    def __init__(self, brokers=1):
        self.lib = lib_dir()
        self.workdir = tempfile.mkdtemp(prefix="apache-kafka-")
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        rf = min(brokers, 3)
        common = {
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 3,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": 1,
            "default.replication.factor": rf,
            "min.insync.replicas": 2 if brokers >= 3 else 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.partitions": 1,
            "auto.create.topics.enable": "true",
            "log.flush.interval.ms": 1000,
            "replica.lag.time.max.ms": 10000,
        }
        self.nodes = []
        if brokers == 1:
            port, cport = free_port(), free_port()
            voters = f"1@127.0.0.1:{cport}"
            props = {**common, "controller.quorum.voters": voters,
                     "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                     "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}"}
            self.nodes.append(Node(self.workdir, 1, "broker,controller", props, self.lib))
            self.ports = {1: port}
        else:
            cport = free_port()
            voters = f"100@127.0.0.1:{cport}"
            self.controller = Node(self.workdir, 100, "controller", {**common, "controller.quorum.voters": voters,
                                                                     "listeners": f"CONTROLLER://127.0.0.1:{cport}"}, self.lib)
            self.ports = {}
            for i in range(1, brokers + 1):
                port = free_port()
                self.ports[i] = port
                props = {**common, "controller.quorum.voters": voters, "listeners": f"PLAINTEXT://127.0.0.1:{port}",
                         "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}"}
                self.nodes.append(Node(self.workdir, i, "broker", props, self.lib))
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports.values())
        self.size = brokers

    def all_nodes(self):
        return ([self.controller] if self.size > 1 else []) + self.nodes

    def start(self, timeout=120):
        for n in self.all_nodes():
            n.format(self.cluster_id)
        for n in self.all_nodes():
            n.start()
        _wait_ready(self.bootstrap, self.size, timeout, self.all_nodes())
        return self

    def node(self, node_id):
        return next(n for n in self.nodes if n.node_id == node_id)

    def restart(self, node_id, timeout=120):
        self.node(node_id).start()
        _wait_ready(self.bootstrap, self.size, timeout, self.all_nodes())

    def stop(self):
        for n in self.nodes:
            n.stop()
        if self.size > 1:
            self.controller.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "single"
    started = time.monotonic()
    c = KafkaCluster(1 if kind == "single" else 3).start()
    print(f"{kind} ready in {time.monotonic() - started:.1f}s: {c.bootstrap}", flush=True)
    try:
        if "--exit" not in sys.argv:
            signal.pause()
    finally:
        c.stop()
