// The same kafkajs-style code against ferrokafka and against kafkajs (both talking to the
// bundled broker, started in-process through the binding): migrating is changing the require.
// Where the two differ on purpose the test says so (see README.md, "Differences from kafkajs").
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert');
const { startBroker, until, sleep, unique } = require('./helpers');

let cluster;
before(async () => { cluster = await startBroker(); });
after(async () => { await cluster.stop(); });

for (const library of ['ferrokafka', 'kafkajs']) {
  describe(library, () => {
    const { Kafka, logLevel, CompressionTypes } = require(library === 'ferrokafka' ? '..' : 'kafkajs');
    let kafka;
    let admin;
    before(async () => {
      kafka = new Kafka({ clientId: `compat-${library}`, brokers: cluster.brokers, logLevel: logLevel.ERROR });
      admin = kafka.admin();
      await admin.connect();
    });
    after(async () => { await admin.disconnect(); });
    // Clients a test made, disconnected even when it fails (a running consumer keeps the
    // process alive and retries against a broker that is gone).
    const open = [];
    const track = (client) => { open.push(client); return client; };
    afterEach(async () => { await Promise.all(open.splice(0).map((c) => c.disconnect().catch(() => {}))); });

    // Fast group reactions, accepted by both clients.
    const groupOptions = (groupId) => ({ groupId, sessionTimeout: 10_000, heartbeatInterval: 300, rebalanceTimeout: 10_000 });

    test('produce and consume: keys, values, headers, timestamps, offsets', async () => {
      const topic = unique('roundtrip');
      assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true);
      const producer = track(kafka.producer());
      await producer.connect();
      const messages = Array.from({ length: 20 }, (_, i) => ({
        key: `k${i}`, value: i % 2 ? Buffer.from([0, 1, 2, i]) : `v${i}`, partition: i % 2,
        headers: { i: String(i), bin: Buffer.from([255, i]) }, timestamp: String(1_700_000_000_000 + i),
      }));
      const sent = await producer.send({ topic, messages, acks: -1, compression: CompressionTypes.GZIP });
      assert.deepStrictEqual(sent.map((r) => [r.topicName, r.partition, r.errorCode, r.baseOffset]).sort(),
        [[topic, 0, 0, '0'], [topic, 1, 0, '0']]);
      const again = await producer.sendBatch({ topicMessages: [{ topic, messages: [{ value: 'last', partition: 0 }] }] });
      assert.strictEqual(again[0].baseOffset, '10');

      const consumer = track(kafka.consumer(groupOptions(unique('rt'))));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const got = [];
      await consumer.run({ eachMessage: async ({ topic: t, partition, message }) => { got.push({ t, partition, message }); } });
      await until('21 records', () => got.length >= 21);
      await consumer.disconnect();
      await producer.disconnect();

      assert.strictEqual(got.length, 21);
      for (const partition of [0, 1]) {
        const offsets = got.filter((g) => g.partition === partition).map((g) => Number(g.message.offset));
        assert.deepStrictEqual(offsets, [...offsets].sort((a, b) => a - b), 'in order within a partition');
      }
      const third = got.find((g) => g.message.key?.toString() === 'k3');
      assert.strictEqual(third.t, topic);
      assert.strictEqual(third.partition, 1);
      assert.ok(Buffer.isBuffer(third.message.value));
      assert.deepStrictEqual([...third.message.value], [0, 1, 2, 3]);
      assert.strictEqual(third.message.timestamp, '1700000000003');
      assert.strictEqual(third.message.offset, '1');
      assert.strictEqual(third.message.headers.i.toString(), '3');
      assert.deepStrictEqual([...third.message.headers.bin], [255, 3]);
      const last = got.find((g) => g.message.value.toString() === 'last');
      assert.strictEqual(last.message.key, null);
      assert.strictEqual(last.message.offset, '10');
    });

    test('two consumers share a group: GROUP_JOIN on each, every record once', async () => {
      const topic = unique('group');
      const groupId = unique('g');
      await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] });
      const seen = [];
      const joins = { a: [], b: [] };
      const consumers = {};
      for (const name of ['a', 'b']) {
        const c = track(kafka.consumer(groupOptions(groupId)));
        c.on(c.events.GROUP_JOIN, (e) => joins[name].push(e.payload));
        await c.connect();
        await c.subscribe({ topic, fromBeginning: true });
        await c.run({ eachMessage: async ({ partition, message }) => { seen.push([name, partition, message.value.toString()]); } });
        consumers[name] = c;
      }
      const assigned = (name) => (joins[name].at(-1)?.memberAssignment?.[topic] ?? []);
      await until('both members to hold two partitions each', () => {
        const a = assigned('a'), b = assigned('b');
        return a.length === 2 && b.length === 2 && new Set([...a, ...b]).size === 4;
      });
      for (const payload of [...joins.a, ...joins.b]) {
        assert.strictEqual(payload.groupId, groupId);
        assert.strictEqual(typeof payload.memberId, 'string');
      }
      const producer = track(kafka.producer());
      await producer.connect();
      const values = Array.from({ length: 200 }, (_, i) => `m${i}`);
      await producer.send({ topic, messages: values.map((value, i) => ({ key: `key-${i}`, value })) });
      await until('200 records', () => seen.length >= 200);
      await sleep(300);
      assert.deepStrictEqual(seen.map((s) => s[2]).sort(), [...values].sort(), 'each record exactly once');
      for (const [name, partition] of seen) assert.ok(assigned(name).includes(partition), `${name} read only its partitions`);
      assert.ok(seen.some((s) => s[0] === 'a') && seen.some((s) => s[0] === 'b'), 'both members read');
      await Promise.all(Object.values(consumers).map((c) => c.disconnect()));
      await producer.disconnect();
    });

    test('commitOffsets, then admin fetchOffsets, setOffsets and resetOffsets', async () => {
      const topic = unique('commit');
      const groupId = unique('g');
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const producer = track(kafka.producer());
      await producer.connect();
      await producer.send({ topic, messages: Array.from({ length: 6 }, (_, i) => ({ value: `c${i}`, partition: 0 })) });
      const consumer = track(kafka.consumer(groupOptions(groupId)));
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      let count = 0;
      await consumer.run({ autoCommit: false, eachMessage: async () => { count++; } });
      await until('6 records', () => count >= 6);
      await consumer.commitOffsets([{ topic, partition: 0, offset: '4' }]);
      const fetched = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.deepStrictEqual(fetched.map((t) => [t.topic, t.partitions.map((p) => [p.partition, p.offset]).sort()]),
        [[topic, [[0, '4'], [1, '-1']]]]);
      await consumer.disconnect();

      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '0' }] });
      const set = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.deepStrictEqual(set[0].partitions.map((p) => [p.partition, p.offset]).sort(), [[0, '2'], [1, '0']]);
      await admin.resetOffsets({ groupId, topic, earliest: true });
      const reset = await admin.fetchOffsets({ groupId, topics: [topic], resolveOffsets: true });
      assert.deepStrictEqual(reset[0].partitions.map((p) => [p.partition, p.offset]).sort(), [[0, '0'], [1, '0']]);
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
      assert.ok(groups.includes(groupId));
      const described = await admin.describeGroups([groupId]);
      assert.strictEqual(described.groups[0].groupId, groupId);
      assert.strictEqual(described.groups[0].state, 'Empty');
      await admin.deleteGroups([groupId]);
      assert.ok(!(await admin.listGroups()).groups.map((g) => g.groupId).includes(groupId));
      await producer.disconnect();
    });

    test('pause and resume a partition', async () => {
      const topic = unique('pause');
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const consumer = track(kafka.consumer(groupOptions(unique('g'))));
      let joined = false;
      consumer.on(consumer.events.GROUP_JOIN, () => { joined = true; });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen = [];
      await consumer.run({ eachMessage: async ({ partition }) => { seen.push(partition); } });
      await until('the group join', () => joined);
      consumer.pause([{ topic, partitions: [0] }]);
      assert.deepStrictEqual(consumer.paused(), [{ topic, partitions: [0] }]);
      const producer = track(kafka.producer());
      await producer.connect();
      await producer.send({ topic, messages: [0, 1, 0, 1, 0, 1].map((partition, i) => ({ partition, value: `p${i}` })) });
      await until('partition 1', () => seen.filter((p) => p === 1).length === 3);
      await sleep(700);
      assert.deepStrictEqual(seen.filter((p) => p === 0), [], 'nothing from the paused partition');
      consumer.resume([{ topic, partitions: [0] }]);
      await until('partition 0 after resume', () => seen.filter((p) => p === 0).length === 3);
      await consumer.disconnect();
      await producer.disconnect();
    });

    test('admin: topics, partitions, metadata, offsets, records, cluster', async () => {
      const topic = unique('admin');
      assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }), true);
      assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false, 'already exists');
      assert.ok((await admin.listTopics()).includes(topic));
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.deepStrictEqual(meta.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionId).sort()]), [[topic, [0, 1, 2]]]);
      await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
      assert.strictEqual((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length, 4);
      const producer = track(kafka.producer());
      await producer.connect();
      await producer.send({ topic, messages: [1, 2, 3].map((i) => ({ value: `r${i}`, partition: 2, timestamp: String(1_700_000_000_000 + i * 1000) })) });
      await producer.disconnect();
      const offsets = await admin.fetchTopicOffsets(topic);
      assert.deepStrictEqual(offsets.map((o) => [o.partition, o.low, o.high, o.offset]).sort(),
        [[0, '0', '0', '0'], [1, '0', '0', '0'], [2, '0', '3', '3'], [3, '0', '0', '0']]);
      const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, 1_700_000_001_500);
      assert.strictEqual(byTime.find((o) => o.partition === 2).offset, '1', 'the first record at or after the time');
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 2, offset: '1' }] });
      assert.strictEqual((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 2).low, '1');
      const described = await admin.describeCluster();
      assert.strictEqual(described.brokers.length, 1);
      assert.strictEqual(`${described.brokers[0].host}:${described.brokers[0].port}`, cluster.brokers[0]);
      await admin.deleteTopics({ topics: [topic] });
      assert.ok(!(await admin.listTopics()).includes(topic));
    });

    test('broker errors carry the Kafka type, code and retriable', async () => {
      const topic = unique('errors');
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const err = await admin.createPartitions({ topicPartitions: [{ topic, count: 1 }] }).then(() => null, (e) => e);
      assert.ok(err instanceof Error);
      // kafkajs wraps it (KafkaJSNonRetriableError) keeping the cause; ferrokafka throws it directly.
      const cause = err.cause ?? err;
      assert.strictEqual(cause.type, 'INVALID_PARTITIONS');
      assert.strictEqual(cause.code, 37);
      assert.strictEqual(cause.retriable, false);
    });
  });
}
