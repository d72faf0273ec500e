// eachMessage's contract where records are handed to JavaScript in rounds: a record whose
// handler failed is read again, records after it are not handed out first, and pause() from
// inside the handler stops that partition at once.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert');
const { Kafka, logLevel } = require('..');
const { startBroker, until, unique } = require('./helpers');

describe('eachMessage rounds', () => {
  let cluster;
  let kafka;
  const open = [];
  before(async () => {
    cluster = await startBroker();
    kafka = new Kafka({ clientId: 'rounds', brokers: cluster.brokers, logLevel: logLevel.NOTHING });
  });
  afterEach(async () => { await Promise.all(open.splice(0).map((c) => c.disconnect().catch(() => {}))); });
  after(async () => { await cluster.stop(); });

  async function produce(topic, values) {
    const producer = kafka.producer();
    open.push(producer);
    await producer.connect();
    await producer.send({ topic, messages: values.map((value) => ({ value, partition: 0 })) });
  }

  test('a failed record is read again, and nothing after it is handled first', async () => {
    const topic = unique('fail');
    const values = Array.from({ length: 50 }, (_, i) => `r${i}`);
    await produce(topic, values);
    const consumer = kafka.consumer({ groupId: unique('g'), retry: { initialRetryTime: 10 } });
    open.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const handled = [];
    let failedOnce = false;
    await consumer.run({
      eachMessage: async ({ message }) => {
        const v = message.value.toString();
        if (v === 'r20' && !failedOnce) {
          failedOnce = true;
          throw new Error('handler failed on r20');
        }
        handled.push(v);
      },
    });
    await until('every record handled', () => handled.length >= 50);
    assert.deepStrictEqual(handled, values, 'in order, each once: r20 again after its failure, nothing skipped');
  });

  test('pause() inside eachMessage stops that partition within the round', async () => {
    const topic = unique('pause');
    const values = Array.from({ length: 30 }, (_, i) => `p${i}`);
    await produce(topic, values);
    const consumer = kafka.consumer({ groupId: unique('g') });
    open.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const handled = [];
    let resume = null;
    await consumer.run({
      eachMessage: async ({ message, pause }) => {
        handled.push(message.value.toString());
        if (handled.length === 10) resume = pause();
      },
    });
    await until('the pause', () => resume !== null);
    // The 30 records arrived in one fetch; none after the 10th may be handed out while paused.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepStrictEqual(handled, values.slice(0, 10));
    resume();
    await until('the rest after resume', () => handled.length >= 30);
    assert.deepStrictEqual(handled, values);
  });
});
