"""ferrokafka: a Kafka client on a Rust core, with confluent-kafka's API.

Migrating from confluent-kafka is changing the import::

    from ferrokafka import Producer, Consumer
    p = Producer({"bootstrap.servers": "127.0.0.1:9092"})
    p.produce("events", key=b"k", value=b"v", on_delivery=lambda err, msg: print(err, msg.offset()))
    p.flush()

Configuration keys are Kafka's property names; an unknown key is an error naming it, and so
is a confluent-kafka callback setting ferrokafka cannot honour (``error_cb``, ``stats_cb``,
...). Delivery and rebalance callbacks run on the thread that calls poll/flush/consume/close.
"""
import os
import time
import weakref

from . import _native

# Client objects check they are used in the process that made them (a forked child has none
# of their background threads); the native side counts forks through this hook.
os.register_at_fork(after_in_child=_native.forked)

__version__ = _native.__version__

__all__ = [
    "Broker", "Producer", "Consumer", "ConsumerGroupMetadata", "Message", "TopicPartition", "KafkaError", "KafkaException",
    "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_STORED", "OFFSET_INVALID",
    "TIMESTAMP_NOT_AVAILABLE", "TIMESTAMP_CREATE_TIME", "TIMESTAMP_LOG_APPEND_TIME",
]

#: Start at the earliest offset (``TopicPartition.offset`` in assign/seek).
OFFSET_BEGINNING = -2
#: Start at the end: only records produced from now on.
OFFSET_END = -1
#: Start at the committed offset (else ``auto.offset.reset``).
OFFSET_STORED = -1000
#: No offset: the default of ``TopicPartition``; in assign, the same as OFFSET_STORED.
OFFSET_INVALID = -1001
#: ``Message.timestamp()`` type: no timestamp.
TIMESTAMP_NOT_AVAILABLE = 0
#: ``Message.timestamp()`` type: set by the producer.
TIMESTAMP_CREATE_TIME = 1
#: ``Message.timestamp()`` type: set by the broker.
TIMESTAMP_LOG_APPEND_TIME = 2

_NAMES = {code: name for code, name, _ in _native.ERROR_CODES}
_DESCRIPTIONS = {code: desc for code, _, desc in _native.ERROR_CODES}


class KafkaError:
    """An error with librdkafka's code and name, as confluent-kafka's ``KafkaError``: negative
    codes are local errors (``_TRANSPORT``, ``_INVALID_ARG``, ...), the others Kafka's own
    (``UNKNOWN_TOPIC_OR_PART`` is 3). Every librdkafka code is a class constant, e.g.
    ``KafkaError.TOPIC_ALREADY_EXISTS``; Kafka's own spelling where it differs is one too
    (``KafkaError.UNKNOWN_TOPIC_OR_PARTITION == 3``)."""

    def __init__(self, error, reason=None, fatal=False, retriable=False, txn_requires_abort=False):
        self._code = int(error)
        self._name = _NAMES.get(self._code, f"ERR_{self._code}")
        self._message = reason if reason is not None else _DESCRIPTIONS.get(self._code, self._name)
        self._fatal, self._retriable, self._txn_requires_abort = bool(fatal), bool(retriable), bool(txn_requires_abort)

    @classmethod
    def _native(cls, code, name, message, retriable, fatal, txn_requires_abort):
        """A core error as described by the binding (code, name, message, flags)."""
        err = cls.__new__(cls)
        err._code, err._name, err._message = code, name, message
        err._fatal, err._retriable, err._txn_requires_abort = fatal, retriable, txn_requires_abort
        return err

    def code(self):
        """The numeric error code."""
        return self._code

    def name(self):
        """The error's name, e.g. ``UNKNOWN_TOPIC_OR_PART`` or ``_TRANSPORT``."""
        return self._name

    def str(self):
        """A human-readable description."""
        return self._message

    def retriable(self):
        """Whether retrying the operation may succeed."""
        return self._retriable

    def fatal(self):
        """Whether the client can no longer be used."""
        return self._fatal

    def txn_requires_abort(self):
        """Whether the current transaction failed and must be aborted (the producer goes on
        with the next one)."""
        return self._txn_requires_abort

    def __eq__(self, other):
        if isinstance(other, KafkaError):
            return self._code == other._code
        return self._code == other

    def __hash__(self):
        return hash(self._code)

    def __str__(self):
        return f"KafkaError{{code={self._name},val={self._code},str=\"{self._message}\"}}"

    __repr__ = __str__


