// The exactly-once scenario shared by the bundled-broker and Apache Kafka suites:
// examples/node/eos_copy.js runs as a child process, is SIGKILLed in the middle of its copy and
// started again; the read_committed output must then hold every input record exactly once.
// The broker lives outside the child (in the test process, or Apache Kafka's JVM).
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { until, unique } = require('./helpers');

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'node', 'eos_copy.js');

async function copyExactlyOnceThroughSigkill(kafka, brokers, total = 3000) {
  const open = [];
  const track = (client) => { open.push(client); return client; };
  const admin = track(kafka.admin());
  await admin.connect();
  const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-node-modules-'));
  const children = [];
  try {
    const input = unique('eos-in');
    const output = unique('eos-out');
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 3 }, { topic: output, numPartitions: 3 }] });
    const values = Array.from({ length: total }, (_, i) => `record-${i}`);
    const plain = track(kafka.producer({ idempotent: true }));
    await plain.connect();
    await plain.send({ topic: input, messages: values.map((value, i) => ({ key: `k${i % 50}`, value })) });

    // The child finds `require('ferrokafka')` through NODE_PATH, as an installed package.
    fs.symlinkSync(path.join(__dirname, '..'), path.join(modules, 'ferrokafka'), 'dir');
    const groupId = unique('eos-group');
    const transactionalId = unique('eos-copy');

    // Starts the copier; `run.total` follows its committed transactions as it reports them.
    function startCopier() {
      const child = spawn(
        process.execPath,
        [EXAMPLE, brokers.join(','), input, output, groupId, transactionalId, '25'],
        { env: { ...process.env, NODE_PATH: modules }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      const run = { child, total: 0, stderr: '' };
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

    const first = startCopier();
    await until('the first copier to commit some transactions', () => first.total >= 100 || first.child.exitCode !== null, 60_000);
    assert.strictEqual(first.child.exitCode, null, `the copier died early: ${first.stderr}`);
    first.child.kill('SIGKILL');
    assert.strictEqual((await first.exit).signal, 'SIGKILL');
    assert.ok(first.total < total, `killed in the middle: ${first.total} of ${total} copied`);

    const second = startCopier();
    await until('every input offset committed', async () => {
      assert.strictEqual(second.child.exitCode, null, `the restarted copier died: ${second.stderr}`);
      return committedAll();
    }, 90_000);
    second.child.kill('SIGTERM');
    assert.deepStrictEqual(await second.exit, { code: 0, signal: null }, `SIGTERM stops it cleanly: ${second.stderr}`);

    // One committed end marker per output partition: what precedes it has all been read.
    const marker = track(kafka.producer({ transactionalId: unique('marker') }));
    await marker.connect();
    const tx = await marker.transaction();
    await tx.send({ topic: output, messages: [0, 1, 2].map((partition) => ({ value: `end-${partition}`, partition })) });
    await tx.commit();
    // readUncommitted unset: read_committed.
    const reader = track(kafka.consumer({ groupId: unique('eos-reader') }));
    await reader.connect();
    await reader.subscribe({ topics: [output], fromBeginning: true });
    const read = [];
    await reader.run({ eachMessage: async ({ message }) => { read.push(message.value.toString()); } });
    await until('the end markers', () => read.filter((v) => v.startsWith('end-')).length === 3, 60_000);
    const copied = read.filter((v) => !v.startsWith('end-'));
    assert.strictEqual(copied.length, total, 'nothing twice, nothing missing');
    assert.deepStrictEqual(copied.sort(), values.map((v) => v.toUpperCase()).sort());
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(open.reverse().map((c) => c.disconnect().catch(() => {})));
    fs.rmSync(modules, { recursive: true, force: true });
  }
}

module.exports = { copyExactlyOnceThroughSigkill };
