// Parts of the kafkajs API the compatibility suite does not reach: Broker.start with port 0,
// a custom partitioner function, regex subscriptions, eachBatch with resolveOffset, seek and
// partitionsConsumedConcurrently. Against the bundled broker started in-process.
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

test('partitionsConsumedConcurrently: one slow partition does not hold up another', async () => {
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

// Two partitions of 50 records each, handlers awaiting a random few milliseconds: each
// partition's records arrive in offset order, one handler at a time per partition, and the
// handlers of the two partitions run at the same time.
test('partitionsConsumedConcurrently: records of a partition stay in order, partitions overlap', async () => {
  const topic = unique('ordered');
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  const per = 50;
  await produce(topic, [0, 1].flatMap((partition) =>
    Array.from({ length: per }, (_, i) => ({ partition, value: `${partition}-${i}` }))));
  const consumer = track(kafka.consumer(groupOptions(unique('ordered'))));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const offsets = { 0: [], 1: [] };
  const busy = { 0: 0, 1: 0 };
  let inProgress = 0;
  let mostInProgress = 0;
  let mostPerPartition = 0;
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachMessage: async ({ partition, message }) => {
      inProgress++;
      busy[partition]++;
      mostInProgress = Math.max(mostInProgress, inProgress);
      mostPerPartition = Math.max(mostPerPartition, busy[partition]);
      try {
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)));
        offsets[partition].push(Number(message.offset));
        assert.strictEqual(message.value.toString(), `${partition}-${message.offset}`);
      } finally {
        busy[partition]--;
        inProgress--;
      }
    },
  });
  await until('every record', () => offsets[0].length + offsets[1].length >= 2 * per);
  const expected = Array.from({ length: per }, (_, i) => i);
  assert.deepStrictEqual(offsets[0], expected, 'partition 0 in offset order, each once');
  assert.deepStrictEqual(offsets[1], expected, 'partition 1 in offset order, each once');
  assert.strictEqual(mostPerPartition, 1, 'a partition\'s next record waits for its handler to settle');
  assert.strictEqual(mostInProgress, 2, 'the two partitions\' handlers overlapped');
});

test('partitionsConsumedConcurrently: a failed record is read again in its partition only', async () => {
  const topic = unique('failing');
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  const per = 20;
  await produce(topic, [0, 1].flatMap((partition) =>
    Array.from({ length: per }, (_, i) => ({ partition, value: `${partition}-${i}` }))));
  const groupId = unique('failing');
  const consumer = track(kafka.consumer({ ...groupOptions(groupId), retry: { initialRetryTime: 10 } }));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const crashes = [];
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error.message));
  const commits = [];
  consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
    for (const t of e.payload.topics) commits.push(...t.partitions.map((p) => [p.partition, p.offset]));
  });
  const offsets = { 0: [], 1: [] };
  let failedOnce = false;
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachMessage: async ({ partition, message }) => {
      if (partition === 0 && message.offset === '5' && !failedOnce) {
        failedOnce = true;
        throw new Error('partition 0 failed at offset 5');
      }
      offsets[partition].push(Number(message.offset));
    },
  });
  await until('every record', () => offsets[0].length + offsets[1].length >= 2 * per);
  const expected = Array.from({ length: per }, (_, i) => i);
  assert.deepStrictEqual(offsets[0], expected, 'offset 5 again after its failure, nothing after it first');
  assert.deepStrictEqual(offsets[1], expected, 'partition 1 was not read again');
  await until('the crash event', () => crashes.length >= 1);
  assert.deepStrictEqual(crashes, ['partition 0 failed at offset 5']);
  await consumer.stop();
  assert.ok(commits.some(([p, o]) => p === 0 && o === '5'),
    `after the failure partition 0 was committed up to the failed record: ${JSON.stringify(commits)}`);
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  assert.deepStrictEqual(committed[0].partitions.map((p) => [p.partition, p.offset]).sort(), [[0, '20'], [1, '20']]);
});

test('partitionsConsumedConcurrently: pause() stops its partition only; resume() goes on in order', async () => {
  const topic = unique('pausing');
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  const per = 30;
  await produce(topic, [0, 1].flatMap((partition) =>
    Array.from({ length: per }, (_, i) => ({ partition, value: `${partition}-${i}` }))));
  const consumer = track(kafka.consumer(groupOptions(unique('pausing'))));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const offsets = { 0: [], 1: [] };
  let resume = null;
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachMessage: async ({ partition, message, pause }) => {
      offsets[partition].push(Number(message.offset));
      if (partition === 0 && offsets[0].length === 10) resume = pause();
      await new Promise((r) => setImmediate(r));
    },
  });
  await until('partition 1 read and partition 0 paused', () => offsets[1].length >= per && resume !== null);
  const expected = Array.from({ length: per }, (_, i) => i);
  assert.deepStrictEqual(offsets[0], expected.slice(0, 10), 'nothing of partition 0 after pause()');
  assert.deepStrictEqual(consumer.paused(), [{ topic, partitions: [0] }]);
  resume();
  await until('partition 0 after resume', () => offsets[0].length >= per);
  assert.deepStrictEqual(offsets[0], expected);
  assert.deepStrictEqual(offsets[1], expected);
});

test('partitionsConsumedConcurrently with eachBatch: batches of two partitions are handled at once', async () => {
  const topic = unique('batches');
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  await produce(topic, [0, 1].flatMap((partition) =>
    Array.from({ length: 5 }, (_, i) => ({ partition, value: `${partition}-${i}` }))));
  const consumer = track(kafka.consumer(groupOptions(unique('batches'))));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  // Each partition's handler waits until the other's has started: handled one after the
  // other, the first would wait forever.
  const started = {};
  const bothStarted = Promise.all([0, 1].map((p) => new Promise((r) => { started[p] = r; })));
  const offsets = { 0: [], 1: [] };
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachBatch: async ({ batch }) => {
      started[batch.partition]();
      await bothStarted;
      offsets[batch.partition].push(...batch.messages.map((m) => Number(m.offset)));
    },
  });
  await until('both batches', () => offsets[0].length + offsets[1].length >= 10);
  assert.deepStrictEqual(offsets, { 0: [0, 1, 2, 3, 4], 1: [0, 1, 2, 3, 4] });
});

test('partitionsConsumedConcurrently: 0 is refused', async () => {
  const topic = unique('zero');
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  const consumer = track(kafka.consumer(groupOptions(unique('zero'))));
  await consumer.connect();
  await consumer.subscribe({ topic });
  await assert.rejects(async () => consumer.run({ partitionsConsumedConcurrently: 0, eachMessage: async () => {} }),
    /partitionsConsumedConcurrently/);
});

test("groupProtocol: 'consumer' (KIP-848): the broker assigns, and classic-only options are refused", async () => {
  const topic = unique('kip848');
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  await produce(topic, [{ value: 'p0', partition: 0 }, { value: 'p1', partition: 1 }]);
  assert.throws(() => kafka.consumer({ groupId: unique('kip848'), groupProtocol: 'consumer', sessionTimeout: 10_000 }),
    /session\.timeout\.ms/);
  const groupId = unique('kip848');
  const consumer = track(kafka.consumer({ groupId, groupProtocol: 'consumer', groupRemoteAssignor: 'uniform' }));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await consumer.run({ eachMessage: async ({ partition, message }) => { seen.push([partition, message.value.toString()]); } });
  await until('both records', () => seen.length >= 2);
  assert.deepStrictEqual(seen.sort(), [[0, 'p0'], [1, 'p1']]);
});
