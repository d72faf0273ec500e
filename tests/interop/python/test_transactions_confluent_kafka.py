"""Transactions of librdkafka (confluent-kafka): abort and commit seen through read_committed,
fencing by a second producer with the same transactional.id, and consume-transform-produce
with offsets in the transaction (KIP-447). Each test runs against the bundled broker and
Apache Kafka, which must behave alike."""
import os
import signal
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import DIE_WITH_PARENT

TIMEOUT = 30


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)


def transactional_producer(bootstrap, transactional_id):
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": transactional_id,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    })
    producer.init_transactions(TIMEOUT)
    return producer


def read_all(bootstrap, topic, partitions, isolation):
    """Every value of `topic` visible at `isolation`, read to the end of each partition (for
    read_committed, the last stable offset), in offset order per partition."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("reader"),
        "isolation.level": isolation,
        "enable.partition.eof": True,
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values, at_end = [], set()
    try:
        while len(at_end) < partitions:
            msg = consumer.poll(TIMEOUT)
            assert msg is not None, f"no end of partitions {set(range(partitions)) - at_end} in {TIMEOUT} s"
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
                continue
            values.append(msg.value().decode())
    finally:
        consumer.close()
    return values


def test_aborted_records_are_never_read_committed(any_broker):
    topic = unique("txn")
    create(any_broker, topic, 1)
    producer = transactional_producer(any_broker, unique("tx"))
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, f"aborted-{i}".encode())
    producer.flush(TIMEOUT)
    producer.abort_transaction(TIMEOUT)
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, f"committed-{i}".encode())
    producer.commit_transaction(TIMEOUT)

    assert read_all(any_broker, topic, 1, "read_committed") == [f"committed-{i}" for i in range(5)]
    everything = read_all(any_broker, topic, 1, "read_uncommitted")
    assert everything == [f"aborted-{i}" for i in range(5)] + [f"committed-{i}" for i in range(5)]


def test_a_second_producer_with_the_same_id_fences_the_first(any_broker):
    topic = unique("txn")
    create(any_broker, topic, 1)
    tid = unique("tx")
    first = transactional_producer(any_broker, tid)
    first.begin_transaction()
    first.produce(topic, b"zombie")
    first.flush(TIMEOUT)

    second = transactional_producer(any_broker, tid)  # aborts the first one's transaction
    with pytest.raises(KafkaException) as raised:
        first.commit_transaction(TIMEOUT)
    error = raised.value.args[0]
    assert error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED), error

    second.begin_transaction()
    second.produce(topic, b"fresh")
    second.commit_transaction(TIMEOUT)
    assert read_all(any_broker, topic, 1, "read_committed") == ["fresh"]


def transform_batch(consumer, producer, output, count, commit):
    """Consumes up to `count` records and produces each, upper-cased, to `output` in one
    transaction with the consumer's positions; commits or aborts it. Returns how many."""
    got = []
    while len(got) < count:
        msgs = consumer.consume(count - len(got), TIMEOUT)
        assert msgs, "no input within the timeout"
        for m in msgs:
            assert not m.error(), m.error()
            got.append(m)
    producer.begin_transaction()
    for m in got:
        producer.produce(output, m.value().upper(), key=m.key())
    positions = consumer.position(consumer.assignment())
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), TIMEOUT)
    if commit:
        producer.commit_transaction(TIMEOUT)
    else:
        producer.abort_transaction(TIMEOUT)
    return len(got)


def transformer(bootstrap, group, source):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([source])
    return consumer


def test_consume_transform_produce_yields_each_input_exactly_once(any_broker):
    source, output, group, tid = unique("in"), unique("out"), unique("etl"), unique("tx")
    create(any_broker, source, 1)
    create(any_broker, output, 1)
    plain = Producer({"bootstrap.servers": any_broker})
    inputs = [f"record-{i}" for i in range(30)]
    for v in inputs:
        plain.produce(source, v.encode())
    plain.flush(TIMEOUT)

    # First instance: one batch committed, the next aborted (as if it crashed before its
    # commit); it goes away without committing anything else.
    consumer = transformer(any_broker, group, source)
    producer = transactional_producer(any_broker, tid)
    transform_batch(consumer, producer, output, 10, commit=True)
    transform_batch(consumer, producer, output, 10, commit=False)
    consumer.close()

    # Second instance: resumes from the offsets committed in the transaction.
    consumer = transformer(any_broker, group, source)
    producer = transactional_producer(any_broker, tid)
    done = 0
    while done < 20:
        done += transform_batch(consumer, producer, output, 20 - done, commit=True)
    consumer.close()

    assert read_all(any_broker, output, 1, "read_committed") == [v.upper() for v in inputs]


