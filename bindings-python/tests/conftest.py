"""The brokers the binding's tests run against: the bundled one, started in-process through
the binding itself on a port picked at run time, and Apache Kafka
(tests/apache_kafka/cluster.py, when Java is on the machine and FERROKAFKA_SKIP_APACHE_KAFKA
is not set). Tests that take `bootstrap` run against each."""
import os
import shutil
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session", params=["ferrokafka", "apache-kafka"])
def bootstrap(request):
    if request.param == "ferrokafka":
        import ferrokafka
        # As the Apache Kafka of tests/apache_kafka/cluster.py: KIP-848 members hear of a
        # released partition within half a second.
        with ferrokafka.Broker(settings={"group.consumer.heartbeat.interval.ms": 500}) as broker:
            yield broker.bootstrap_servers
        return
    if shutil.which("java") is None or os.environ.get("FERROKAFKA_SKIP_APACHE_KAFKA"):
        pytest.skip("Apache Kafka needs Java (and FERROKAFKA_SKIP_APACHE_KAFKA unset)")
    sys.path.insert(0, os.path.join(ROOT, "tests", "apache_kafka"))
    from cluster import KafkaCluster
    cluster = KafkaCluster(1).start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


@pytest.fixture
def new_topic(bootstrap):
    """Creates a topic with a fresh name: ``new_topic(partitions)`` returns the name."""
    from ferrokafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def create(partitions=1, prefix="py"):
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        assert admin.create_topics([NewTopic(name, partitions, 1)])[name].result() is None
        return name

    return create


def poll_until(consumer, count, timeout=30):
    """Messages from consumer.poll until `count` arrived or `timeout` seconds passed."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m)
    return got
