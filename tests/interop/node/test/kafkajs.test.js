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

test('consumer group read-back', { skip: 'kafkajs consumes only through groups: needs the group coordinator (issue 4)' }, () => {});
