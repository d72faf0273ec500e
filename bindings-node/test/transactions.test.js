// Transactions through kafkajs's API (`producer.transaction()`), against the bundled broker
// started in this process: what read_committed consumers see of committed and aborted
// transactions, fencing of an older producer with the same transactionalId, and an
// exactly-once copy (examples/node/eos_copy.js) killed with SIGKILL and restarted.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Kafka, logLevel } = require('..');
const { startBroker, until, unique } = require('./helpers');

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'node', 'eos_copy.js');

describe('transactions', () => {
  let cluster;
  let kafka;
  let admin;
  const open = [];
  const track = (client) => { open.push(client); return client; };

  before(async () => {
    cluster = await startBroker();
    kafka = new Kafka({ clientId: 'txn-test', brokers: cluster.brokers, logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });
  afterEach(async () => { await Promise.all(open.splice(0).map((c) => c.disconnect().catch(() => {}))); });
  after(async () => {
    await admin.disconnect();
    await cluster.stop();
  });

  async function txnProducer(transactionalId) {
    const producer = track(kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 }));
    await producer.connect();
    return producer;
  }

  // Reads `topic` from the beginning until `done(values)`; returns every value read, in order
  // per partition.
  async function readAll(topic, done, options = {}) {
    const consumer = track(kafka.consumer({ groupId: unique('reader'), ...options }));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const values = [];
    await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()); } });
    await until(`the records of ${topic}`, () => done(values));
    await consumer.disconnect();
    return values;
  }

  const ends = (n) => (values) => values.filter((v) => v.startsWith('end')).length === n;

  test('read_committed sees committed transactions once and aborted ones never', async () => {
    const topic = unique('visibility');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    const producer = await txnProducer(unique('tx'));
    const to = (values, partition) => ({ topic, messages: values.map((value) => ({ value, partition })) });

    let tx = await producer.transaction();
    assert.strictEqual(tx.isActive(), true);
    await tx.send(to(['aborted-0', 'aborted-1'], 0));
    await tx.sendBatch({ topicMessages: [to(['aborted-2'], 1)] });
    await tx.abort();
    assert.strictEqual(tx.isActive(), false);
    await assert.rejects(tx.send(to(['late'], 0)), { name: 'KafkaJSNonRetriableError', type: 'INVALID_STATE' });
    await assert.rejects(tx.commit(), { type: 'INVALID_STATE' });

    tx = await producer.transaction();
    await tx.send(to(['committed-0', 'committed-1'], 0));
    await tx.sendBatch({ topicMessages: [to(['committed-2'], 1), to(['committed-3'], 0)] });
    // kafkajs: one transaction at a time per producer.
    await assert.rejects(producer.transaction(), { name: 'KafkaJSNonRetriableError', type: 'INVALID_STATE', fatal: false });
    await tx.commit();
    assert.strictEqual(tx.isActive(), false);

    tx = await producer.transaction();
    await tx.send(to(['aborted-3'], 0));
    await tx.send(to(['aborted-4'], 1));
    await tx.abort();

    tx = await producer.transaction();
    await tx.send(to(['end-0'], 0));
    await tx.send(to(['end-1'], 1));
    await tx.commit();

    // readUncommitted unset: read_committed, as in kafkajs.
    const committed = await readAll(topic, ends(2));
    assert.deepStrictEqual(
      committed.filter((v) => !v.startsWith('end')).sort(),
      ['committed-0', 'committed-1', 'committed-2', 'committed-3'],
      'every committed record once, no aborted one',
    );
    const uncommitted = await readAll(topic, ends(2), { readUncommitted: true });
    assert.deepStrictEqual(
      uncommitted.filter((v) => v.startsWith('aborted')).sort(),
      ['aborted-0', 'aborted-1', 'aborted-2', 'aborted-3', 'aborted-4'],
      'read_uncommitted sees the aborted records (so they were written)',
    );
  });

  test('transaction() needs a transactionalId, and a plain send is refused on a transactional producer', async () => {
    const plain = track(kafka.producer());
    await plain.connect();
    await assert.rejects(plain.transaction(), { type: 'INVALID_STATE', fatal: false, txnRequiresAbort: false });
    const producer = await txnProducer(unique('tx'));
    await assert.rejects(producer.send({ topic: unique('t'), messages: [{ value: 'x' }] }), { type: 'INVALID_STATE' });
    await assert.rejects(track(kafka.producer({ transactionalId: 't', idempotent: false })).connect(), {
      type: 'INVALID_CONFIG',
      message: /enable.idempotence/,
    });
    await assert.rejects(
      (await producer.transaction()).sendOffsets({
        consumerGroupId: 'g',
        topics: [{ topic: 't', partitions: [{ partition: 0, offset: 'x' }] }],
      }),
      { type: 'INVALID_ARGUMENT' },
    );
  });

  test('a newer producer with the same transactionalId fences the older one: its commit fails fatally', async () => {
    const topic = unique('fenced');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const id = unique('shared-id');
    const older = await txnProducer(id);
    const oldTx = await older.transaction();
    await oldTx.send({ topic, messages: [{ value: 'from-the-older-one' }] });

    const newer = await txnProducer(id);
    const newTx = await newer.transaction(); // fences `older`, aborting its open transaction

    await assert.rejects(oldTx.commit(), (e) => {
      assert.strictEqual(e.fatal, true, `fatal: ${e.message}`);
      assert.strictEqual(e.type, 'PRODUCER_FENCED');
      assert.strictEqual(e.retriable, false);
      assert.strictEqual(e.txnRequiresAbort, false);
      return true;
    });
    await assert.rejects(older.transaction(), { fatal: true }, 'and it stays unusable');

    await newTx.send({ topic, messages: [{ value: 'end-from-the-newer-one' }] });
    await newTx.commit();
    assert.deepStrictEqual(await readAll(topic, ends(1)), ['end-from-the-newer-one']);
  });

  test('sendOffsets commits the group offsets with the transaction, and not when it aborts', async () => {
    const topic = unique('offsets');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const groupId = unique('copier');
    const producer = await txnProducer(unique('tx'));
    const offsets = (offset) => ({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset }] }] });
    let tx = await producer.transaction();
    await tx.sendOffsets(offsets('7'));
    await tx.abort();
    tx = await producer.transaction();
    await tx.sendOffsets(offsets('3'));
    await tx.commit();
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    assert.deepStrictEqual(committed.partitions.map((p) => [p.partition, p.offset]), [[0, '3']]);
  });

  test('exactly once through SIGKILL: examples/node/eos_copy.js killed mid-copy and restarted', async () => {
    const input = unique('eos-in');
    const output = unique('eos-out');
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 3 }, { topic: output, numPartitions: 3 }] });
    const total = 3000;
    const values = Array.from({ length: total }, (_, i) => `record-${i}`);
    const plain = track(kafka.producer({ idempotent: true }));
    await plain.connect();
    await plain.send({ topic: input, messages: values.map((value, i) => ({ key: `k${i % 50}`, value })) });

    // The child finds `require('ferrokafka')` through NODE_PATH, as an installed package.
    const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-node-modules-'));
    fs.symlinkSync(path.join(__dirname, '..'), path.join(modules, 'ferrokafka'), 'dir');
    const groupId = unique('eos-group');
    const transactionalId = unique('eos-copy');

    // Starts the copier; `progress.total` follows its committed transactions.
    function startCopier() {
      const child = spawn(
        process.execPath,
        [EXAMPLE, cluster.brokers.join(','), input, output, groupId, transactionalId, '25'],
        { env: { ...process.env, NODE_PATH: modules }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const run = { child, total: 0, stderr: '', exit: null };
      run.exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      readline.createInterface({ input: child.stdout }).on('line', (line) => { run.total = JSON.parse(line).total; });
      child.stderr.on('data', (d) => { run.stderr += d; });
      return run;
    }

    async function committedAll() {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [input] });
      const ends = await admin.fetchTopicOffsets(input);
      return ends.every((e) => committed.partitions.some((p) => p.partition === e.partition && p.offset === e.high));
    }

    try {
      const first = startCopier();
      await until('the first copier to commit some transactions', () => first.total >= 100 || first.child.exitCode !== null);
      assert.strictEqual(first.child.exitCode, null, `the copier died early: ${first.stderr}`);
      first.child.kill('SIGKILL');
      const killed = await first.exit;
      assert.strictEqual(killed.signal, 'SIGKILL');
      assert.ok(first.total < total, `killed in the middle: ${first.total} of ${total} copied`);

      const second = startCopier();
      await until('every input offset committed', async () => {
        assert.strictEqual(second.child.exitCode, null, `the restarted copier died: ${second.stderr}`);
        return committedAll();
      }, 60_000);
      second.child.kill('SIGTERM');
      const stopped = await second.exit;
      assert.deepStrictEqual(stopped, { code: 0, signal: null }, `SIGTERM stops it cleanly: ${second.stderr}`);
    } finally {
      fs.rmSync(modules, { recursive: true, force: true });
    }

    // One committed end marker per output partition: what precedes it has all been read.
    const marker = await txnProducer(unique('marker'));
    const tx = await marker.transaction();
    await tx.send({ topic: output, messages: [0, 1, 2].map((partition) => ({ value: `end-${partition}`, partition })) });
    await tx.commit();
    const copied = (await readAll(output, (v) => v.filter((x) => x.startsWith('end-')).length === 3))
      .filter((v) => !v.startsWith('end-'));
    assert.strictEqual(copied.length, total, 'nothing twice, nothing missing');
    assert.deepStrictEqual(copied.sort(), values.map((v) => v.toUpperCase()).sort());
  });
});
