"""asyncio over the same core: ``await producer.produce(...)`` resolves to the delivered
Message; ``async for msg in consumer`` reads; admin calls are awaitable. Blocking work runs in
the default executor (the native calls release the GIL), so the event loop never blocks.
Rebalance callbacks of an AIOConsumer run on the executor thread that polls."""
import asyncio
import threading

from . import Consumer as _Consumer
from . import KafkaException, Producer as _Producer
from .admin import AdminClient as _AdminClient

__all__ = ["AIOProducer", "AIOConsumer", "AIOAdminClient"]


class AIOProducer:
    """``await produce(...)`` returns the delivered Message or raises KafkaException. A
    background thread serves delivery reports and resolves the futures on their loop."""

    def __init__(self, conf, loop=None):
        self._producer = _Producer(conf)
        self._loop = loop
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="ferrokafka-aio", daemon=True)
        self._poller.start()

    def _poll_loop(self):
        while not self._stop.is_set():
            self._producer.poll(0.1)

    async def produce(self, topic, value=None, key=None, partition=-1, timestamp=0, headers=None):
        """Queues a record (waiting while the queue is full) and returns the delivered
        Message, or raises KafkaException."""
        loop = self._loop or asyncio.get_running_loop()
        fut = loop.create_future()

        def done(err, msg):
            if err is not None:
                loop.call_soon_threadsafe(lambda: fut.done() or fut.set_exception(KafkaException(err)))
            else:
                loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(msg))

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, partition=partition, timestamp=timestamp,
                                       headers=headers, on_delivery=done)
                break
            except BufferError:
                await asyncio.sleep(0.01)
        return await fut

    async def flush(self, timeout=None):
        """Waits until everything queued is delivered; returns the number still queued."""
        return await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, timeout)

    async def init_transactions(self, timeout=None):
        """As Producer.init_transactions, in the executor."""
        await asyncio.get_running_loop().run_in_executor(None, self._producer.init_transactions, timeout)

    async def begin_transaction(self):
        """As Producer.begin_transaction (it does not wait)."""
        self._producer.begin_transaction()

    async def send_offsets_to_transaction(self, positions, group_metadata, timeout=None):
        """As Producer.send_offsets_to_transaction, in the executor."""
        await asyncio.get_running_loop().run_in_executor(
            None, self._producer.send_offsets_to_transaction, positions, group_metadata, timeout)

    async def commit_transaction(self, timeout=None):
        """As Producer.commit_transaction, in the executor."""
        await asyncio.get_running_loop().run_in_executor(None, self._producer.commit_transaction, timeout)

    async def abort_transaction(self, timeout=None):
        """As Producer.abort_transaction, in the executor."""
        await asyncio.get_running_loop().run_in_executor(None, self._producer.abort_transaction, timeout)

    async def close(self):
        """Flushes and stops the delivery thread."""
        await self.flush()
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, self._poller.join)


class AIOConsumer:
    """``async for msg in consumer`` after ``subscribe``/``assign``; also ``await poll()``."""

    def __init__(self, conf):
        self._consumer = _Consumer(conf)

    def subscribe(self, topics, **callbacks):
        """As Consumer.subscribe (callbacks run on the executor thread that polls)."""
        self._consumer.subscribe(topics, **callbacks)

    def assign(self, partitions):
        """As Consumer.assign."""
        self._consumer.assign(partitions)

    async def poll(self, timeout=1.0):
        """The next message, or None after `timeout` seconds."""
        return await asyncio.get_running_loop().run_in_executor(None, self._consumer.poll, timeout)

    def consumer_group_metadata(self):
        """As Consumer.consumer_group_metadata."""
        return self._consumer.consumer_group_metadata()

    def position(self, partitions):
        """As Consumer.position."""
        return self._consumer.position(partitions)

    def assignment(self):
        """As Consumer.assignment."""
        return self._consumer.assignment()

    async def commit(self, message=None, offsets=None):
        """Commits synchronously (in the executor) and returns the committed partitions."""
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._consumer.commit(message=message, offsets=offsets, asynchronous=False))

    def __aiter__(self):
        return self

    async def __anext__(self):
        while True:
            msg = await self.poll(0.5)
            if msg is not None:
                return msg

    async def close(self):
        """As Consumer.close, in the executor."""
        await asyncio.get_running_loop().run_in_executor(None, self._consumer.close)


class AIOAdminClient:
    """Every AdminClient method, awaitable: returns what the sync method's futures hold
    (a dict by name for the per-item calls)."""

    def __init__(self, conf):
        self._admin = _AdminClient(conf)

    def __getattr__(self, name):
        method = getattr(self._admin, name)

        async def call(*args, **kwargs):
            result = await asyncio.get_running_loop().run_in_executor(None, lambda: method(*args, **kwargs))
            if isinstance(result, dict):
                return {k: f.result() for k, f in result.items()}
            if hasattr(result, "result"):
                return result.result()
            return result

        call.__doc__ = method.__doc__
        return call
