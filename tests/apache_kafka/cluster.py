"""Apache Kafka (KRaft, from the Maven Central jars fetched by scripts/apache-kafka.sh) on
127.0.0.1 with free ports and small heaps: a single combined node, or a three-broker cluster
with one controller. Used by the interop suite; also runnable by hand:

    python tests/apache_kafka/cluster.py single     # prints bootstrap servers; Ctrl-C or SIGTERM stops
    python tests/apache_kafka/cluster.py cluster

Teardown whatever happens: every Kafka process is its own process group, stopped by
`KafkaCluster.stop()`, by an atexit hook, and — if this Python process dies without running
either (SIGKILL, a crash) — by the kernel: each JVM gets SIGKILL when the thread that
started it exits (PR_SET_PDEATHSIG). So start and restart nodes from a thread that outlives
them (the main thread, as pytest fixtures and tests do).

APACHE_KAFKA_LOG_LEVEL (default WARN) sets the brokers' log level; logs are in each node's
directory (`KafkaCluster.workdir`, removed at stop unless APACHE_KAFKA_KEEP=1).
"""
import atexit
import base64
import ctypes
import logging
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
  <Loggers><Root level="LEVEL"><AppenderRef ref="file"/></Root></Loggers>
</Configuration>
"""
_live = []  # nodes whose process may be running
_workdirs = []  # clusters' directories not yet removed


def _cleanup():
    for node in list(_live):
        node.kill()
    if os.environ.get("APACHE_KAFKA_KEEP") != "1":
        for d in list(_workdirs):
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)

# The JVMs die with the thread that started them: setpriv(1) where it exists (no code runs
# between fork and exec), else prctl in the child.
_SETPRIV = shutil.which("setpriv")
_libc = ctypes.CDLL(None, use_errno=True) if not _SETPRIV and sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _sweep_stale_workdirs():
    """Removes the directories of clusters whose owning process is gone (it was SIGKILLed: its
    Kafka processes died with it, its directory stayed)."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        owner = os.path.join(base, name, "owner.pid")
        if not name.startswith("apache-kafka-") or not os.path.exists(owner):
            continue
        try:
            with open(owner) as f:
                os.kill(int(f.read().strip()), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except (OSError, ValueError):
            pass


def lib_dir():
    """The directory of Kafka's jars (fetched on first use; no network afterwards)."""
    out = subprocess.run([os.path.join(ROOT, "scripts/apache-kafka.sh")], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def new_cluster_id():
    """A random Kafka Uuid (URL-safe base64 of 16 bytes). Like Kafka's Uuid.randomUuid, never
    one starting with '-', which kafka-storage's argument parser would take for an option."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def java():
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else "java"


# Small heap, serial GC and the C1 compiler only: fast start-up and little memory, for tests.
TEST_JVM = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]
# What Kafka's own start scripts use (kafka-server-start.sh, kafka-run-class.sh): for
# benchmarks, Kafka as its users run it.
KAFKA_DEFAULT_JVM = ["-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                     "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                     "-Djava.awt.headless=true"]


class Node:
    """One Kafka process (broker, controller or both) with its own data dir."""

    def __init__(self, workdir, node_id, roles, props, lib, port, jvm=None):
        self.node_id = node_id
        self.jvm = list(jvm) if jvm is not None else TEST_JVM
        self.port = port  # the client listener (PLAINTEXT), or the controller's
        self.dir = os.path.join(workdir, f"node-{node_id}")
        os.makedirs(self.dir, exist_ok=True)
        self.lib = lib
        self.config = os.path.join(self.dir, "server.properties")
        props = {"process.roles": roles, "node.id": str(node_id), "log.dirs": os.path.join(self.dir, "data"), **props}
        with open(self.config, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
        with open(os.path.join(self.dir, "log4j2.xml"), "w") as f:
            f.write(LOG4J.replace("LEVEL", os.environ.get("APACHE_KAFKA_LOG_LEVEL", "WARN")))
        self.proc = None

    def _cmd(self, main, *args):
        cmd = [java(), *self.jvm,
               f"-Dlog4j2.configurationFile={os.path.join(self.dir, 'log4j2.xml')}", f"-Dkafka.logs.dir={self.dir}",
               "-cp", os.path.join(self.lib, "*"), main, *args]
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd] if _SETPRIV else cmd

    def format(self, cluster_id, extra=()):
        """kafka-storage format: writes meta.properties and the bootstrap metadata."""
        out = subprocess.run(self._cmd("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={self.config}",
                                       *extra),
                             capture_output=True, text=True, preexec_fn=_die_with_parent if _libc else None)
        if out.returncode != 0:
            raise RuntimeError(f"formatting node {self.node_id} failed: {out.stdout}{out.stderr}")

    def start(self):
        assert not self.running(), f"node {self.node_id} is running"
        with open(os.path.join(self.dir, "stdout.log"), "ab") as out:
            self.proc = subprocess.Popen(self._cmd("kafka.Kafka", self.config), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_die_with_parent if _libc else None)
        _live.append(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL to the node's process group, as a crash would."""
        if self.running():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(30)
        if self in _live:
            _live.remove(self)

    def stop(self, timeout=30):
        """SIGTERM (a controlled shutdown), SIGKILL if that takes longer than `timeout`."""
        if self.running():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def log_tail(self, n=40):
        text = ""
        for name in ("stdout.log", "server.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f"--- node {self.node_id} {name}\n" + "".join(f.readlines()[-n:])
        return text


class KafkaCluster:
    """`brokers` brokers: with one, a combined broker+controller node; with more, brokers and
    one separate controller (on 2 cores, one controller starts faster than three combined
    nodes electing a leader). Defaults suit tests: replication factor = broker count (max 3),
    min.insync.replicas 2 when there are three brokers, no initial rebalance delay."""

    def __init__(self, brokers=1, scram_users=None, jvm=None, overrides=None):
        """`scram_users` ({name: password}, single node only) adds a SASL_SSL listener with
        SCRAM-SHA-256/512 for them, its certificate signed by a CA made for this cluster
        (`ca_pem`); `sasl_ssl_bootstrap` is its address. `jvm`: the JVM's options (default
        TEST_JVM); `overrides`: broker properties over the test defaults below (a value of
        None removes a property: Kafka's default)."""
        self.lib = lib_dir()
        _sweep_stale_workdirs()
        self.workdir = tempfile.mkdtemp(prefix="apache-kafka-")
        _workdirs.append(self.workdir)
        with open(os.path.join(self.workdir, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        self.cluster_id = new_cluster_id()
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
            # KIP-848 groups: a released partition reaches its next owner within half a
            # second, and a dead member is dropped after 6 s (Kafka's minimum is 45 s).
            "group.consumer.heartbeat.interval.ms": 500,
            "group.consumer.min.heartbeat.interval.ms": 500,
            "group.consumer.session.timeout.ms": 6000,
            "group.consumer.min.session.timeout.ms": 6000,
            "num.partitions": 1,
            "auto.create.topics.enable": "true",
            "log.flush.interval.ms": 1000,
            "replica.lag.time.max.ms": 10000,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
        }
        for k, v in (overrides or {}).items():
            if v is None:
                common.pop(k, None)
            else:
                common[k] = v
        if brokers > 1:
            # A SIGKILLed broker is fenced, and its partitions get new leaders, once it misses
            # heartbeats for this long (Kafka's default: 9 s).
            common.update({"broker.session.timeout.ms": 5000, "broker.heartbeat.interval.ms": 500})
        self.nodes = []
        self.controller = None
        self.scram_users = scram_users or {}
        self.sasl_ssl_bootstrap = None
        self.ca_pem = None
        if brokers == 1:
            port, cport = free_port(), free_port()
            props = {**common, "controller.quorum.voters": f"1@127.0.0.1:{cport}",
                     "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                     "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}"}
            if self.scram_users:
                props.update(self._sasl_ssl_props(props))
            self.nodes.append(Node(self.workdir, 1, "broker,controller", props, self.lib, port, jvm))
        else:
            cport = free_port()
            voters = f"100@127.0.0.1:{cport}"
            self.controller = Node(self.workdir, 100, "controller",
                                   {**common, "controller.quorum.voters": voters,
                                    "listeners": f"CONTROLLER://127.0.0.1:{cport}"}, self.lib, cport, jvm)
            for i in range(1, brokers + 1):
                port = free_port()
                props = {**common, "controller.quorum.voters": voters, "listeners": f"PLAINTEXT://127.0.0.1:{port}",
                         "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}"}
                self.nodes.append(Node(self.workdir, i, "broker", props, self.lib, port, jvm))
        self.bootstrap = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        self.size = brokers

    def _sasl_ssl_props(self, props):
        """A SASL_SSL listener with SCRAM next to PLAINTEXT: certificates (openssl, PEM, made
        now) and the listener's JAAS settings. The users are added when formatting."""
        tls = os.path.join(self.workdir, "tls")
        os.makedirs(tls)

        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=apache-kafka test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", *ec, "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=apache-kafka")
        with open(os.path.join(tls, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "broker.pem", "-days", "2", "-extfile", "san.ext")
        # Kafka's PEM key store: the private key (PKCS#8, unencrypted) followed by the chain.
        keystore = os.path.join(tls, "keystore.pem")
        with open(keystore, "w") as out:
            for part in ("broker.key", "broker.pem"):
                with open(os.path.join(tls, part)) as f:
                    out.write(f.read())
        self.ca_pem = os.path.join(tls, "ca.pem")
        sport = free_port()
        self.sasl_ssl_bootstrap = f"127.0.0.1:{sport}"
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "listeners": props["listeners"] + f",SASL_SSL://127.0.0.1:{sport}",
            "advertised.listeners": props["advertised.listeners"] + f",SASL_SSL://127.0.0.1:{sport}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": jaas,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": keystore,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": self.ca_pem,
        }

    def _format_args(self):
        return [f"--add-scram={mech}=[name={user},password={password}]"
                for user, password in self.scram_users.items() for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")]

    def all_nodes(self):
        return ([self.controller] if self.controller else []) + self.nodes

    def start(self, timeout=120):
        try:
            for n in self.all_nodes():
                n.format(self.cluster_id, self._format_args())
            for n in self.all_nodes():
                n.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def node(self, node_id):
        return next(n for n in self.nodes if n.node_id == node_id)

    def wait_ready(self, timeout=120, via=None):
        """Until a Metadata request (to `via`, a node, or to any broker) lists every broker:
        the cluster serves clients. Fails early, with the logs, if a node exits."""
        from confluent_kafka.admin import AdminClient
        bootstrap = f"127.0.0.1:{via.port}" if via else self.bootstrap
        want = {n.node_id for n in self.nodes}
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "logger": _quiet})
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for n in self.all_nodes():
                if n.proc is not None and n.proc.poll() is not None and n in _live:
                    raise RuntimeError(f"Kafka node {n.node_id} exited with {n.proc.returncode}:\n{n.log_tail()}")
            try:
                md = admin.list_topics(timeout=2)
                if set(md.brokers) >= want:
                    return
                last = f"brokers {sorted(md.brokers)}"
            except Exception as e:  # not up yet
                last = repr(e)
            time.sleep(0.2)
        raise RuntimeError(f"Kafka at {bootstrap} not ready after {timeout}s ({last})\n"
                           + "".join(n.log_tail() for n in self.all_nodes()))

    def kill(self, node_id):
        """SIGKILL one broker."""
        self.node(node_id).kill()

    def restart(self, node_id, timeout=120):
        """Starts a stopped or killed broker again on its data dir and port; returns once it
        serves Metadata itself and every broker is registered."""
        node = self.node(node_id)
        node.start()
        self.wait_ready(timeout, via=node)

    def wait_in_sync(self, node_id, timeout=120):
        """Until `node_id` is in the ISR of every partition it replicates (all topics)."""
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _quiet})
        deadline = time.monotonic() + timeout
        while True:
            lagging = [f"{t.topic}-{p.id}" for t in admin.list_topics(timeout=10).topics.values()
                       for p in t.partitions.values() if node_id in p.replicas and node_id not in p.isrs]
            if not lagging:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker {node_id} not back in the ISR of {lagging} after {timeout}s")
            time.sleep(0.5)

    def stop(self):
        for n in self.nodes:
            n.stop()
        if self.controller:
            self.controller.stop()
        if os.environ.get("APACHE_KAFKA_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.workdir in _workdirs:
                _workdirs.remove(self.workdir)


# librdkafka's complaints while polling a cluster that is still starting are expected.
_quiet = logging.getLogger("apache_kafka.cluster.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "single"
    if kind not in ("single", "cluster"):
        sys.exit(__doc__)

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    # Also when started in the background by a non-interactive shell, where SIGINT is ignored.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, stop)
    started = time.monotonic()
    c = KafkaCluster(1 if kind == "single" else 3).start()
    try:
        print(f"{kind} ready in {time.monotonic() - started:.1f}s: {c.bootstrap}", flush=True)
        if "--exit" not in sys.argv:
            while True:
                signal.pause()
    finally:
        c.stop()


if __name__ == "__main__":
    main()
