#!/usr/bin/env node
// Times the `safe` CLI's put, get and rm of a 2.5 MiB file on the multi-process testnet
// (`safe-testnet --stack local`, every replica its own process on Kafka, Postgres and Redis),
// as test/stack/cli.test.ts runs it, and prints what went over the group bus for the Put.
//
//   bash scripts/stack/stack.sh up && npx tsc -b
//   node scripts/bench/stack-put.mjs [--rounds N] [--mib 2.5] [--keep]
//
// Each round puts a fresh random file, gets it back (compared) and removes it. The testnet's
// footprint in the stack (schemas, Redis keys, topics) is removed at the end unless --keep.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importIdentity, toHex } from '../../packages/core/dist/index.js';
import { createKafka, fromKafkaMessage } from '../../packages/kafka/dist/index.js';
import { openPostgres } from '../../packages/sql/dist/index.js';
import { loadStackEnv, replicaSchema } from '../../packages/testnet/dist/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TESTNET = join(ROOT, 'packages', 'testnet', 'dist', 'main.js');
const CLI = join(ROOT, 'packages', 'client', 'dist', 'cli.js');
const PERSONAS = ['maid-manager', 'data-manager', 'pmid-manager', 'pmid-node'];

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, mib: { type: 'string', default: '2.5' }, keep: { type: 'boolean', default: false } },
});
const rounds = Number(values.rounds);
const bytes = Math.round(Number(values.mib) * 1024 * 1024);

function run(command, args, env = {}) {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr, seconds: (Date.now() - started) / 1000 }),
    );
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Every record of the network's topics: persona topic, timestamp, size, type, sending persona. */
async function busRecords(brokers, network) {
  const kafka = createKafka({ brokers, clientId: 'bench-reader' });
  const admin = kafka.admin();
  await admin.connect();
  const topics = PERSONAS.map((p) => `safe.${network}.${p}`);
  const consumer = kafka.consumer({ groupId: `bench-${Date.now()}`, maxBytesPerPartition: 16 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
  const ends = new Map();
  let expected = 0;
  for (const topic of topics) {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      const n = Number(o.high) - Number(o.low);
      if (n > 0) ends.set(`${topic}/${o.partition}`, Number(o.high));
      expected += n;
    }
  }
  const records = [];
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await new Promise((resolve) => {
    if (expected === 0) resolve();
    void consumer.run({
      eachMessage: async ({ topic, message }) => {
        let envelope;
        try {
          envelope = fromKafkaMessage(message);
        } catch {
          envelope = undefined;
        }
        records.push({
          topic: topic.slice(topic.lastIndexOf('.') + 1),
          ts: Number(message.timestamp),
          size: message.value?.length ?? 0,
          type: envelope?.type ?? '?',
          from: envelope?.source.persona ?? '?',
        });
        if (records.length >= expected) resolve();
      },
    });
  });
  await consumer.disconnect();
  const groupIds = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('bench-'));
  await admin.deleteGroups(groupIds).catch(() => {});
  await admin.disconnect();
  return records.sort((a, b) => a.ts - b.ts);
}

function summarize(records, from, to) {
  const window = records.filter((r) => r.ts >= from && r.ts <= to);
  const rows = new Map();
  for (const r of window) {
    const key = `${r.from} -> ${r.topic} ${r.type}`;
    const row = rows.get(key) ?? { n: 0, bytes: 0, first: r.ts, last: r.ts };
    row.n++;
    row.bytes += r.size;
    row.last = r.ts;
    rows.set(key, row);
  }
  console.log(`  group bus during the put: ${window.length} records, ${(window.reduce((a, r) => a + r.size, 0) / 2 ** 20).toFixed(1)} MiB`);
  for (const [key, row] of rows) {
    console.log(
      `    ${key.padEnd(48)} ${String(row.n).padStart(4)} records ${(row.bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  +${((row.first - from) / 1000).toFixed(1)}..+${((row.last - from) / 1000).toFixed(1)} s`,
    );
  }
}

async function purge(stack, dataDir, network) {
  const replicas = [];
  for (const persona of PERSONAS) {
    for (const entry of await readdir(join(dataDir, persona)).catch(() => [])) {
      try {
        const nodeName = toHex(importIdentity(await readFile(join(dataDir, persona, entry, 'node.key'))).name);
        replicas.push({ persona, nodeName });
      } catch {
        // no key there
      }
    }
  }
  const db = await openPostgres({ url: stack.postgresUrl, schema: 'public', poolSize: 1 });
  for (const { persona, nodeName } of replicas.filter((r) => r.persona !== 'pmid-node'))
    await db.query(`DROP SCHEMA IF EXISTS "${replicaSchema(persona, nodeName)}" CASCADE`);
  await db.close();
  const patterns = [`safe:${network}:*`, ...replicas.map((r) => `safe:{${r.persona}:${r.nodeName.slice(0, 16)}}*`)];
  for (const pattern of patterns) {
    const { stdout } = await run('redis-cli', ['-u', stack.redisUrl, '--scan', '--pattern', pattern]);
    const keys = stdout.split('\n').filter(Boolean);
    if (keys.length > 0) await run('redis-cli', ['-u', stack.redisUrl, 'DEL', ...keys]);
  }
  const admin = createKafka({ brokers: stack.kafkaBrokers.split(','), clientId: 'bench-purge' }).admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`safe.${network}.`));
  if (topics.length > 0) await admin.deleteTopics({ topics });
  await admin.disconnect();
}

