// kafkajs against the bundled broker, started as a child process on a free port.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const READY = 'ferrokafka-broker listening on ';
let broker;
let dataDir;
let kafka;

before(async () => {
  const bin = process.env.FERROKAFKA_BROKER_BIN || path.resolve(__dirname, '../../../../target/debug/ferrokafka-broker');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-kafkajs-'));
  broker = spawn(bin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: broker.stdout }).once('line', resolve);
    broker.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  assert.ok(line.startsWith(READY), line);
  kafka = new Kafka({ clientId: 'interop', brokers: [line.slice(READY.length).trim()], logLevel: logLevel.ERROR });
});

after(async () => {
  broker.kill('SIGTERM');
  await new Promise((resolve) => broker.once('exit', resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
  test(`producer send returns offsets (compression ${compression})`, async () => {
    const topic = `kjs-${compression}-${Date.now()}`;
    const admin = kafka.admin();
    await admin.connect();
    assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const messages = Array.from({ length: 50 }, (_, i) => ({
      key: `k${i}`, value: `v${i}`, partition: i % 2, headers: { i: String(i) }, timestamp: String(3_000_000 + i),
    }));
    const result = await producer.send({ topic, messages, compression, acks: -1 });
    assert.deepStrictEqual(result.map((r) => [r.partition, r.errorCode, r.baseOffset]).sort(), [[0, 0, '0'], [1, 0, '0']]);
    const again = await producer.send({ topic, messages: [{ value: 'next', partition: 0 }] });
    assert.strictEqual(again[0].baseOffset, '25');
    const offsets = await admin.fetchTopicOffsets(topic);
    assert.deepStrictEqual(offsets.map((o) => [o.partition, o.high, o.low]).sort(), [[0, '26', '0'], [1, '25', '0']]);
    await producer.disconnect();
    await admin.disconnect();
  });
}

test('admin creates, describes, grows and deletes topics', async () => {
  const topic = `kjs-admin-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  assert.ok((await admin.listTopics()).includes(topic));
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  assert.strictEqual(meta.topics[0].partitions.length, 3);
  assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false, 'already exists');
  await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] });
  const grown = await admin.fetchTopicMetadata({ topics: [topic] });
  assert.strictEqual(grown.topics[0].partitions.length, 5);
  await admin.deleteTopics({ topics: [topic] });
  assert.ok(!(await admin.listTopics()).includes(topic));
  await admin.disconnect();
});

// Resolves once `check()` holds, re-checked each time `subscribe`'s callback is called; rejects after `ms`.
function until(what, check, subscribe, ms = 60_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    const poll = () => { if (check()) { clearTimeout(timer); resolve(); } };
    subscribe(poll);
    poll();
  });
}

test('two consumers share a group, read every record once and resume from commits', async () => {
  const topic = `kjs-group-${Date.now()}`;
  const groupId = `kjs-g-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] });

  const listeners = [];
  const notify = () => listeners.forEach((f) => f());
  const assignments = {};
  const seen = [];
  const consumers = ['c0', 'c1'].map((name) => {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000 });
    consumer.on(consumer.events.GROUP_JOIN, (e) => { assignments[name] = e.payload.memberAssignment[topic] || []; notify(); });
    return { name, consumer };
  });
  for (const { name, consumer } of consumers) {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ name, partition, offset: Number(message.offset), key: message.key.toString(), value: message.value.toString(),
          header: message.headers.i.toString(), timestamp: message.timestamp });
        notify();
      },
    });
  }
  const shared = () => {
    const a = assignments.c0 || []; const b = assignments.c1 || [];
    return a.length > 0 && b.length > 0 && new Set([...a, ...b]).size === 4 && a.length + b.length === 4;
  };
  await until('both members to be assigned', shared, (f) => listeners.push(f));

  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: 200 }, (_, i) => ({
    key: `k${i}`, value: `v${i}`, partition: i % 4, headers: { i: String(i) }, timestamp: String(4_000_000 + i),
  }));
  await producer.send({ topic, messages });
  await until('every record', () => seen.length >= 200, (f) => listeners.push(f));

  const byValue = new Map(seen.map((r) => [r.value, r]));
  assert.strictEqual(seen.length, 200, 'each record read once');
  assert.strictEqual(byValue.size, 200);
  for (const r of seen) {
    const i = Number(r.value.slice(1));
    assert.deepStrictEqual([r.key, r.partition, r.header, r.timestamp], [`k${i}`, i % 4, String(i), String(4_000_000 + i)]);
    assert.ok(assignments[r.name].includes(r.partition), `${r.name} read a partition it does not hold`);
  }
  for (let p = 0; p < 4; p++) {
    const offsets = seen.filter((r) => r.partition === p).map((r) => r.offset);
    assert.deepStrictEqual(offsets, Array.from({ length: 50 }, (_, i) => i), `partition ${p} in order`);
  }
  const described = await admin.describeGroups([groupId]);
  assert.strictEqual(described.groups[0].state, 'Stable');
  assert.strictEqual(described.groups[0].members.length, 2);
  for (const { consumer } of consumers) await consumer.disconnect();

  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  assert.deepStrictEqual(committed[0].partitions.map((p) => [p.partition, p.offset]).sort(), [[0, '50'], [1, '50'], [2, '50'], [3, '50']]);

  // A new member of the group starts at the commits: it sees only what comes next.
  await producer.send({ topic, messages: [{ value: 'after', partition: 2 }] });
  const later = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
  const got = [];
  await later.connect();
  await later.subscribe({ topic, fromBeginning: true });
  await later.run({ eachMessage: async ({ partition, message }) => { got.push([partition, message.value.toString()]); notify(); } });
  await until('the new record', () => got.length >= 1, (f) => listeners.push(f));
  assert.deepStrictEqual(got, [[2, 'after']]);
  await later.disconnect();
  await producer.disconnect();
  await admin.disconnect();
});
