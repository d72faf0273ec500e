// The bundled broker's Schema Registry through @kafkajs/confluent-schema-registry, as kafkajs
// users run it: Avro, JSON Schema and Protobuf schemas registered, records encoded with the
// registry's wire format (magic byte, schema id), sent through the broker with kafkajs's API
// and decoded back; an incompatible change refused.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');
const { Kafka, logLevel } = require('..');
const { startBroker, unique } = require('./helpers');

describe('schema registry', () => {
  let cluster;
  let kafka;
  let registry;

  before(async () => {
    cluster = await startBroker();
    assert.match(cluster.broker.schemaRegistryUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    registry = new SchemaRegistry({ host: cluster.broker.schemaRegistryUrl });
    kafka = new Kafka({ clientId: 'sr-test', brokers: cluster.brokers, logLevel: logLevel.NOTHING });
  });
  after(async () => { await cluster.stop(); });

  // Sends `values` (already encoded) to a new topic and reads them back, in order.
  async function roundTrip(values) {
    const topic = unique('sr');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: values.map((value) => ({ value })) });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: unique('sr-reader') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got = [];
    await new Promise((resolve, reject) => {
      consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message.value);
          if (got.length === values.length) resolve();
        },
      }).catch(reject);
    });
    await consumer.disconnect();
    return got;
  }

  test('avro: register, encode, send, decode; evolution under BACKWARD', async () => {
    const subject = unique('user-value');
    const v1 = {
      type: 'record', name: 'User', namespace: 'acme',
      fields: [{ name: 'name', type: 'string' }, { name: 'age', type: 'int' }],
    };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    assert.ok(id > 0);
    // The same schema again: the same id.
    const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    assert.strictEqual(again.id, id);
    const users = [{ name: 'ada', age: 36 }, { name: 'alan', age: 41 }];
    const encoded = await Promise.all(users.map((u) => registry.encode(id, u)));
    assert.strictEqual(encoded[0][0], 0, 'magic byte');
    assert.strictEqual(encoded[0].readInt32BE(1), id, 'schema id');
    const decoded = await Promise.all((await roundTrip(encoded)).map((b) => registry.decode(b)));
    // avsc decodes into instances of the record's class: compare the fields.
    assert.deepStrictEqual(decoded.map((u) => ({ ...u })), users);

    const v2 = { ...v1, fields: [...v1.fields, { name: 'email', type: ['null', 'string'], default: null }] };
    const { id: id2 } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject });
    assert.notStrictEqual(id2, id);
    assert.strictEqual(await registry.getLatestSchemaId(subject), id2);
    const noDefault = { ...v1, fields: [...v1.fields, { name: 'country', type: 'string' }] };
    await assert.rejects(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(noDefault) }, { subject }),
      (e) => /409|incompatible/i.test(`${e.status ?? ''} ${e.message}`),
    );
  });

  test('json schema and protobuf round trips', async () => {
    const order = {
      $schema: 'http://json-schema.org/draft-07/schema#', title: 'Order', type: 'object',
      properties: { id: { type: 'string' }, cents: { type: 'integer' } }, required: ['id'],
    };
    const { id: jsonId } = await registry.register(
      { type: SchemaType.JSON, schema: JSON.stringify(order) }, { subject: unique('order-value') });
    const orders = [{ id: 'o1', cents: 100 }, { id: 'o2', cents: 250 }];
    const jsonBack = await roundTrip(await Promise.all(orders.map((o) => registry.encode(jsonId, o))));
    assert.deepStrictEqual(await Promise.all(jsonBack.map((b) => registry.decode(b))), orders);

    const proto = 'syntax = "proto3";\npackage acme;\nmessage Point { int32 x = 1; int32 y = 2; }\n';
    const { id: protoId } = await registry.register(
      { type: SchemaType.PROTOBUF, schema: proto }, { subject: unique('point-value') });
    const points = [{ x: 1, y: 2 }, { x: -3, y: 4 }];
    const protoBack = await roundTrip(await Promise.all(points.map((p) => registry.encode(protoId, p))));
    const decodedPoints = await Promise.all(protoBack.map((b) => registry.decode(b)));
    assert.deepStrictEqual(decodedPoints.map((p) => ({ x: p.x, y: p.y })), points);
  });
});
