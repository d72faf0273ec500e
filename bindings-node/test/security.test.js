// kafkajs's `sasl` and `ssl` options map onto the core's TLS and SASL: the same options work
// against a SASL listener of the bundled broker; a wrong password is an Error naming SASL
// authentication; what the core cannot honour is refused, not ignored.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert');
const { Kafka, logLevel } = require('..');
const { startBroker, unique } = require('./helpers');

describe('security options', () => {
  let cluster;
  before(async () => {
    cluster = await startBroker({
      listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
      'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      'users.alice': 'alice-secret',
    });
  });
  after(async () => { await cluster.stop(); });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
    test(`sasl ${mechanism}: produce and read back`, async () => {
      const kafka = new Kafka({ clientId: 'sec', brokers: cluster.brokers, logLevel: logLevel.NOTHING,
        sasl: { mechanism, username: 'alice', password: 'alice-secret' } });
      const topic = unique('sasl');
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: [{ value: 'over SASL' }] });
      await producer.disconnect();
      const admin2 = kafka.admin();
      await admin2.connect();
      const offsets = await admin2.fetchTopicOffsets(topic);
      await admin2.disconnect();
      assert.deepStrictEqual(offsets.map((o) => o.high), ['1']);
    });
  }

  test('a wrong password is a SASL authentication error', async () => {
    const kafka = new Kafka({ clientId: 'sec', brokers: cluster.brokers, logLevel: logLevel.NOTHING,
      sasl: { mechanism: 'scram-sha-256', username: 'alice', password: 'wrong' } });
    const admin = kafka.admin();
    const err = await admin.connect().then(() => admin.listTopics()).then(() => null, (e) => e);
    assert.ok(err instanceof Error, 'rejected');
    assert.strictEqual(err.name, 'KafkaJSSASLAuthenticationError', err.message);
    await admin.disconnect().catch(() => {});
  });

  test('options the core cannot honour are refused', () => {
    assert.throws(() => new Kafka({ brokers: cluster.brokers, ssl: { rejectUnauthorized: false } }), /rejectUnauthorized/);
    assert.throws(() => new Kafka({ brokers: cluster.brokers, sasl: { mechanism: 'aws', username: 'a', password: 'b' } }), /mechanism/);
  });
});
