// The same client code against Apache Kafka 4.1 (one KRaft node from the jars in
// .cache/apache-kafka, started by tests/apache_kafka/cluster.py): what works against the bundled
// broker must work against the real one, transactions included. Skipped when
// FERROKAFKA_SKIP_APACHE_KAFKA=1 or without Java.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { Kafka, logLevel } = require('..');
const { until, unique } = require('./helpers');
const { copyExactlyOnceThroughSigkill } = require('./eos');

const root = path.join(__dirname, '..', '..');
const skip = process.env.FERROKAFKA_SKIP_APACHE_KAFKA === '1' ? 'FERROKAFKA_SKIP_APACHE_KAFKA=1'
  : spawnSync('java', ['-version']).status !== 0 ? 'no Java' : false;

describe('Apache Kafka', { skip }, () => {
  let kafkaProc;
  let brokers;
  before(async () => {
    kafkaProc = spawn(path.join(root, '.cache/venv/bin/python'), [path.join(root, 'tests/apache_kafka/cluster.py'), 'single'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise((resolve, reject) => {
      readline.createInterface({ input: kafkaProc.stdout }).once('line', resolve);
      kafkaProc.once('exit', (code) => reject(new Error(`Apache Kafka exited (${code}) before it was ready`)));
    });
    brokers = line.split(': ').at(-1).split(',');
  });
  after(async () => {
    kafkaProc.kill('SIGTERM');
    await new Promise((resolve) => kafkaProc.once('exit', resolve));
  });

  test('admin, idempotent produce, group consume with commits', async () => {
    const kafka = new Kafka({ clientId: 'apache', brokers, logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    const topic = unique('ak');
    assert.strictEqual(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), true);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const values = Array.from({ length: 300 }, (_, i) => `v${i}`);
    const sent = await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i % 10}`, value })) });
    assert.ok(sent.length > 0 && sent.every((r) => r.errorCode === 0), 'acknowledged without error');
    await producer.disconnect();

    const groupId = unique('akg');
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen = [];
    await consumer.run({ eachMessage: async ({ partition, message }) => { seen.push([partition, message.key.toString(), message.value.toString()]); } });
    try {
      await until('300 records', () => seen.length >= 300, 60_000);
    } finally {
      await consumer.disconnect();
    }
    assert.deepStrictEqual(seen.map((s) => s[2]).sort(), [...values].sort(), 'each record once');
    const partitionOf = new Map();
    for (const [partition, key] of seen) {
      assert.strictEqual(partitionOf.get(key) ?? partition, partition, 'a key stays on one partition');
      partitionOf.set(key, partition);
    }
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const total = committed[0].partitions.reduce((n, p) => n + Number(p.offset), 0);
    assert.strictEqual(total, 300, 'disconnect commits what was handled');
    const offsets = await admin.fetchTopicOffsets(topic);
    assert.strictEqual(offsets.reduce((n, o) => n + Number(o.high), 0), 300);
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });

  test('transactions: examples/node/eos_copy.js killed with SIGKILL and restarted copies each record once', async () => {
    const kafka = new Kafka({ clientId: 'apache-eos', brokers, logLevel: logLevel.ERROR });
    await copyExactlyOnceThroughSigkill(kafka, brokers);
  });
});
