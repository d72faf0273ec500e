// Avro with the Schema Registry in Node: ferrokafka (its Kafka and SchemaRegistry) next to
// kafkajs with @kafkajs/confluent-schema-registry (avsc underneath), the same script for each
// (only the requires differ), on one release-build bundled broker and its registry: encode +
// produce N records (1,000 per send, up to 8 sends in flight), then consume them back by a
// consumer group with `eachBatch` and decode each, timed from the first record. Runs alternate
// between the clients; each figure is the median of R runs (min–max); the ratio is computed
// run by run. Writes its section into BENCHMARKS.md.
//
// Usage (after `bindings-node/test.sh` built the binding and installed its dev dependencies):
//   node bench/node_serde.js [--records N] [--runs R] [--out BENCHMARKS.md]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const root = path.join(__dirname, '..');
const SECTION = '## Avro with the Schema Registry in Node';
const PARTITIONS = 3;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const RECORDS = Number(arg('records', 100_000));
const RUNS = Number(arg('runs', 3));
const OUT = arg('out', path.join(root, 'BENCHMARKS.md'));
const modules = path.join(root, 'bindings-node', 'node_modules');
const ferrokafka = require(path.join(root, 'bindings-node'));
const clients = {
  ferrokafka: { kafka: ferrokafka, registry: ferrokafka },
  kafkajs: { kafka: require(path.join(modules, 'kafkajs')), registry: require(path.join(modules, '@kafkajs/confluent-schema-registry')) },
};
const version = (pkg) => require(path.join(modules, pkg, 'package.json')).version;

const SCHEMA = JSON.stringify({
  type: 'record', name: 'Order', namespace: 'bench', fields: [
    { name: 'id', type: 'string' },
    { name: 'customer', type: 'long' },
    { name: 'cents', type: 'int' },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID', 'SHIPPED'] } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' } },
  ],
});
const orders = Array.from({ length: 1000 }, (_, i) => ({
  id: `order-${i}`, customer: 1000 + (i % 97), cents: 100 + (i % 5000), status: ['NEW', 'PAID', 'SHIPPED'][i % 3],
  note: i % 2 ? null : 'gift wrap', tags: i % 4 ? ['web', 'eu'] : [],
}));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function startBroker() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-node-serde-bench-'));
  const url = `http://127.0.0.1:${await freePort()}`;
  const proc = spawn(path.join(root, 'target/release/ferrokafka-broker'),
    ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--set', `num.partitions=${PARTITIONS}`,
      '--set', `schema.registry.listeners=${url}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).once('line', resolve);
    proc.once('exit', (c) => reject(new Error(`broker exited ${c}`)));
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const stop = async () => { proc.kill('SIGTERM'); await exited; fs.rmSync(dataDir, { recursive: true, force: true }); };
  return { bootstrap: line.split(' ').at(-1).trim(), url, stop };
}

async function run(lib, bootstrap, url, n) {
  const { Kafka, logLevel } = clients[lib].kafka;
  const { SchemaRegistry, SchemaType } = clients[lib].registry;
  const registry = new SchemaRegistry({ host: url });
  const kafka = new Kafka({ clientId: `serde-${lib}`, brokers: [bootstrap], logLevel: logLevel.NOTHING ?? logLevel.ERROR });
  const topic = `serde-${lib}-${Date.now()}`;
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: SCHEMA }, { subject: `${topic}-value` });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  let started = process.hrtime.bigint();
  const inFlight = new Set();
  for (let base = 0; base < n; base += 1000) {
    const messages = [];
    for (let i = base; i < Math.min(base + 1000, n); i++) {
      messages.push({ value: await registry.encode(id, orders[i % orders.length]), partition: i % PARTITIONS });
    }
    const p = producer.send({ topic, messages }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const produceRate = n / (Number(process.hrtime.bigint() - started) / 1e9);
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: topic });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let got = 0;
  let last = null;
  started = null;
  const consumeRate = await new Promise((resolve, reject) => {
    consumer.run({
      eachBatch: async ({ batch }) => {
        if (started === null) started = process.hrtime.bigint();
        for (const m of batch.messages) last = await registry.decode(m.value);
        got += batch.messages.length;
        if (got >= n) resolve(n / (Number(process.hrtime.bigint() - started) / 1e9));
      },
    }).catch(reject);
  });
  if (!String(last.id).startsWith('order-')) throw new Error(`decoded ${JSON.stringify(last)}`);
  await consumer.disconnect();
  return [produceRate, consumeRate];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `${Math.round(median(xs)).toLocaleString('en-US')} (${Math.round(Math.min(...xs)).toLocaleString('en-US')}–${Math.round(Math.max(...xs)).toLocaleString('en-US')})`;
const ratio = (xs) => `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

async function main() {
  const broker = await startBroker();
  const results = { ferrokafka: [], kafkajs: [] };
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const lib of Object.keys(results)) {
        results[lib].push(await run(lib, broker.bootstrap, broker.url, RECORDS));
        console.log(lib, results[lib].at(-1));
      }
    }
  } finally {
    await broker.stop();
  }
  const peer = `kafkajs ${version('kafkajs')} + @kafkajs/confluent-schema-registry ${version('@kafkajs/confluent-schema-registry')} (avsc ${version('avsc')})`;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [SECTION, '',
    `Generated by \`bench/node_serde.js\` (\`make bench-serde-node\`) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${cpu}, ${os.cpus().length} cores, Node ${process.version}.`, '',
    `The same script for each client, only the requires differ: ${RECORDS.toLocaleString('en-US')} Avro records (the order of the Python section) `
    + `encoded with \`registry.encode(id, value)\` and sent 1,000 per \`send\` (up to 8 in flight) to ${PARTITIONS} partitions; then consumed by a group `
    + `with \`eachBatch\` and each decoded with \`registry.decode\`, timed from the first record. One release-build broker with its registry; runs `
    + `alternate, ${RUNS} each; median (min–max) of records per second.`, '',
    '| client | encode + produce rec/s | consume + decode rec/s |', '|---|---|---|',
    `| ferrokafka (Node binding) | ${fmt(results.ferrokafka.map((r) => r[0]))} | ${fmt(results.ferrokafka.map((r) => r[1]))} |`,
    `| ${peer} | ${fmt(results.kafkajs.map((r) => r[0]))} | ${fmt(results.kafkajs.map((r) => r[1]))} |`,
    `| ferrokafka / kafkajs | ${ratio(results.ferrokafka.map((r, i) => r[0] / results.kafkajs[i][0]))} | ${ratio(results.ferrokafka.map((r, i) => r[1] / results.kafkajs[i][1]))} |`, ''];
  const section = lines.join('\n');
  console.log(section);
  let text = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '# Benchmarks\n';
  if (text.includes(SECTION)) {
    const [head, rest] = [text.slice(0, text.indexOf(SECTION)), text.slice(text.indexOf(SECTION) + SECTION.length)];
    const next = rest.indexOf('\n## ');
    text = head + section.trimEnd() + '\n' + (next >= 0 ? '\n' + rest.slice(next + 1) : '');
  } else {
    text = text.trimEnd() + '\n\n' + section.trimEnd() + '\n';
  }
  fs.writeFileSync(OUT, text);
}

main().catch((e) => { console.error(e); process.exit(1); });
