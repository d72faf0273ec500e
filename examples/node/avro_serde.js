// Avro records through the bundled broker and its Schema Registry: a schema registered,
// records encoded with Confluent's wire format, produced, consumed and decoded —
// @kafkajs/confluent-schema-registry code, with `require('ferrokafka')` in place of
// `require('@kafkajs/confluent-schema-registry')` (and of `require('kafkajs')`).
//
//   npm install ./bindings-node      (from the repository root; builds the native module once)
//   node examples/node/avro_serde.js
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Broker, Kafka, logLevel, SchemaRegistry, SchemaType } = require('ferrokafka');

const schema = {
  type: 'record',
  name: 'Reading',
  namespace: 'example.sensors',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'celsius', type: 'double' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'raw', type: 'bytes' },
  ],
};

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrokafka-avro-example-'));
  const broker = await Broker.start({ dataDir, port: 0 });
  try {
    const registry = new SchemaRegistry({ host: broker.schemaRegistryUrl });
    // The subject is the schema's namespace.name; the same schema again gets the same id.
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) });
    console.log(`registered example.sensors.Reading as schema ${id}`);

    const kafka = new Kafka({ clientId: 'avro-example', brokers: broker.brokers, logLevel: logLevel.WARN });
    const producer = kafka.producer();
    await producer.connect();
    const readings = Array.from({ length: 10 }, (_, i) => ({
      sensor: `s-${i % 3}`, celsius: 20 + i / 4, at: Date.now(), note: i % 2 ? null : 'even',
      raw: Buffer.from([i, 255 - i]),  // bytes: a Buffer in; decoded as a string of code points 0-255
    }));
    const messages = await Promise.all(readings.map(async (r) => ({ key: r.sensor, value: await registry.encode(id, r) })));
    await producer.send({ topic: 'readings', messages });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: 'avro-example' });
    await consumer.connect();
    await consumer.subscribe({ topics: ['readings'], fromBeginning: true });
    let read = 0;
    await new Promise((resolve, reject) => {
      consumer.run({
        eachMessage: async ({ message }) => {
          const reading = await registry.decode(message.value);
          if (read++ === 0) console.log('first decoded:', { ...reading, raw: [...Buffer.from(reading.raw, 'latin1')] });
          if (read === readings.length) resolve();
        },
      }).catch(reject);
    });
    await consumer.disconnect();
    console.log(`decoded ${read} Avro records (schema ${id}) from topic readings`);
  } finally {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
