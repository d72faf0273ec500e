"""ferrokafka: a Kafka client on a Rust core, with confluent-kafka's API.

Migrating from confluent-kafka is changing the import::

    from ferrokafka import Producer, Consumer
    p = Producer({"bootstrap.servers": "127.0.0.1:9092"})
    p.produce("events", key=b"k", value=b"v", on_delivery=lambda err, msg: print(err, msg.offset()))
    p.flush()

Configuration keys are Kafka's property names; an unknown key is an error naming it.
Delivery and rebalance callbacks run on the thread that calls poll/flush/consume/close.
"""
import itertools
import threading

from . import _native

__all__ = [
    "Broker", "Producer", "Consumer", "Message", "TopicPartition", "KafkaError", "KafkaException",
    "OFFSET_BEGINNING", "OFFSET_END", "OFFSET_STORED", "OFFSET_INVALID",
    "TIMESTAMP_NOT_AVAILABLE", "TIMESTAMP_CREATE_TIME", "TIMESTAMP_LOG_APPEND_TIME",
]

OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001
TIMESTAMP_NOT_AVAILABLE = 0
TIMESTAMP_CREATE_TIME = 1
TIMESTAMP_LOG_APPEND_TIME = 2


class KafkaError:
    """An error with librdkafka's code and name (negative codes are local errors, the others
    Kafka's own), as confluent-kafka's KafkaError."""

    # The codes callers compare against most often.
    _PARTITION_EOF = -191
    _TIMED_OUT = -185
    _TRANSPORT = -195
    _INVALID_ARG = -186
    _QUEUE_FULL = -184
    _MSG_TIMED_OUT = -192
    UNKNOWN_TOPIC_OR_PART = 3
    MSG_SIZE_TOO_LARGE = 10

    def __init__(self, code, name="", message="", retriable=False, fatal=False):
        self._code, self._name, self._message = code, name, message
        self._retriable, self._fatal = retriable, fatal

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
    """Raised by failing calls; ``args[0]`` is the KafkaError."""

    def __init__(self, error, *args):
        super().__init__(error, *args)

    def __str__(self):
        return str(self.args[0])


def _reraise(e):
    """A core error as confluent-kafka raises it."""
    code, name, message, retriable = e.args
    raise KafkaException(KafkaError(code, name, message, retriable)) from None


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except _native.NativeError as e:
        _reraise(e)


def _conf(conf, drop=()):
    """Kafka property names to strings, as the core takes them."""
    out = []
    for k, v in (conf or {}).items():
        if k in drop:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append((str(k), str(v)))
    return out


# Long waits are cut into slices, so Ctrl-C (handled between slices) stops them promptly.
_SLICE = 0.2


def _slices(timeout):
    """Wait lengths adding up to `timeout` seconds (None or negative: forever); at least one."""
    import time
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


class TopicPartition:
    """A topic partition, optionally with an offset (and metadata for commits)."""

    def __init__(self, topic, partition=-1, offset=OFFSET_INVALID, metadata=None, leader_epoch=None):
        self.topic, self.partition, self.offset = topic, partition, offset
        self.metadata, self.leader_epoch, self.error = metadata, leader_epoch, None

    def __repr__(self):
        return f"TopicPartition{{topic={self.topic},partition={self.partition},offset={self.offset},error={self.error}}}"

    def __eq__(self, other):
        return isinstance(other, TopicPartition) and (self.topic, self.partition) == (other.topic, other.partition)

    def __hash__(self):
        return hash((self.topic, self.partition))

    def __lt__(self, other):
        return (self.topic, self.partition) < (other.topic, other.partition)


