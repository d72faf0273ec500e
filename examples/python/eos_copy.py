"""Exactly-once consume-transform-produce with ferrokafka (confluent-kafka's API).

Reads INPUT, writes each record's value upper-cased to OUTPUT, and commits the consumed
offsets in the same transaction as the output: after any crash (kill -9 included) and
restart, a read_committed reader of OUTPUT sees every input record exactly once.

    python eos_copy.py BOOTSTRAP INPUT OUTPUT [GROUP] [--until-caught-up]

With --until-caught-up it exits once every partition of INPUT is read to its end (how the
tests run it); otherwise it runs until Ctrl-C. Prints "committed N" after each transaction.
"""
import sys

from ferrokafka import Consumer, KafkaException, Producer


def main(bootstrap, input_topic, output_topic, group="eos-copy", until_caught_up=False):
    # One transactional.id per input partition set: a restarted copy fences its crashed
    # predecessor (whose open transaction is aborted) before reading anything.
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{group}-copier"})
    producer.init_transactions(30)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        # Static membership: the restarted copy takes the crashed one's place at once
        # instead of waiting for its session to time out.
        "group.instance.id": f"{group}-copier",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    consumer.subscribe([input_topic])
    committed = 0
    try:
        while True:
            batch = [m for m in consumer.consume(num_messages=10, timeout=1.0) if m.error() is None]
            if batch:
                producer.begin_transaction()
                for m in batch:
                    producer.produce(output_topic, key=m.key(), value=m.value().upper())
                producer.send_offsets_to_transaction(
                    consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30)
                try:
                    producer.commit_transaction(30)
                except KafkaException as e:
                    if not e.args[0].txn_requires_abort():
                        raise
                    # Abort, rewind to the last committed offsets and process them again.
                    producer.abort_transaction(30)
                    for tp in consumer.committed(consumer.assignment()):
                        if tp.offset >= 0:
                            consumer.seek(tp)
                    continue
                committed += len(batch)
                print(f"committed {committed}", flush=True)
                producer.poll(0)
            elif until_caught_up and caught_up(consumer):
                return
    finally:
        consumer.close()


def caught_up(consumer):
    assigned = consumer.assignment()
    if not assigned:
        return False
    for tp in consumer.position(assigned):
        _, high = consumer.get_watermark_offsets(tp)
        if tp.offset < high:
            return False
    return True


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*args, until_caught_up="--until-caught-up" in sys.argv)
