"""The bundled broker through the binding: ``python -m ferrokafka.broker`` and
``ferrokafka.Broker``."""
import os
import re
import signal
import subprocess
import sys

from ferrokafka import Broker
from ferrokafka.admin import AdminClient, NewTopic


def test_python_m_ferrokafka_broker_prints_the_binarys_ready_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "ferrokafka.broker", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                             "--set", "num.partitions=3", "--log-level", "warn"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert re.fullmatch(r"ferrokafka-broker listening on 127\.0\.0\.1:\d+\n", line), line
        a = AdminClient({"bootstrap.servers": line.split()[-1]})
        assert len(a.list_topics().brokers) == 1
        assert a.create_topics([NewTopic("three")])["three"].result() is None
        assert len(a.list_topics("three").topics["three"].partitions) == 3, "--set reached the broker"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert os.path.isdir(tmp_path / "three-2"), "the data dir holds the log"


def test_python_m_ferrokafka_broker_reports_bad_settings(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ferrokafka.broker", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                          "--set", "no.such=1"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "no.such" in out.stderr


def test_broker_context_manager_with_a_temporary_dir():
    with Broker(settings={"num.partitions": 2}) as broker:
        data_dir = broker.data_dir
        assert broker.bootstrap_servers.startswith("127.0.0.1:")
        md = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics()
        assert len(md.brokers) == 1
    assert not os.path.exists(data_dir), "the temporary data dir is removed"


def test_broker_with_a_data_dir_keeps_topics_across_restarts(tmp_path):
    with Broker(data_dir=tmp_path) as broker:
        AdminClient({"bootstrap.servers": broker.bootstrap_servers}).create_topics([NewTopic("kept", 1)])["kept"].result()
    with Broker(data_dir=str(tmp_path)) as broker:
        assert "kept" in AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics().topics
    assert os.path.isdir(tmp_path / "kept-0")
