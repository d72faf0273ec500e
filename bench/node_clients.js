// Node clients side by side on one release-build bundled broker: ferrokafka (the binding)
// and kafkajs, the same script for each (only the require differs): produce N records of
// 100 B with `send` (1,000 messages per call, up to 8 calls in flight), then consume them back
// through a consumer group with `eachMessage`, timed from the first record to the last.
// Runs alternate between the clients; each figure is the median of R runs (min–max); the
// ratio is computed run by run. Writes its section into BENCHMARKS.md.
//
// Usage (after `bindings-node/test.sh` built the binding and installed kafkajs):
//   node bench/node_clients.js [--records N] [--runs R] [--out BENCHMARKS.md]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const root = path.join(__dirname, '..');
const SECTION = '## Node clients on the bundled broker';
const PARTITIONS = 6;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const RECORDS = Number(arg('records', 200_000));
const RUNS = Number(arg('runs', 3));
const OUT = arg('out', path.join(root, 'BENCHMARKS.md'));
const clients = {
  ferrokafka: require(path.join(root, 'bindings-node')),
  kafkajs: require(path.join(root, 'bindings-node', 'node_modules', 'kafkajs')),
};
const kafkajsVersion = require(path.join(root, 'bindings-node', 'node_modules', 'kafkajs', 'package.json')).version;

async function startBroker() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-node-bench-'));
  const proc = spawn(path.join(root, 'target/release/ferrokafka-broker'),
    ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--set', `num.partitions=${PARTITIONS}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).once('line', resolve);
    proc.once('exit', (c) => reject(new Error(`broker exited ${c}`)));
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  // The data directory goes once the broker has finished writing it (its shutdown flushes
  // the logs and the group coordinator's state).
  const stop = async () => { proc.kill('SIGTERM'); await exited; fs.rmSync(dataDir, { recursive: true, force: true }); };
  return { bootstrap: line.split(' ').at(-1).trim(), stop };
}

async function run(lib, bootstrap, n) {
  const { Kafka, logLevel } = clients[lib];
  const kafka = new Kafka({ clientId: `bench-${lib}`, brokers: [bootstrap], logLevel: logLevel.NOTHING ?? logLevel.ERROR });
  const topic = `bench-${lib}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
  await admin.disconnect();
  const value = Buffer.alloc(100, 'x');
  const producer = kafka.producer();
  await producer.connect();
  let started = process.hrtime.bigint();
  const inFlight = new Set();
  for (let base = 0; base < n; base += 1000) {
    const messages = [];
    for (let i = base; i < Math.min(base + 1000, n); i++) messages.push({ value, partition: i % PARTITIONS });
    const p = producer.send({ topic, messages, acks: 1 }).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const produceS = Number(process.hrtime.bigint() - started) / 1e9;
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-g` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let got = 0;
  let first = null;
  await new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        if (first === null) first = process.hrtime.bigint();
        if (message.value.length === 100) got++;
        if (got === n) resolve();
      },
    });
  });
  const consumeS = Number(process.hrtime.bigint() - first) / 1e9;
  await consumer.disconnect();
  return { produce: n / produceS, consume: (n - 1) / consumeS };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => xs.length > 1
  ? `${Math.round(median(xs)).toLocaleString('en-US')} (${Math.round(Math.min(...xs)).toLocaleString('en-US')}–${Math.round(Math.max(...xs)).toLocaleString('en-US')})`
  : Math.round(xs[0]).toLocaleString('en-US');
const ratio = (a, b) => { const r = a.map((x, i) => x / b[i]); return `${median(r).toFixed(2)}× (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`; };

async function main() {
  const broker = await startBroker();
  const results = { ferrokafka: [], kafkajs: [] };
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const lib of Object.keys(clients)) {
        const res = await run(lib, broker.bootstrap, RECORDS);
        results[lib].push(res);
        console.log(`run ${r + 1}/${RUNS} ${lib}: produce ${Math.round(res.produce)} rec/s, consume ${Math.round(res.consume)} rec/s`);
      }
    }
  } finally {
    await broker.stop();
  }
  const cpu = os.cpus();
  const lines = [SECTION, '',
    `Generated by \`bench/node_clients.js\` (\`make bench-node\`) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; `
    + `${cpu[0].model}, ${cpu.length} cores, Node ${process.version}, kafkajs ${kafkajsVersion}.`, '',
    `The same script for each client (${RECORDS.toLocaleString('en-US')} records of 100 B, ${PARTITIONS} partitions, acks=1): `
    + '`producer.send` with 1,000 messages per call and up to 8 calls in flight; then a consumer group reads them back with '
    + '`eachMessage`, timed from the first record to the last. One release-build broker; clients alternate; '
    + `${RUNS} runs, median (min–max); the ratio is ferrokafka over kafkajs, run by run.`, '',
    '| client | produce rec/s | consume rec/s |', '|---|---|---|'];
  for (const [lib, rs] of Object.entries(results)) lines.push(`| ${lib} | ${fmt(rs.map((r) => r.produce))} | ${fmt(rs.map((r) => r.consume))} |`);
  lines.push(`| ferrokafka / kafkajs | ${ratio(results.ferrokafka.map((r) => r.produce), results.kafkajs.map((r) => r.produce))} | `
    + `${ratio(results.ferrokafka.map((r) => r.consume), results.kafkajs.map((r) => r.consume))} |`, '');
  const section = lines.join('\n');
  let text = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '# Benchmarks\n';
  if (text.includes(SECTION)) {
    const [head, rest] = [text.slice(0, text.indexOf(SECTION)), text.slice(text.indexOf(SECTION) + SECTION.length)];
    const next = rest.indexOf('\n## ');
    text = head + section + (next >= 0 ? '\n' + rest.slice(next + 1) : '');
  } else {
    text = text.trimEnd() + '\n\n' + section;
  }
  fs.writeFileSync(OUT, text);
  console.log(section);
}

main().catch((e) => { console.error(e); process.exit(1); });