class KafkaException(Exception):
    """Raised by failing calls, as confluent-kafka's: ``args[0]`` is the KafkaError."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


# Native code raises KafkaException(KafkaError) itself from here on.
_native.bind_errors(KafkaError._native, KafkaException)

for _code, _name, _ in _native.ERROR_CODES:
    setattr(KafkaError, _name, _code)
for _code, _name in _native.KAFKA_ERROR_ALIASES:
    if not hasattr(KafkaError, _name):
        setattr(KafkaError, _name, _code)
del _code, _name


def _call(fn, *args):
    """Calls into the native module; core errors become KafkaException(KafkaError)."""
    try:
        return fn(*args)
    except _native.NativeError as e:
        raise KafkaException(KafkaError._native(*e.args)) from None


# confluent-kafka settings that take Python callables. The ones ferrokafka cannot honour are
# errors (our policy: a setting is applied or refused, never ignored), with the reason.
_UNSUPPORTED_CALLBACKS = {
    "error_cb": "the core reports errors on the call that failed; it has no global error events to report",
    "stats_cb": "there is no librdkafka statistics JSON; Producer.stats() returns the producer's totals",
    "throttle_cb": "the core does not report broker throttling",
    "logger": "the core logs through Rust's tracing, not Python logging",
    "on_commit": "the core does not report the results of its commits (auto commits included); "
                 "commit(asynchronous=False) returns or raises the result",
}


def _config(conf, kwargs, accepted=()):
    """confluent-kafka's ``(conf, **kwargs)`` as one dict; refuses callback settings the
    binding cannot honour (those in `accepted` are handled by the caller)."""
    merged = dict(conf or {})
    merged.update(kwargs)
    for key in merged:
        if key in _UNSUPPORTED_CALLBACKS and key not in accepted:
            raise KafkaException(KafkaError(
                KafkaError._INVALID_ARG,
                f'Configuration property "{key}" is not supported by ferrokafka: {_UNSUPPORTED_CALLBACKS[key]}'))
    return merged


def _pairs(conf):
    """Kafka property names and values as strings, as the core takes them (it checks both)."""
    out = []
    for k, v in conf.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append((str(k), str(v)))
    return out


# Long waits are cut into slices, so Ctrl-C (handled between slices) stops them promptly.
_SLICE = 0.2


def _slices(timeout):
    """Wait lengths adding up to `timeout` seconds (None or negative: forever); at least one."""
    if timeout is None or timeout < 0:
        while True:
            yield _SLICE
    deadline = time.monotonic() + float(timeout)
    while True:
        left = deadline - time.monotonic()
        yield max(0.0, min(_SLICE, left))
        if left <= _SLICE:
            return


def _bytes(v):
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"expected bytes or str, not {type(v).__name__}")


def _headers(headers):
    if headers is None:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), _bytes(v)) for k, v in items]


def _tps(partitions):
    return [(tp.topic, tp.partition) for tp in partitions]


class TopicPartition:
    """A topic partition, optionally with an offset (and metadata, for commits)."""

    def __init__(self, topic, partition=-1, offset=OFFSET_INVALID, metadata=None, leader_epoch=None):
        self.topic, self.partition, self.offset = topic, partition, offset
        self.metadata, self.leader_epoch, self.error = metadata, leader_epoch, None

    def __repr__(self):
        return (f"TopicPartition{{topic={self.topic},partition={self.partition},offset={self.offset},"
                f"leader_epoch={self.leader_epoch},error={self.error}}}")

    def __eq__(self, other):
        return isinstance(other, TopicPartition) and (self.topic, self.partition) == (other.topic, other.partition)

    def __hash__(self):
        return hash((self.topic, self.partition))

    def __lt__(self, other):
        return (self.topic, self.partition) < (other.topic, other.partition)


#: A consumed record, or the subject of a delivery report (``error()`` tells whether it was
#: delivered); native, built per record by the binding.
Message = _native.Message


def _list_topics(client, topic, timeout):
    """``list_topics`` of Producer and Consumer: an admin client on the same settings."""
    from .admin import _cluster_metadata
    if client._admin is None:
        client._admin = _call(_native.NativeAdmin, client._pairs, client._oauth_cb)
    return _cluster_metadata(_call(client._admin.list_topics), topic)


class Producer(_native.NativeProducer):
    """An asynchronous producer (confluent-kafka's ``Producer``): ``produce`` queues a record
    and returns; ``poll``/``flush`` run the delivery callbacks on the calling thread.

    ``produce(topic, value=None, key=None, partition=-1, on_delivery=None, timestamp=0,
    headers=None)`` is native: it queues a record (str or bytes key and value; headers as a
    dict or a list of pairs; partition -1 lets the partitioner choose; timestamp 0 stamps the
    send time), raises BufferError when the queue is full (call poll() to make room) and
    KafkaException for a partition the topic does not have."""

    def __new__(cls, conf=None, **kwargs):
        conf = _config(conf, kwargs)
        on_delivery = conf.pop("on_delivery", None)
        oauth_cb = conf.pop("oauth_cb", None)
        pairs = _pairs(conf)
        self = _call(super().__new__, cls, pairs, on_delivery, oauth_cb)
        self._pairs, self._admin, self._oauth_cb = pairs, None, oauth_cb
        return self

    def __init__(self, conf=None, **kwargs):
        pass  # __new__ built it: the native part must exist before any method runs

    def poll(self, timeout=None):
        """Serves delivery callbacks on this thread, waiting up to `timeout` seconds (None
        or negative: until one arrives) for the first. Returns how many were served."""
        for wait in _slices(timeout):
            served = self._serve(wait)
            if served:
                return served
        return 0

    def flush(self, timeout=None):
        """Sends everything queued and waits (up to `timeout` seconds; None: no limit) until
        it is delivered, serving the callbacks on this thread. Returns the number of records
        still queued or in flight."""
        remaining = 0
        for wait in _slices(timeout):
            remaining = _call(super().flush, wait)
            self._serve(0.0)
            if remaining == 0:
                break
        return remaining

    def purge(self, in_queue=True, in_flight=True, blocking=True):
        """Drops the records not yet sent (``in_queue``): their delivery reports, served by
        the next poll/flush, carry ``_PURGE_QUEUE``. Records already in flight are not
        recalled (unlike librdkafka's ``in_flight``): their reports come as usual. ``blocking``
        is accepted; the purge itself never waits."""
        if in_queue:
            _call(self._purge_queued)

    def list_topics(self, topic=None, timeout=-1):
        """Cluster metadata (``ferrokafka.admin.ClusterMetadata``): all topics, or one."""
        return _list_topics(self, topic, timeout)

    # Transactions (``transactional.id`` set). Timeouts in seconds; None or negative: no
    # limit. A failure raises KafkaException whose KafkaError says what to do:
    # ``retriable()`` (call again), ``txn_requires_abort()`` (abort_transaction, then go on),
    # ``fatal()`` (fenced by a newer instance, or not authorized: close the producer).

    def init_transactions(self, timeout=None):
        """Gets the producer id for ``transactional.id``, fencing older instances (their open
        transaction is aborted). Once, before the first transaction."""
        _call(super().init_transactions, _timeout(timeout))

    def begin_transaction(self):
        """Starts a transaction: what is produced until the commit or abort is part of it."""
        _call(super().begin_transaction)

    def send_offsets_to_transaction(self, positions, group_metadata, timeout=None):
        """Commits a consumer's positions (TopicPartitions with the next offset to read, e.g.
        ``consumer.position(consumer.assignment())``) with the transaction; `group_metadata`
        is ``consumer.consumer_group_metadata()``. Negative (logical) offsets are skipped."""
        offsets = [(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in positions if tp.offset >= 0]
        if not isinstance(group_metadata, ConsumerGroupMetadata):
            raise TypeError("group_metadata must come from Consumer.consumer_group_metadata()")
        _call(super().send_offsets_to_transaction, offsets, group_metadata._fields, _timeout(timeout))

    def commit_transaction(self, timeout=None):
        """Flushes the transaction's records and commits it (delivery callbacks are served by
        the next poll or flush)."""
        _call(super().commit_transaction, _timeout(timeout))

    def abort_transaction(self, timeout=None):
        """Aborts the transaction: records not sent yet are dropped (their delivery reports
        carry ``_PURGE_QUEUE``); read_committed consumers never see any of it."""
        _call(super().abort_transaction, _timeout(timeout))

    def stats(self):
        """Totals since the producer started (records, bytes, batches, retries, latency...);
        ferrokafka's own, in place of librdkafka's ``stats_cb``."""
        return super().stats()


def _timeout(timeout):
    return -1.0 if timeout is None else float(timeout)


class ConsumerGroupMetadata:
    """A consumer's group membership (group, generation, member), as
    ``Consumer.consumer_group_metadata()`` returns it for ``send_offsets_to_transaction``:
    offsets of a member whose generation is over are refused (KIP-447)."""

    def __init__(self, group_id, generation_id=-1, member_id="", group_instance_id=None):
        self._fields = (str(group_id), int(generation_id), str(member_id), group_instance_id)

    def __repr__(self):
        g, gen, member, instance = self._fields
        return f"ConsumerGroupMetadata(group_id={g!r}, generation_id={gen}, member_id={member!r}, group_instance_id={instance!r})"


class Consumer:
    """A consumer (confluent-kafka's ``Consumer``): subscribe through the group named by
    ``group.id``, or assign partitions. Rebalance callbacks run on the thread calling
    poll/consume/close: ``on_revoke`` while the partitions are still held (its commits are
    sent before they are released), ``on_assign`` and ``on_lost`` once the change is made."""

    # What on_revoke may call: the core is waiting on it, in the middle of a poll.
    _REVOKE_SAFE = {"commit", "position", "assignment", "unassign"}

    def __init__(self, conf=None, **kwargs):
        conf = _config(conf, kwargs)
        self._oauth_cb = conf.pop("oauth_cb", None)
        self._pairs = _pairs(conf)
        self._native = _call(_native.NativeConsumer, self._pairs, self._oauth_cb)
        self._native.set_revoke_target(weakref.ref(self))
        self._admin = None
        self._on_assign = self._on_revoke = self._on_lost = None
        self._closed = False
        # While a rebalance callback runs: the partitions it repositioned, whose records
        # fetched before the callback are dropped.
        self._rebalancing = False
        self._repositioned = set()
        # While on_revoke runs: the core's view of the held partitions (_native.RevokeContext).
        self._revoke_context = None
        # Records a poll returned together with an exception from on_revoke: the exception
        # is raised first, the records come with the next call.
        self._pending = []

    def _live(self, method=None):
        if self._closed:
            raise RuntimeError("Consumer closed")
        if self._revoke_context is not None and method not in self._REVOKE_SAFE:
            raise RuntimeError(f"Consumer.{method or 'this method'}() cannot be called inside on_revoke "
                               "(only commit, position, assignment and unassign can)")

    def _revoking(self, partitions, context):
        """Called by the core, inside a poll, before it releases `partitions`."""
        if self._on_revoke is None:
            return
        self._revoke_context = context
        self._rebalancing = True
        try:
            self._on_revoke(self, [TopicPartition(t, p) for t, p in partitions])
        finally:
            self._revoke_context = None
            self._rebalancing = False

    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        """Joins the group with these topics (a name starting with ``^`` is a regex).
        Callbacks get ``(consumer, [TopicPartition])`` on the thread calling poll/consume;
        ``on_lost`` defaults to ``on_revoke``, as in confluent-kafka."""
        self._live("subscribe")
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        _call(self._native.subscribe, list(topics))

    def unsubscribe(self):
        """Leaves the group; on_revoke runs here, before the partitions are released."""
        self._live("unsubscribe")
        _call(self._native.unsubscribe)
        raised = self._native.take_revoke_error()
        if raised is not None:
            raise raised

    def assign(self, partitions):
        """Reads these TopicPartitions without group membership; each starts at its offset
        (OFFSET_BEGINNING, OFFSET_END, an offset, or OFFSET_STORED/OFFSET_INVALID for the
        committed one). Inside ``on_assign`` (confluent-kafka's idiom to pick start offsets)
        it repositions the partitions just assigned that carry an explicit offset."""
        self._live("assign")
        if self._rebalancing:
            for tp in partitions:
                if tp.offset in (OFFSET_BEGINNING, OFFSET_END) or tp.offset >= 0:
                    self.seek(tp)
            return
        _call(self._native.assign, [(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def unassign(self):
        """Stops reading every assigned partition. Inside a rebalance callback it does
        nothing: the core has already applied the revocation."""
        self._live("unassign")
        if self._rebalancing:
            return
        _call(self._native.assign, [])

    def assignment(self):
        """The partitions currently read."""
        self._live("assignment")
        if self._revoke_context is not None:
            return [TopicPartition(t, p) for t, p, _ in self._revoke_context.positions()]
        return [TopicPartition(t, p) for t, p in _call(self._native.assignment)]

    def _events(self, events):
        # "revoke" comes this way only when the core could not reach this object (close).
        callbacks = {"assign": self._on_assign, "revoke": self._on_revoke, "lost": self._on_lost or self._on_revoke}
        self._rebalancing = True
        try:
            for kind, tps in events:
                cb = callbacks[kind]
                if cb is not None:
                    cb(self, [TopicPartition(t, p) for t, p in tps])
        finally:
            self._rebalancing = False

    def consume(self, num_messages=1, timeout=-1):
        """Up to `num_messages` messages, waiting up to `timeout` seconds (negative: no
        limit) for the first; rebalance callbacks run here."""
        self._live("consume")
        if self._pending:
            records, self._pending = self._pending[:num_messages], self._pending[num_messages:]
            return records
        for wait in _slices(timeout):
            records, events = _call(self._native.consume, int(num_messages), wait)
            raised = self._native.take_revoke_error()
            if raised is not None:
                self._pending = records
                if events:
                    self._events(events)
                raise raised
            if events:
                self._repositioned = set()
                self._events(events)
                if self._repositioned:
                    records = [m for m in records if (m.topic(), m.partition()) not in self._repositioned]
            if records:
                return records
        return []

    def poll(self, timeout=None):
        """The next message, or None after `timeout` seconds (None: no limit)."""
        msgs = self.consume(1, -1 if timeout is None else timeout)
        return msgs[0] if msgs else None

    def commit(self, message=None, offsets=None, asynchronous=True):
        """Commits the consumed positions, a message's offset + 1, or explicit offsets (with
        metadata). Synchronous: returns the committed TopicPartitions or raises
        KafkaException; asynchronous: returns None at once (a failure is logged). Inside
        on_revoke the commit is sent when the callback returns, before the partitions are
        released, and a failure is raised by the next poll."""
        self._live("commit")
        if message is not None and offsets is not None:
            raise ValueError("commit takes a message or offsets, not both")
        if message is not None:
            triples = [(message.topic(), message.partition(), message.offset() + 1, None)]
        elif offsets is not None:
            triples = [(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in offsets]
        else:
            triples = None
        if self._revoke_context is not None:
            if triples is None:
                triples = self._revoke_context.commit_positions()
            else:
                self._revoke_context.commit_offsets(triples)
            return None if asynchronous else [TopicPartition(t, p, o, m) for t, p, o, m in triples]
        done = _call(self._native.commit, triples, bool(asynchronous))
        if done is None:
            return None
        return [TopicPartition(t, p, o, m) for t, p, o, m in done]

    def committed(self, partitions, timeout=None):
        """The group's committed offsets (OFFSET_INVALID where none), with metadata."""
        self._live("committed")
        got = _call(self._native.committed, _tps(partitions))
        return [TopicPartition(t, p, o, m or None) for t, p, o, m in got]

    def position(self, partitions):
        """The next offset to be read of each partition (OFFSET_INVALID if unknown)."""
        self._live("position")
        if self._revoke_context is not None:
            held = {(t, p): o for t, p, o in self._revoke_context.positions()}
            return [TopicPartition(tp.topic, tp.partition, held.get((tp.topic, tp.partition), OFFSET_INVALID)) for tp in partitions]
        return [TopicPartition(t, p, o) for t, p, o in _call(self._native.position, _tps(partitions))]

    def seek(self, partition):
        """Reads an assigned partition from ``partition.offset`` (OFFSET_BEGINNING,
        OFFSET_END or an offset) on."""
        self._live("seek")
        _call(self._native.seek, partition.topic, partition.partition, partition.offset)
        if self._rebalancing:
            self._repositioned.add((partition.topic, partition.partition))

    def consumer_group_metadata(self):
        """This member's group, generation and id, for a transactional producer's
        ``send_offsets_to_transaction``."""
        self._live("consumer_group_metadata")
        fields = _call(self._native.group_metadata)
        if fields is None:
            raise KafkaException(KafkaError(KafkaError._INVALID_ARG, "consumer_group_metadata() needs a group.id"))
        return ConsumerGroupMetadata(*fields)

    def pause(self, partitions):
        """Stops fetching these partitions until resume()."""
        self._live("pause")
        _call(self._native.pause, _tps(partitions))

    def resume(self, partitions):
        """Fetches paused partitions again."""
        self._live("resume")
        _call(self._native.resume, _tps(partitions))

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        """``(low, high)`` offsets of a partition, asked of the broker (also with
        ``cached=True``)."""
        self._live("get_watermark_offsets")
        return _call(self._native.watermarks, partition.topic, partition.partition)

    def offsets_for_times(self, partitions, timeout=None):
        """For TopicPartitions whose offset holds a timestamp (ms): the first offset whose
        timestamp is at or after it (OFFSET_END (-1) when there is none)."""
        self._live("offsets_for_times")
        got = _call(self._native.offsets_for_times, [(tp.topic, tp.partition, tp.offset) for tp in partitions])
        return [TopicPartition(t, p, o) for t, p, o in got]

    def list_topics(self, topic=None, timeout=-1):
        """Cluster metadata (``ferrokafka.admin.ClusterMetadata``): all topics, or one."""
        self._live("list_topics")
        return _list_topics(self, topic, timeout)

    def close(self):
        """Commits (with auto commit on), revokes (running on_revoke) and leaves the group.
        Later calls raise RuntimeError, as in confluent-kafka; closing again does nothing."""
        if self._closed:
            return
        if self._revoke_context is not None:
            raise RuntimeError("Consumer.close() cannot be called inside on_revoke")
        events = _call(self._native.close)
        self._closed = True
        self._events(events)
        raised = self._native.take_revoke_error()
        if raised is not None:
            raise raised


class Broker:
    """The bundled broker in-process, as a context manager::

        with ferrokafka.Broker() as broker:
            p = ferrokafka.Producer({"bootstrap.servers": broker.bootstrap_servers})

    `data_dir` None uses a temporary directory, removed at stop; `port` 0 picks a free one;
    `settings` are broker settings by their Kafka names (``num.partitions``, ...).
    """

    def __init__(self, data_dir=None, port=0, host="127.0.0.1", settings=None):
        import tempfile
        self._tmp = tempfile.TemporaryDirectory(prefix="ferrokafka-") if data_dir is None else None
        #: Where the logs are kept.
        self.data_dir = self._tmp.name if self._tmp else str(data_dir)
        pairs = [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (settings or {}).items()]
        try:
            self._native = _native.NativeBroker(f"{host}:{port}", self.data_dir, pairs)
        except BaseException:
            if self._tmp is not None:
                self._tmp.cleanup()
            raise
        #: ``host:port`` for ``bootstrap.servers``.
        self.bootstrap_servers = self._native.bootstrap
        #: The Schema Registry's URL (``http://host:port``) for ``SchemaRegistryClient``; on
        #: by default, ``None`` with ``settings={"schema.registry.listeners": ""}``.
        self.schema_registry_url = self._native.schema_registry_url

    def stop(self):
        """Flushes and closes every log (and removes a temporary data dir); idempotent."""
        self._native.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
