"""One confluent-kafka (librdkafka) group member, run as its own process so a test can kill it.

Usage: group_member.py BOOTSTRAP GROUP TOPIC NAME ASSIGNOR [INSTANCE_ID]
(ASSIGNOR `consumer` means group.protocol=consumer: KIP-848, assignment by the broker.)

Prints one JSON object per line on stdout:
  {"event": "assigned", "partitions": [...], "all": [...]}  after each (incremental) assignment
  {"event": "revoked", "partitions": [...], "all": [...]}
  {"event": "record", "partition": p, "offset": o, "value": "..."}  before its commit (sync)
  {"event": "commit_failed", ...}                                    when that commit fails
Runs until SIGTERM, then closes the consumer (which leaves the group unless static).
"""
import json
import signal
import sys

from confluent_kafka import Consumer, KafkaException

bootstrap, group, topic, name, assignor = sys.argv[1:6]
instance_id = sys.argv[6] if len(sys.argv) > 6 else None

running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)

conf = {
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "client.id": name,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "topic.metadata.refresh.interval.ms": 1000,
}
if assignor == "consumer":
    # KIP-848: the broker assigns; timeouts come from the broker's group.consumer.* settings.
    conf["group.protocol"] = "consumer"
else:
    conf.update({"partition.assignment.strategy": assignor, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
incremental = assignor in ("cooperative-sticky", "consumer")
if instance_id:
    conf["group.instance.id"] = instance_id
consumer = Consumer(conf)
owned = set()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_assign(c, partitions):
    global owned
    owned |= {p.partition for p in partitions}
    if incremental:
        c.incremental_assign(partitions)
    emit({"event": "assigned", "partitions": sorted(p.partition for p in partitions), "all": sorted(owned)})


def on_revoke(c, partitions):
    global owned
    owned -= {p.partition for p in partitions}
    if incremental:
        c.incremental_unassign(partitions)
    emit({"event": "revoked", "partitions": sorted(p.partition for p in partitions), "all": sorted(owned)})


consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
try:
    while running:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            emit({"event": "error", "error": str(msg.error())})
            continue
        # Process (report), then commit: at least once. A record is re-delivered only if this
        # member dies before its commit, or the commit fails (reported as commit_failed).
        emit({"event": "record", "partition": msg.partition(), "offset": msg.offset(), "value": msg.value().decode()})
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            emit({"event": "commit_failed", "partition": msg.partition(), "offset": msg.offset(), "error": str(e)})
finally:
    consumer.close()
    emit({"event": "closed"})
