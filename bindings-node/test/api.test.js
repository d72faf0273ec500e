// Parts of the kafkajs API the compatibility suite does not reach: Broker.start with port 0,
// a custom partitioner function, regex subscriptions, eachBatch with resolveOffset, seek and
// partitionsConsumedConcurrently (skipped: not implemented yet). Against the bundled broker started in-process.
const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Kafka, Broker, logLevel } = require('..');
const { until, unique } = require('./helpers');

let broker;
let dataDir;
let kafka;
let admin;
const open = [];
const track = (client) => { open.push(client); return client; };

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-node-api-'));
  broker = await Broker.start({ dataDir, port: 0 });
  kafka = new Kafka({ clientId: 'api-test', brokers: broker.brokers, logLevel: logLevel.ERROR });
  admin = track(kafka.admin());
  await admin.connect();
});
afterEach(async () => {
  // Keep the admin; disconnect what the test made, even when it failed.
  await Promise.all(open.splice(1).map((c) => c.disconnect().catch(() => {})));
});
after(async () => {
  await admin.disconnect();
  await broker.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const groupOptions = (groupId) => ({ groupId, sessionTimeout: 10_000, heartbeatInterval: 300, rebalanceTimeout: 10_000 });

async function produce(topic, messages, options = {}) {
  const producer = track(kafka.producer(options));
  await producer.connect();
  const sent = await producer.send({ topic, messages });
  await producer.disconnect();
  return sent;
}

test('Broker.start({ dataDir, port: 0 }) listens on a free port and names it in .brokers', () => {
  assert.strictEqual(broker.brokers.length, 1);
  const [host, port] = broker.brokers[0].split(':');
  assert.strictEqual(host, '127.0.0.1');
  assert.ok(Number(port) > 0, `a port was picked: ${broker.brokers[0]}`);
  assert.strictEqual(broker.bootstrap, broker.brokers[0]);
});

test('a custom partitioner function decides the partition and sees the key and metadata', async () => {
  const topic = unique('partitioner');
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  const calls = [];
  const createPartitioner = () => ({ topic: t, partitionMetadata, message }) => {
    calls.push({ t, partitions: partitionMetadata.length, key: message.key?.toString() });
    return Number(message.key.toString()) % 3 === 0 ? 2 : 0;
  };
  const sent = await produce(topic, ['0', '1', '3', '4'].map((key) => ({ key, value: `v${key}` })), { createPartitioner });
  assert.strictEqual(calls.length, 4);
  assert.deepStrictEqual(calls.map((c) => c.key).sort(), ['0', '1', '3', '4']);
  for (const c of calls) {
    assert.strictEqual(c.t, topic);
    assert.strictEqual(c.partitions, 3);
  }
  const offsets = await admin.fetchTopicOffsets(topic);
  const high = Object.fromEntries(offsets.map((o) => [o.partition, o.high]));
  assert.deepStrictEqual(high, { 0: '2', 1: '0', 2: '2' });
  assert.ok(sent.every((r) => r.errorCode === 0));
});

test('subscribe with a RegExp reads the matching topics only', async () => {
  const prefix = unique('rx').replace(/-/g, '_');
  const [a, b, other] = [`${prefix}_a`, `${prefix}_b`, `other_${prefix}`];
  await admin.createTopics({ topics: [a, b, other].map((topic) => ({ topic, numPartitions: 1 })) });
  for (const topic of [a, b, other]) await produce(topic, [{ value: topic }]);
  const consumer = track(kafka.consumer(groupOptions(unique('rx'))));
  await consumer.connect();
  await consumer.subscribe({ topics: [new RegExp(`^${prefix}_`)], fromBeginning: true });
  const seen = [];
  await consumer.run({ eachMessage: async ({ topic, message }) => { seen.push([topic, message.value.toString()]); } });
  await until('both matching topics', () => seen.length >= 2);
  // The non-matching topic was produced to before the matching ones were read: had it been
  // subscribed, its record would be fetched alongside theirs.
  await produce(a, [{ value: 'marker' }]);
  await until('the marker', () => seen.some(([, v]) => v === 'marker'));
  assert.deepStrictEqual(seen.map(([t]) => t).sort(), [a, a, b]);
});

test('eachBatch: resolveOffset without auto resolve re-reads what was not resolved', async () => {
  const topic = unique('batch');
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await produce(topic, Array.from({ length: 10 }, (_, i) => ({ value: `b${i}` })));
  const consumer = track(kafka.consumer(groupOptions(unique('batch'))));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const handled = [];
  let failedOnce = false;
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning }) => {
      assert.strictEqual(batch.topic, topic);
      assert.strictEqual(batch.partition, 0);
      for (const message of batch.messages) {
        if (!isRunning()) return;
        if (message.offset === '5' && !failedOnce) {
          failedOnce = true;
          throw new Error('fail at offset 5, once');
        }
        handled.push(message.offset);
        resolveOffset(message.offset);
      }
    },
  });
  await until('ten records handled', () => handled.length >= 10);
  assert.deepStrictEqual(handled, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    'offsets 0-4 were resolved before the failure and not handed out again');
});

test('seek moves a running consumer back', async () => {
  const topic = unique('seek');
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await produce(topic, Array.from({ length: 5 }, (_, i) => ({ value: `s${i}` })));
  const consumer = track(kafka.consumer(groupOptions(unique('seek'))));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const offsets = [];
  await consumer.run({ eachMessage: async ({ message }) => { offsets.push(message.offset); } });
  await until('five records', () => offsets.length >= 5);
  consumer.seek({ topic, partition: 0, offset: '2' });
  await until('three more records', () => offsets.length >= 8);
  assert.deepStrictEqual(offsets, ['0', '1', '2', '3', '4', '2', '3', '4']);
});

// TODO(#8): the binding accepts partitionsConsumedConcurrently but hands records to the
// handler one at a time across all partitions (src/consumer.rs never reads the option), so
// this test would wait forever: skipped until the eachMessage driver runs partitions
// concurrently.
test('partitionsConsumedConcurrently: one slow partition does not hold up another', {
  skip: 'partitionsConsumedConcurrently is accepted but not implemented yet',
}, async () => {
  const topic = unique('concurrent');
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  await produce(topic, [{ value: 'slow', partition: 0 }, { value: 'fast', partition: 1 }]);
  const consumer = track(kafka.consumer(groupOptions(unique('concurrent'))));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  // Each partition's handler waits until the other's has started: handled one after the
  // other, the first would wait forever.
  const started = {};
  const startedPromises = [0, 1].map((p) => new Promise((r) => { started[p] = r; }));
  const seen = [];
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachMessage: async ({ partition, message }) => {
      started[partition]();
      await Promise.all(startedPromises);
      seen.push(message.value.toString());
    },
  });
  await until('both records', () => seen.length >= 2);
  assert.deepStrictEqual([...seen].sort(), ['fast', 'slow']);
});
