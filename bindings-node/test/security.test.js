// kafkajs's `sasl` and `ssl` options map onto the core's TLS and SASL: the same options work
// against a SASL listener of the bundled broker; a wrong password is an Error naming SASL
// authentication; what the core cannot honour is refused, not ignored. OAUTHBEARER takes its
// tokens from an async JavaScript function (the broker checks them as Kafka's unsecured
// validator does).
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert');
const { Kafka, logLevel } = require('..');
const { startBroker, until, unique } = require('./helpers');

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

// An unsecured JWT (alg none) for `sub`, expiring `expiresInS` seconds from now.
function unsecuredJwt(sub, expiresInS) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none' })}.${part({ sub, iat: now, exp: now + expiresInS })}.`;
}

describe('sasl oauthbearer', () => {
  let cluster;
  before(async () => {
    cluster = await startBroker({
      listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
      'sasl.enabled.mechanisms': 'OAUTHBEARER',
    });
  });
  after(async () => { await cluster.stop(); });

  const kafkaWith = (oauthBearerProvider) => new Kafka({ clientId: 'oauth', brokers: cluster.brokers,
    logLevel: logLevel.NOTHING, sasl: { mechanism: 'oauthbearer', oauthBearerProvider } });

  test('produce and consume with tokens from oauthBearerProvider', async () => {
    let calls = 0;
    const kafka = kafkaWith(async () => {
      calls++;
      await new Promise((r) => setImmediate(r)); // settles later, not in the call
      return { value: unsecuredJwt('alice', 3600) };
    });
    const topic = unique('oauth');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'over OAUTHBEARER' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: unique('oauth') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen = [];
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value.toString()); } });
    try {
      await until('the record', () => seen.length >= 1);
    } finally {
      await consumer.disconnect();
    }
    assert.deepStrictEqual(seen, ['over OAUTHBEARER']);
    assert.ok(calls >= 1, `the provider was called (${calls} times)`);
  });

  test('a provider that rejects fails the authentication with its message', async () => {
    const kafka = kafkaWith(async () => { throw new Error('identity provider unreachable'); });
    const admin = kafka.admin();
    const err = await admin.connect().then(() => admin.listTopics()).then(() => null, (e) => e);
    await admin.disconnect().catch(() => {});
    assert.ok(err instanceof Error, 'rejected');
    assert.strictEqual(err.name, 'KafkaJSSASLAuthenticationError', err.message);
    assert.match(err.message, /oauthBearerProvider: Error: identity provider unreachable/);
  });

  test('a provider whose promise never settles fails the authentication after requestTimeout', async () => {
    const kafka = new Kafka({ clientId: 'oauth', brokers: cluster.brokers, logLevel: logLevel.NOTHING, requestTimeout: 500,
      sasl: { mechanism: 'oauthbearer', oauthBearerProvider: () => new Promise(() => {}) } });
    const admin = kafka.admin();
    const err = await admin.connect().then(() => admin.listTopics()).then(() => null, (e) => e);
    await admin.disconnect().catch(() => {});
    assert.ok(err instanceof Error, 'rejected');
    assert.strictEqual(err.name, 'KafkaJSSASLAuthenticationError', err.message);
    assert.match(err.message, /did not settle within 500 ms/);
  });

  test('the provider is asked again when the session of its token ends', async () => {
    let calls = 0;
    // The broker ends a session with its token (KIP-368): a token for 2 s makes the producer
    // open a new connection within about a second, which asks for a new token.
    const kafka = kafkaWith(async () => { calls++; return { value: unsecuredJwt('alice', 2) }; });
    const topic = unique('reauth');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ value: 'first' }] });
      const connected = calls;
      await until('a new token', async () => {
        await producer.send({ topic, messages: [{ value: 'again' }] });
        return calls > connected;
      }, 10_000);
    } finally {
      await producer.disconnect();
    }
  });

  test('a provider that does not resolve to { value } fails the authentication', async () => {
    const kafka = kafkaWith(async () => 'a bare token');
    const admin = kafka.admin();
    const err = await admin.connect().then(() => admin.listTopics()).then(() => null, (e) => e);
    await admin.disconnect().catch(() => {});
    assert.ok(err instanceof Error, 'rejected');
    assert.strictEqual(err.name, 'KafkaJSSASLAuthenticationError', err.message);
    assert.match(err.message, /resolve to \{ value: string \}/);
  });

  test('a token the broker refuses (expired) is a SASL authentication error', async () => {
    const kafka = kafkaWith(async () => ({ value: unsecuredJwt('alice', -60) }));
    const admin = kafka.admin();
    const err = await admin.connect().then(() => admin.listTopics()).then(() => null, (e) => e);
    await admin.disconnect().catch(() => {});
    assert.ok(err instanceof Error, 'rejected');
    assert.strictEqual(err.name, 'KafkaJSSASLAuthenticationError', err.message);
  });

  test('oauthbearer options are checked', () => {
    assert.throws(() => new Kafka({ brokers: cluster.brokers, sasl: { mechanism: 'oauthbearer' } }), /oauthBearerProvider: required/);
    assert.throws(() => new Kafka({ brokers: cluster.brokers, sasl: { mechanism: 'oauthbearer', oauthBearerProvider: 'token' } }),
      /oauthBearerProvider: a function expected/);
    assert.throws(() => new Kafka({ brokers: cluster.brokers,
      sasl: { mechanism: 'plain', username: 'a', password: 'b', oauthBearerProvider: async () => ({ value: 't' }) } }),
    /for oauthbearer only/);
  });
});
