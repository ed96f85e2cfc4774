#!/usr/bin/env node
// Times the `safe` CLI's put, get and rm of a 2.5 MiB file on the multi-process testnet
// (`safe-testnet --stack local`, every replica its own process on Kafka, Postgres and Redis),
// as test/stack/cli.test.ts runs it, and prints what went over the group bus for the Put.
//
//   bash scripts/stack/stack.sh up && npx tsc -b
//   node scripts/bench/stack-put.mjs [--rounds N] [--mib 2.5] [--keep]
//
// Each round puts a fresh random file, gets it back (compared) and removes it. The testnet's
// footprint in the stack (schemas, Redis keys, topics, consumer groups) is removed at the end unless --keep.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitAfterCleanup } from './child-processes.mjs';
import { footprintOf, purgeTestnet, stackPids } from './local-stack.mjs';
import { cpuDelta, cpuSnapshot, replicasOf } from './proc-cpu.mjs';
import { built, PERSONAS } from './repo.mjs';
import { safe, startTestnet } from './testnet-process.mjs';

const { kafka: kafkaPackage, testnet: testnetPackage } = await built();
const { createKafka, fromKafkaMessage } = kafkaPackage;

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, mib: { type: 'string', default: '2.5' }, keep: { type: 'boolean', default: false } },
});
const rounds = Number(values.rounds);
const bytes = Math.round(Number(values.mib) * 1024 * 1024);

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

const dir = await mkdtemp(join(tmpdir(), 'safe-bench-'));
const dataDir = join(dir, 'testnet');
const stack = await testnetPackage.loadStackEnv();
const testnet = await startTestnet({ stack: 'local', dataDir, env: { SAFE_TESTNET_CALL_TIMEOUT_MS: '120000' } });
const { network, endpoint } = testnet;
console.log(`testnet ready after ${testnet.seconds.toFixed(1)} s: ${endpoint}, network ${network}, data ${dataDir}`);

/** The replicas' and the Kafka broker's processes, for CPU seconds (user + system) around each put. */
const cpuGroups = { replicas: (await replicasOf(testnet.pid)).map((r) => r.pid), kafka: [(await stackPids()).kafka] };

const home = join(dir, 'home');
const times = { put: [], get: [], rm: [] };
const puts = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const content = randomBytes(bytes);
    await writeFile(join(dir, 'in.bin'), content);
    const from = Date.now();
    const cpuBefore = await cpuSnapshot(cpuGroups);
    const put = await safe(endpoint, home, ['put', join(dir, 'in.bin')], 300_000);
    puts.push({ from, to: Date.now() });
    const cpu = cpuDelta(cpuBefore, await cpuSnapshot(cpuGroups));
    console.log(`  put CPU: replicas ${(cpu.replicas ?? 0).toFixed(1)} s, kafka ${(cpu.kafka ?? 0).toFixed(1)} s`);
    if (put.code !== 0) throw new Error(`put failed: ${put.stderr}`);
    const name = put.stdout.trim().split('\n').at(-1);
    const get = await safe(endpoint, home, ['get', name, '-o', join(dir, 'out.bin')], 300_000);
    if (get.code !== 0 || !(await readFile(join(dir, 'out.bin'))).equals(content)) throw new Error(`get failed: ${get.stderr}`);
    const removed = await safe(endpoint, home, ['rm', name], 300_000);
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
  await testnet.stop();
  if (!values.keep) {
    for (const problem of await purgeTestnet(stack, await footprintOf(dataDir, network))) console.error(`purge: ${problem}`);
    await rm(dir, { recursive: true, force: true });
  }
}
console.log(
  `medians over ${times.put.length} rounds: put ${median(times.put).toFixed(1)} s, get ${median(times.get).toFixed(1)} s, rm ${median(times.rm).toFixed(1)} s`,
);
await exitAfterCleanup(0);