class Message:
    """A consumed record, or the subject of a delivery report."""

    __slots__ = ("_topic", "_partition", "_offset", "_timestamp", "_key", "_value", "_headers", "_error")

    def __init__(self, topic, partition, offset, timestamp, key, value, headers, error=None):
        self._topic, self._partition, self._offset, self._timestamp = topic, partition, offset, timestamp
        self._key, self._value, self._headers, self._error = key, value, headers, error

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def timestamp(self):
        """``(TIMESTAMP_CREATE_TIME, ms)``, or ``(TIMESTAMP_NOT_AVAILABLE, -1)``."""
        if self._timestamp is None or self._timestamp < 0:
            return (TIMESTAMP_NOT_AVAILABLE, -1)
        return (TIMESTAMP_CREATE_TIME, self._timestamp)

    def key(self):
        return self._key

    def value(self):
        return self._value

    def headers(self):
        """A list of (name, value) tuples, or None without headers."""
        return list(self._headers) if self._headers else None

    def error(self):
        """The KafkaError of a failed delivery, else None."""
        return self._error

    def len(self):
        return len(self._value) if self._value is not None else 0

    def __len__(self):
        return self.len()

    def __repr__(self):
        return f"Message({self._topic}-{self._partition}@{self._offset})"


class Producer:
    """An asynchronous producer (confluent-kafka's ``Producer``)."""

    def __init__(self, conf, **kwargs):
        conf = dict(conf or {}, **kwargs)
        self._default_cb = conf.get("on_delivery") or conf.get("delivery.report.cb")
        self._error_cb = conf.get("error_cb")
        self._native = _call(_native.NativeProducer, _conf(conf, drop=("on_delivery", "delivery.report.cb", "error_cb")))
        self._pending = {}
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()

    def produce(self, topic, value=None, key=None, partition=-1, on_delivery=None, timestamp=0, headers=None, callback=None):
        """Queues a record. Raises BufferError when the queue is full; call poll() to make room."""
        cb = on_delivery or callback or self._default_cb
        token = next(self._tokens)
        key, value = _bytes(key), _bytes(value)
        hdrs = _headers(headers)
        with self._lock:
            self._pending[token] = (cb, key, value, hdrs)
        try:
            _call(self._native.produce, topic, value, key, partition, timestamp, hdrs, token)
        except BaseException:
            with self._lock:
                self._pending.pop(token, None)
            raise

    def _serve(self, reports):
        for token, err, topic, partition, offset, timestamp in reports:
            with self._lock:
                cb, key, value, hdrs = self._pending.pop(token, (None, None, None, None))
            if cb is None:
                continue
            error = KafkaError(*err) if err else None
            cb(error, Message(topic, partition, offset, timestamp, key, value, hdrs, error))
        return len(reports)

    def poll(self, timeout=None):
        """Serves delivery callbacks, waiting up to `timeout` seconds (None or negative:
        until one arrives) for the first. Returns how many were served."""
        for wait in _slices(timeout):
            served = self._serve(self._native.poll(wait))
            if served:
                return served
        return 0

    def flush(self, timeout=None):
        """Waits until every queued record is delivered (serving callbacks); returns the
        number still queued."""
        remaining = 0
        for wait in _slices(timeout):
            remaining = self._native.flush(wait)
            self._serve(self._native.poll(0.0))
            if remaining == 0:
                break
        return remaining

    def purge(self, in_queue=True, in_flight=True, blocking=True):
        raise NotImplementedError("purge is not supported yet by the ferrokafka core")

    def stats(self):
        """Totals since the producer started (records, bytes, batches, retries, latency...)."""
        return self._native.stats()

    def __len__(self):
        return self._native.pending()


