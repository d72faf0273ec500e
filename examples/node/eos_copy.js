// Exactly-once consume-transform-produce, kafkajs code with `require('ferrokafka')`: reads
// INPUT through consumer group GROUP, writes each record upper-cased to OUTPUT, and commits the
// group's offsets in the same transaction as the records written from them. Killed at any
// point (even with SIGKILL) and started again, a read_committed reader of OUTPUT sees every
// input record exactly once: the restarted instance's first transaction() fences the dead one
// (same transactionalId), whose open transaction is aborted with its offsets.
//
//   node examples/node/eos_copy.js BROKERS INPUT OUTPUT GROUP TRANSACTIONAL_ID [RECORDS_PER_TRANSACTION]
//
// It runs until SIGTERM or SIGINT (then leaves the group and exits 0). One line of JSON on
// stdout per committed transaction: {"committed": records, "total": records since start}.
const { Kafka, logLevel } = require('ferrokafka');

async function main() {
  const [brokers, input, output, groupId, transactionalId, perTxn = '100'] = process.argv.slice(2);
  if (!transactionalId) {
    console.error('usage: eos_copy.js BROKERS INPUT OUTPUT GROUP TRANSACTIONAL_ID [RECORDS_PER_TRANSACTION]');
    process.exit(2);
  }
  const chunk = Number(perTxn);
  const kafka = new Kafka({ clientId: 'eos-copy', brokers: brokers.split(','), logLevel: logLevel.WARN });
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  // readUncommitted: false (kafkajs's default): never read another job's aborted output.
  // A static member (group.instance.id) takes the dead instance's place at once on restart.
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    sessionTimeout: 10_000,
    settings: { 'group.instance.id': transactionalId },
  });

  // Set here, not inherited: a process started in the background may have SIGINT ignored.
  let stopping = null;
  const stop = (signal) => {
    stopping ??= (async () => {
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      console.error(`eos_copy: stopped by ${signal}`);
      process.exit(0);
    })();
  };
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.removeAllListeners(signal);
    process.on(signal, () => stop(signal));
  }

  await producer.connect();
  // Fence a previous instance before reading any offset: its open transaction is aborted (or
  // its commit completed) before this one fetches the group's committed offsets.
  await (await producer.transaction()).abort();

  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  let total = 0;
  await consumer.run({
    autoCommit: false, // offsets are committed by the transactions
    eachBatchAutoResolve: false, // records not copied yet are read again
    eachBatch: async ({ batch, resolveOffset, isRunning }) => {
      for (let i = 0; i < batch.messages.length && isRunning() && !stopping; i += chunk) {
        const records = batch.messages.slice(i, i + chunk);
        const next = (BigInt(records[records.length - 1].offset) + 1n).toString();
        const tx = await producer.transaction();
        try {
          await tx.send({
            topic: output,
            messages: records.map((m) => ({ key: m.key, value: m.value.toString().toUpperCase() })),
          });
          await tx.sendOffsets({
            consumerGroupId: groupId,
            topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
          });
          await tx.commit();
        } catch (e) {
          if (e.fatal) {
            // Fenced by a newer instance (or otherwise unusable): this one must stop.
            console.error('eos_copy: fatal:', e.message);
            process.exit(1);
          }
          // The transaction (records and offsets) is dropped; the batch is read again from
          // the last committed chunk.
          if (tx.isActive()) await tx.abort();
          throw e;
        }
        resolveOffset(records[records.length - 1].offset);
        total += records.length;
        console.log(JSON.stringify({ committed: records.length, total }));
      }
    },
  });
}

main().catch((e) => {
  console.error('eos_copy:', e);
  process.exit(1);
});