def test_kill_9_keeps_the_committed_view_and_never_exposes_the_rest(tmp_path):
    """Bundled broker only (it is killed): a committed, an aborted and an unfinished
    transaction, SIGKILL, restart. read_committed readers see the committed records only; the
    unfinished transaction times out after the restart and is aborted."""
    from conftest import BrokerProcess
    broker = BrokerProcess(str(tmp_path), extra=[
        "--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=100"])
    bootstrap = broker.start()
    try:
        topic = unique("txn")
        create(bootstrap, topic, 1)
        done = transactional_producer(bootstrap, unique("tx"))
        done.begin_transaction()
        done.produce(topic, b"aborted")
        done.flush(TIMEOUT)
        done.abort_transaction(TIMEOUT)
        done.begin_transaction()
        done.produce(topic, b"committed")
        done.commit_transaction(TIMEOUT)
        unfinished = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("tx"),
                               "transaction.timeout.ms": 3000})
        unfinished.init_transactions(TIMEOUT)
        unfinished.begin_transaction()
        unfinished.produce(topic, b"unfinished")
        unfinished.flush(TIMEOUT)

        broker.kill()
        broker.start()
        # Reading to the end waits for the last stable offset to reach the log end: the
        # unfinished transaction's abort after its timeout.
        assert read_all(bootstrap, topic, 1, "read_committed") == ["committed"]
        assert read_all(bootstrap, topic, 1, "read_uncommitted") == ["aborted", "committed", "unfinished"]
        broker.stop()
    finally:
        broker.close()


def test_java_client_transactions(any_broker):
    """kafka-clients 4.1 (tests/interop/java/Transactions.java): abort, commit, read_committed,
    fencing by a second producer. The broker advertises no `transaction.version` feature, so
    the Java client runs transaction version 1, as against a Kafka 3.x broker."""
    from test_apache_kafka import run_java_program
    topic = unique("java-txn")
    create(any_broker, topic, 1)
    out = run_java_program("Transactions", any_broker, topic)
    assert out.returncode == 0 and out.stdout.splitlines()[-1:] == ["OK transactions"], \
        out.stdout + out.stderr[-3000:]


def test_kafka_transactions_tool_lists_describes_and_shows_producers(any_broker):
    """Kafka's own kafka-transactions.sh (org.apache.kafka.tools.TransactionsCommand, KIP-664)
    sees an open transaction: in `list`, `describe` and `describe-producers`."""
    import subprocess
    from test_apache_kafka import java_classes  # noqa: F401 (makes tests/apache_kafka importable)
    from cluster import java, lib_dir
    topic, tid = unique("txn"), unique("tx")
    create(any_broker, topic, 1)
    producer = transactional_producer(any_broker, tid)
    producer.begin_transaction()
    producer.produce(topic, b"open", partition=0)
    producer.flush(TIMEOUT)

    def tool(*args):
        out = subprocess.run([java(), "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", f"{lib_dir()}/*",
                              "org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", any_broker, *args],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr[-2000:]
        return out.stdout

    assert tid in tool("list")
    described = tool("describe", "--transactional-id", tid)
    assert "Ongoing" in described and f"{topic}-0" in described, described
    producers = tool("describe-producers", "--topic", topic, "--partition", "0")
    assert "CurrentTransactionStartOffset" in producers and "\n" in producers.strip(), producers
    producer.abort_transaction(TIMEOUT)


# Our exactly-once copier (examples/rust/eos_copy.rs), killed with SIGKILL mid-run.
EOS_COPY = os.environ.get("FERROKAFKA_EOS_COPY_BIN", "target/debug/examples/eos_copy")


def test_our_exactly_once_copy_survives_sigkill_and_librdkafka_reads_it(any_broker):
    source, output, group = unique("eos-in"), unique("eos-out"), unique("eos")
    create(any_broker, source, 2)
    create(any_broker, output, 2)
    n = 400
    plain = Producer({"bootstrap.servers": any_broker})
    for i in range(n):
        plain.produce(source, f"r{i}".encode(), partition=i % 2)
    assert plain.flush(TIMEOUT) == 0
    cmd = [*DIE_WITH_PARENT, EOS_COPY, any_broker, source, output, group]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.startswith("committed") and int(line.split()[1]) >= 60:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    rerun = subprocess.run(cmd + ["--until-caught-up"], capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    got = read_all(any_broker, output, 2, "read_committed")
    assert sorted(got) == sorted(f"R{i}" for i in range(n)), f"{len(got)} records, {len(set(got))} distinct"