const dir = await mkdtemp(join(tmpdir(), 'safe-bench-'));
const dataDir = join(dir, 'testnet');
const stack = await loadStackEnv();
const child = spawn(process.execPath, [TESTNET, '--stack', 'local', '--data-dir', dataDir, '--fresh', '--port', '0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, SAFE_TESTNET_CALL_TIMEOUT_MS: '120000' },
});
let out = '';
const startedAt = Date.now();
await new Promise((resolve, reject) => {
  child.stdout.on('data', (chunk) => {
    out += chunk.toString();
    if (out.includes('testnet ready:')) resolve();
  });
  child.on('exit', (code) => reject(new Error(`testnet exited ${code}: ${out}`)));
});
const network = /network (testnet-[0-9a-f]{10})/.exec(out)?.[1];
const endpoint = /^endpoint: (127\.0\.0\.1:\d+)$/m.exec(out)?.[1];
console.log(`testnet ready after ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${endpoint}, network ${network}, data ${dataDir}`);

/** CPU seconds (user + system) used so far by the replicas and the Kafka broker. */
async function cpuSeconds() {
  const pids = [];
  for (const file of await readdir(join(dataDir, 'logs'))) {
    const match = /"pid":(\d+)/.exec(await readFile(join(dataDir, 'logs', file), 'utf8'));
    if (match) pids.push({ what: 'replicas', pid: match[1] });
  }
  const kafkaPid = (await readFile(join(ROOT, '.safe-stack', 'kafka', 'kafka.pid'), 'utf8').catch(() => '')).trim();
  if (kafkaPid) pids.push({ what: 'kafka', pid: kafkaPid });
  const total = { replicas: 0, kafka: 0 };
  for (const { what, pid } of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total[what] += (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
  }
  return total;
}

const env = { SAFE_HOME: join(dir, 'home'), SAFE_ENDPOINT: endpoint };
const times = { put: [], get: [], rm: [] };
const puts = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const content = randomBytes(bytes);
    await writeFile(join(dir, 'in.bin'), content);
    const from = Date.now();
    const cpuBefore = await cpuSeconds();
    const put = await run(process.execPath, [CLI, 'put', join(dir, 'in.bin')], env);
    puts.push({ from, to: Date.now() });
    const cpuAfter = await cpuSeconds();
    console.log(
      `  put CPU: replicas ${(cpuAfter.replicas - cpuBefore.replicas).toFixed(1)} s, kafka ${(cpuAfter.kafka - cpuBefore.kafka).toFixed(1)} s`,
    );
    if (put.code !== 0) throw new Error(`put failed: ${put.stderr}`);
    const name = put.stdout.trim().split('\n').at(-1);
    const get = await run(process.execPath, [CLI, 'get', name, '-o', join(dir, 'out.bin')], env);
    if (get.code !== 0 || !(await readFile(join(dir, 'out.bin'))).equals(content)) throw new Error(`get failed: ${get.stderr}`);
    const removed = await run(process.execPath, [CLI, 'rm', name], env);
    if (removed.code !== 0) throw new Error(`rm failed: ${removed.stderr}`);
    times.put.push(put.seconds);
    times.get.push(get.seconds);
    times.rm.push(removed.seconds);
    console.log(`round ${round}: put ${put.seconds.toFixed(1)} s, get ${get.seconds.toFixed(1)} s, rm ${removed.seconds.toFixed(1)} s`);
  }
  const records = await busRecords(stack.kafkaBrokers.split(','), network);
  for (const [i, p] of puts.entries()) {
    console.log(`put ${i + 1}:`);
    summarize(records, p.from, p.to);
  }
} finally {
  child.kill('SIGINT');
  await new Promise((resolve) => child.on('exit', resolve));
  if (!values.keep) {
    await purge(stack, dataDir, network).catch((error) => console.error(`purge: ${error.message}`));
    await rm(dir, { recursive: true, force: true });
  }
}
console.log(
  `medians over ${times.put.length} rounds: put ${median(times.put).toFixed(1)} s, get ${median(times.get).toFixed(1)} s, rm ${median(times.rm).toFixed(1)} s`,
);
process.exit(0);
