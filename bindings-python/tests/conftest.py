"""The broker the binding's tests run against: the bundled one, started through the binding
itself, and Apache Kafka (tests/apache_kafka/cluster.py, when Java is on the machine)."""
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session", params=["ferrokafka", "apache-kafka"])
def bootstrap(request):
    if request.param == "ferrokafka":
        import ferrokafka
        with ferrokafka.Broker() as broker:
            yield broker.bootstrap_servers
        return
    if shutil.which("java") is None or os.environ.get("FERROKAFKA_SKIP_APACHE_KAFKA"):
        pytest.skip("Apache Kafka needs Java")
    sys.path.insert(0, os.path.join(ROOT, "tests", "apache_kafka"))
    from cluster import KafkaCluster
    cluster = KafkaCluster(1).start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()
