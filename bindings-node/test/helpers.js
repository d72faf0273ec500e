// Shared by the suites: the bundled broker started through the binding (a free port, a temp
// data directory), and polling helpers.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const ferrokafka = require('..');

async function startBroker(settings = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fk-node-'));
  const broker = await ferrokafka.startBroker({ listen: '127.0.0.1:0', dataDir, settings });
  return {
    broker,
    brokers: broker.brokers,
    async stop() {
      await broker.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// Resolves once `check()` is true (polled every 10 ms); rejects after `ms`.
async function until(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let counter = 0;
const unique = (prefix) => `${prefix}-${process.pid}-${Date.now()}-${counter++}`;

module.exports = { startBroker, until, sleep, unique };