class Consumer:
    """A consumer (confluent-kafka's ``Consumer``): subscribe through a group or assign."""

    def __init__(self, conf, **kwargs):
        conf = dict(conf or {}, **kwargs)
        self._native = _call(_native.NativeConsumer, _conf(conf, drop=("error_cb", "on_commit", "stats_cb")))
        self._on_assign = self._on_revoke = self._on_lost = None

    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        """Joins the group with these topics (a name starting with ``^`` is a regex).
        Callbacks get ``(consumer, [TopicPartition])`` on the thread calling poll/consume."""
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        _call(self._native.subscribe, list(topics))

    def unsubscribe(self):
        _call(self._native.unsubscribe)

    def assign(self, partitions):
        """Reads these TopicPartitions without a group; offsets as confluent-kafka's."""
        _call(self._native.assign, [(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def unassign(self):
        _call(self._native.assign, [])

    def assignment(self):
        return [TopicPartition(t, p) for t, p in _call(self._native.assignment)]

    def _events(self, events):
        for kind, tps in events:
            cb = {"assign": self._on_assign, "revoke": self._on_revoke, "lost": self._on_lost or self._on_revoke}[kind]
            if cb is not None:
                cb(self, [TopicPartition(t, p) for t, p in tps])

    def consume(self, num_messages=1, timeout=-1):
        """Up to `num_messages` messages, waiting up to `timeout` seconds for the first."""
        for wait in _slices(timeout):
            records, events = _call(self._native.consume, int(num_messages), wait)
            self._events(events)
            if records:
                return [Message(t, p, o, ts, k, v, h) for t, p, o, ts, k, v, h in records]
        return []

    def poll(self, timeout=None):
        """The next message, or None after `timeout` seconds."""
        msgs = self.consume(1, -1 if timeout is None else timeout)
        return msgs[0] if msgs else None

    def commit(self, message=None, offsets=None, asynchronous=True):
        """Commits the consumed positions, a message's offset + 1, or explicit offsets."""
        if message is not None:
            triples = [(message.topic(), message.partition(), message.offset() + 1, None)]
        elif offsets is not None:
            triples = [(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in offsets]
        else:
            triples = None
        _call(self._native.commit, triples, bool(asynchronous))
        if not asynchronous and triples is not None:
            return [TopicPartition(t, p, o, m) for t, p, o, m in triples]
        return None

    def committed(self, partitions, timeout=None):
        got = _call(self._native.committed, [(tp.topic, tp.partition) for tp in partitions])
        return [TopicPartition(t, p, o, m or None) for t, p, o, m in got]

    def position(self, partitions):
        return [TopicPartition(t, p, o) for t, p, o in _call(self._native.position, [(tp.topic, tp.partition) for tp in partitions])]

    def seek(self, partition):
        _call(self._native.seek, partition.topic, partition.partition, partition.offset)

    def pause(self, partitions):
        _call(self._native.pause, [(tp.topic, tp.partition) for tp in partitions])

    def resume(self, partitions):
        _call(self._native.resume, [(tp.topic, tp.partition) for tp in partitions])

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        """``(low, high)`` offsets of a partition."""
        return _call(self._native.watermarks, partition.topic, partition.partition)

    def offsets_for_times(self, partitions, timeout=None):
        """For TopicPartitions whose offset holds a timestamp (ms): the first offset at or after it."""
        got = _call(self._native.offsets_for_times, [(tp.topic, tp.partition, tp.offset) for tp in partitions])
        return [TopicPartition(t, p, o) for t, p, o in got]

    def close(self):
        """Commits (with auto commit on), revokes and leaves the group."""
        self._events(_call(self._native.close))


class Broker:
    """The bundled broker in-process, as a context manager::

        with ferrokafka.Broker() as broker:
            p = ferrokafka.Producer({"bootstrap.servers": broker.bootstrap_servers})

    `data_dir` None uses a temporary directory, removed at stop; `port` 0 picks a free one.
    """

    def __init__(self, data_dir=None, port=0, host="127.0.0.1", settings=None):
        import tempfile
        self._tmp = tempfile.TemporaryDirectory(prefix="ferrokafka-") if data_dir is None else None
        self.data_dir = self._tmp.name if self._tmp else str(data_dir)
        pairs = [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (settings or {}).items()]
        self._native = _native.NativeBroker(f"{host}:{port}", self.data_dir, pairs)
        self.bootstrap_servers = self._native.bootstrap

    def stop(self):
        """Flushes and closes every log (and removes a temporary data dir)."""
        self._native.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
