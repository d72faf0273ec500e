// The same flow as produce_consume.js, typed: `bindings-node/test.sh` type-checks it against
// the package's declarations (tsc --noEmit), so they stay usable from TypeScript.
import { Broker, Kafka, logLevel, EachMessagePayload, RecordMetadata } from 'ferrokafka';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function main(): Promise<number> {
  const broker: Broker = await Broker.start({ dataDir: mkdtempSync(join(tmpdir(), 'fk-ts-')), port: 0 });
  const kafka = new Kafka({ clientId: 'example-ts', brokers: broker.brokers, logLevel: logLevel.WARN });
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const written: RecordMetadata[] = await producer.send({
    topic: 'events',
    messages: [{ key: 'k', value: Buffer.from('v'), headers: { source: 'ts' } }],
  });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'example-ts' });
  await consumer.connect();
  await consumer.subscribe({ topics: ['events'], fromBeginning: true });
  let count = 0;
  await consumer.run({
    eachMessage: async ({ message }: EachMessagePayload) => {
      count += message.value === null ? 0 : 1;
    },
  });
  await consumer.disconnect();
  await broker.stop();
  return written.length + count;
}
