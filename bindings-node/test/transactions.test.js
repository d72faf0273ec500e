// Transactions through kafkajs's API (`producer.transaction()`), against the bundled broker
// started in this process: what read_committed consumers see of committed and aborted
// transactions, fencing of an older producer with the same transactionalId, and an
// exactly-once copy (examples/node/eos_copy.js) killed with SIGKILL and restarted.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert');
const { Kafka, logLevel } = require('..');
const { startBroker, until, unique } = require('./helpers');
const { copyExactlyOnceThroughSigkill } = require('./eos');

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
    await copyExactlyOnceThroughSigkill(kafka, cluster.brokers);
  });
});
