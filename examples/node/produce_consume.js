// Starts the bundled broker in this process, produces 1,000 keyed records and reads them back
// through a consumer group — kafkajs code, with `require('ferrokafka')` in place of
// `require('kafkajs')`.
//
//   npm install ./bindings-node      (from the repository root; builds the native module once)
//   node examples/node/produce_consume.js
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Broker, Kafka, logLevel } = require('ferrokafka');

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrokafka-example-'));
  const broker = await Broker.start({ dataDir, port: 0 });
  const kafka = new Kafka({ clientId: 'example', brokers: broker.brokers, logLevel: logLevel.WARN });
  try {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'events', numPartitions: 3 }] });
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `user-${i % 10}`, value: JSON.stringify({ n: i }) }));
    const written = await producer.send({ topic: 'events', messages, acks: -1 });
    console.log('produced', messages.length, 'records:', written.map((r) => `partition ${r.partition} from offset ${r.baseOffset}`).join(', '));
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: 'example-readers' });
    await consumer.connect();
    await consumer.subscribe({ topics: ['events'], fromBeginning: true });
    let read = 0;
    const done = new Promise((resolve) => {
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (read++ === 0) console.log(`first: partition ${partition} offset ${message.offset} key ${message.key} value ${message.value}`);
          if (read === messages.length) resolve();
        },
      });
    });
    await done;
    await consumer.disconnect();  // commits what was read and leaves the group
    console.log('consumed', read, 'records through group example-readers');
  } finally {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
