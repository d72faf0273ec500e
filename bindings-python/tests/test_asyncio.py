"""ferrokafka.aio: an awaitable produce, an async consumer iterator, awaitable admin."""
import asyncio
import uuid

from ferrokafka.admin import NewTopic
from ferrokafka.aio import AIOAdminClient, AIOConsumer, AIOProducer


def test_asyncio_api(bootstrap):
    async def main():
        admin = AIOAdminClient({"bootstrap.servers": bootstrap})
        topic = f"aio-{uuid.uuid4().hex[:8]}"
        assert await admin.create_topics([NewTopic(topic, 1, 1)]) == {topic: None}
        producer = AIOProducer({"bootstrap.servers": bootstrap})
        delivered = await asyncio.gather(*(producer.produce(topic, value=str(i)) for i in range(20)))
        assert sorted(m.offset() for m in delivered) == list(range(20))
        await producer.close()
        consumer = AIOConsumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        got = []
        async for msg in consumer:
            got.append(int(msg.value()))
            if len(got) == 20:
                break
        await consumer.commit()
        await consumer.close()
        md = await admin.list_topics(topic)
        return got, len(md.topics[topic].partitions)

    assert asyncio.run(asyncio.wait_for(main(), 60)) == (list(range(20)), 1)
