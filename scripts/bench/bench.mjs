#!/usr/bin/env node
// `pnpm bench` (issue 15, part 5): `safe put` and a cold `safe get` of random files through the
// CLI, on the embedded testnet and on the multi-process testnet on the real stack, with the CPU
// each persona and Kafka, Postgres and Redis used per MiB put, what went over Kafka per MiB put
// (from the replicas' /metrics and the broker's logs), and plain kafkajs produce and consume of
// 1 MiB records on the same broker for comparison.
//
//   pnpm bench [--sizes 1,5,20] [--modes embedded,stack] [--replicas 6,12] [--out docs/bench/latest.md]
//              [--op-timeout 600]
//
// `pnpm bench` builds (`tsc -b`) first; `node scripts/bench/bench.mjs` runs on what is built.
// --replicas is the number of DataManagers and of PmidManagers (6 MaidManagers, 8 PmidNodes).
// Every replica runs with its chunk cache off (SAFE_CACHE_BYTES=0, SAFE_CACHE_ENTRIES=0), so a
// get is served by the PmidNodes, not from memory. The table goes to stdout; the same as
// Markdown and JSON to --out (FILE.md and FILE.json). Every step has a timeout; a step that fails
// is reported and the bench goes on. Every child process is stopped at the end (also on Ctrl-C),
// the temp dirs removed, and what the multi-process testnet left in the stack deleted.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { atExit, exitAfterCleanup, run, stopping, tail, withTimeout } from './child-processes.mjs';
import { footprintOf, kafkaLogBytes, purgeTestnet, stackPids } from './local-stack.mjs';
import { cpuDelta, cpuSnapshot, reapedChildrenCpu, replicasOf } from './proc-cpu.mjs';
import { scrape, sumMetric } from './replica-metrics.mjs';
import { built, MIB, PERSONAS, ROOT, STACK_SH } from './repo.mjs';
import { heading, outputFiles, renderMarkdown, renderText } from './report.mjs';
import { fmt, sumOf } from './report-format.mjs';
import { safe, startTestnet } from './testnet-process.mjs';

const USAGE = `usage: pnpm bench [--sizes 1,5,20] [--modes embedded,stack] [--replicas 6,12] [--out FILE] [--op-timeout S]`;
let values;
try {
  ({ values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1,5,20' },
      modes: { type: 'string', default: 'embedded,stack' },
      replicas: { type: 'string', default: '6,12' },
      out: { type: 'string', default: 'docs/bench/latest.md' },
      'op-timeout': { type: 'string', default: '600' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const list = (text) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const sizes = list(values.sizes).map(Number);
const modes = list(values.modes);
const replicaCounts = list(values.replicas).map(Number);
const opTimeoutMs = Number(values['op-timeout']) * 1000;
const problems = [
  ...sizes.filter((s) => !(s > 0)).map((s) => `--sizes: ${s} is not a positive number of MiB`),
  ...modes.filter((m) => m !== 'embedded' && m !== 'stack').map((m) => `--modes: ${m} is neither embedded nor stack`),
  ...replicaCounts.filter((r) => !Number.isInteger(r) || r < 1).map((r) => `--replicas: ${r} is not a whole number ≥ 1`),
  ...(opTimeoutMs > 0 ? [] : ['--op-timeout: not a positive number of seconds']),
];
if (problems.length > 0) {
  console.error(`${problems.join('\n')}\n${USAGE}`);
  process.exit(2);
}

const MAID_MANAGERS = 6;
const PMID_NODES = 8;
const PLAIN_RECORDS = 100;
/** Every replica's chunk cache off: a get is answered by the PmidNodes holding the chunks. */
const NO_CACHE = { SAFE_CACHE_BYTES: '0', SAFE_CACHE_ENTRIES: '0' };
/** The Gateway waits as long as the client's own per-call deadline (60 s) for a group's answer. */
const CALL_TIMEOUT = { SAFE_TESTNET_CALL_TIMEOUT_MS: '60000' };
const IDLE_WARMUP_MS = 5_000;
const IDLE_MS = 10_000;
const SETTLE_MAX_MS = 30_000;
const BUS = {
  publishedBytes: 'safe_bus_published_bytes_total',
  published: 'safe_bus_published_total',
  consumedBytes: 'safe_bus_consumed_bytes_total',
  consumed: 'safe_bus_consumed_total',
  cacheHits: 'safe_cache_hits_total',
};

const log = (line) => console.log(line);
const errorText = (error) => (error instanceof Error ? error.message : String(error));

// ---- the machine ----

async function machineInfo() {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const commit = await run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 });
  const dirty = await run('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { timeoutMs: 10_000 });
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    node: process.version,
    kernel: release(),
    commit: `${commit.stdout.trim() || 'unknown'}${dirty.stdout.trim() ? ' (with uncommitted changes)' : ''}`,
    loadAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

// ---- plain kafkajs on the same broker ----

/** 100 records of 1 MiB produced one at a time (acks from all in-sync replicas), then consumed, on a throwaway topic. */
async function plainKafka(stack, kafkaPid) {
  const { kafka } = await built();
  const client = kafka.createKafka({ brokers: stack.kafkaBrokers, clientId: 'bench-plain', requestTimeoutMs: 30_000 });
  const id = randomBytes(4).toString('hex');
  const topic = `bench.plain.${id}`;
  const groupId = `bench-plain-${id}`;
  const admin = client.admin();
  const producer = client.producer();
  const consumer = client.consumer({ groupId, maxBytesPerPartition: 16 * MIB, maxBytes: 64 * MIB });
  const cleanup = async () => {
    await producer.disconnect().catch(() => {});
    await consumer.disconnect().catch(() => {});
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 }).catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  };
  const unregister = atExit(cleanup);
  try {
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(8 * MIB) }] }],
      waitForLeaders: true,
    });
    await producer.connect();
    const value = randomBytes(MIB);
    // A new topic's partition may not be served yet on a busy broker: one untimed record first, retried until it is.
    for (const deadline = Date.now() + 60_000; ; await sleep(500)) {
      try {
        await producer.send({ topic, messages: [{ key: 'first', value }] });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
    const cpuBefore = await cpuSnapshot({ kafka: [kafkaPid] });
    let started = performance.now();
    for (let i = 0; i < PLAIN_RECORDS; i++) await producer.send({ topic, messages: [{ key: String(i), value }] });
    const produceSeconds = (performance.now() - started) / 1000;
    const kafkaCpu = cpuDelta(cpuBefore, await cpuSnapshot({ kafka: [kafkaPid] })).kafka;
    let joinedAt;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joinedAt = performance.now();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    started = performance.now();
    let received = 0;
    let bytes = 0;
    const consumeSeconds = await withTimeout(
      new Promise((done) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            bytes += message.value?.length ?? 0;
            if (++received === PLAIN_RECORDS + 1) done((performance.now() - (joinedAt ?? started)) / 1000);
          },
        });
      }),
      120_000,
      `consuming ${PLAIN_RECORDS + 1} records (got ${received})`,
    );
    const mib = bytes / MIB;
    return {
      records: PLAIN_RECORDS,
      recordBytes: MIB,
      how: 'one partition, one record per send awaited in turn (acks=all); consumed (with one more record sent first, untimed) from the group join to the last record',
      produceSeconds,
      produceMiBps: PLAIN_RECORDS / produceSeconds,
      consumeSeconds,
      consumeMiBps: mib / consumeSeconds,
      kafkaCpuPerMiBProduced: kafkaCpu === undefined ? undefined : kafkaCpu / PLAIN_RECORDS,
    };
  } finally {
    await cleanup();
    unregister();
  }
}

// ---- one testnet ----

/** What the replicas' /metrics say now, per replica (pid): the bus counters and cache hits, undefined where absent. */
async function busSnapshot(replicas) {
  const snapshot = new Map();
  await Promise.all(
    replicas.map(async (r) => {
      const text = r.adminPort === undefined ? undefined : await scrape(r.adminPort);
      const row = { persona: r.persona, text: text !== undefined };
      for (const [key, name] of Object.entries(BUS)) {
        row[key] = sumMetric(text, name);
        row[`${key}Known`] = text !== undefined && new RegExp(`^(# (TYPE|HELP) )?${name}[ {]`, 'm').test(text);
      }
      snapshot.set(r.pid, row);
    }),
  );
  return snapshot;
}

/**
 * Per counter: the total over the replicas between two scrapes, and per replica. A counter with
 * labels shows no sample until it is first counted, so a replica without it counts from 0 once
 * any replica shows it; a counter no replica shows is undefined (printed "n/a").
 */
function busDelta(before, after) {
  const result = {};
  for (const key of Object.keys(BUS)) {
    const known = [...after.values(), ...before.values()].some((row) => row[`${key}Known`]);
    if (!known) {
      result[key] = undefined;
      continue;
    }
    const perReplica = [];
    for (const [pid, row] of after) {
      if (!row.text || !before.get(pid)?.text) continue; // a replica that did not answer both times says nothing
      perReplica.push({ persona: row.persona, value: (row[key] ?? 0) - (before.get(pid)[key] ?? 0) });
    }
    result[key] = { total: perReplica.reduce((a, r) => a + r.value, 0), perReplica, answered: perReplica.length, of: after.size };
  }
  return result;
}

/** Records in every topic of the network now (the sum of their end offsets), undefined if the broker does not say. */
async function topicRecords(admin, network) {
  if (admin === undefined) return undefined;
  try {
    let sum = 0;
    const topics = (await withTimeout(admin.listTopics(), 20_000, 'topics')).filter((t) => t.startsWith(`safe.${network}.`));
    for (const topic of topics) {
      for (const o of await withTimeout(admin.fetchTopicOffsets(topic), 20_000, 'offsets')) sum += Number(o.high);
    }
    return sum;
  } catch {
    return undefined;
  }
}

/**
 * After an operation the replicas may still be finishing it (the group's other copies, syncs):
 * waits until the system's processes are back near their rate at rest and the bus is quiet,
 * at most SETTLE_MAX_MS. Returns the seconds waited.
 */
async function settle(systemGroups, replicas, idleCores) {
  const started = performance.now();
  let cpu = await cpuSnapshot(systemGroups);
  let published = busTotal(await busSnapshot(replicas));
  let at = performance.now();
  while (performance.now() - started < SETTLE_MAX_MS) {
    await sleep(1000);
    const cpuNow = await cpuSnapshot(systemGroups);
    const publishedNow = busTotal(await busSnapshot(replicas));
    const now = performance.now();
    const cores = Object.values(cpuDelta(cpu, cpuNow)).reduce((a, b) => a + b, 0) / ((now - at) / 1000);
    if (cores <= idleCores + 0.25 && publishedNow === published) break;
    cpu = cpuNow;
    published = publishedNow;
    at = now;
  }
  return (performance.now() - started) / 1000;
}

function busTotal(snapshot) {
  let total = 0;
  for (const row of snapshot.values()) total += (row.published ?? 0) + (row.consumed ?? 0);
  return total;
}

/**
 * Runs `op` (a CLI call) and measures around it: wall time, the CLI's own CPU, each process
 * group's CPU, the bus counters, the broker's log bytes and records; CPU and bus are counted
 * until the system has settled after the call.
 */
async function measured(ctx, op) {
  const before = {
    cpu: await cpuSnapshot(ctx.groups),
    bus: await busSnapshot(ctx.replicas),
    client: await reapedChildrenCpu(),
    logBytes: ctx.network ? await kafkaLogBytes(`safe.${ctx.network}.`) : undefined,
    records: await topicRecords(ctx.admin, ctx.network),
  };
  const result = await op();
  const clientCpu = (await reapedChildrenCpu()) - before.client;
  const settleSeconds = await settle(ctx.systemGroups, ctx.replicas, ctx.idleSystemCores);
  const cpu = cpuDelta(before.cpu, await cpuSnapshot(ctx.groups));
  cpu.client = clientCpu;
  const bus = busDelta(before.bus, await busSnapshot(ctx.replicas));
  const logBytes = ctx.network ? (await kafkaLogBytes(`safe.${ctx.network}.`)) - before.logBytes : undefined;
  const recordsAfter = await topicRecords(ctx.admin, ctx.network);
  const records = recordsAfter === undefined || before.records === undefined ? undefined : recordsAfter - before.records;
  return { result, cpu, clientCpu, settleSeconds, windowSeconds: result.seconds + settleSeconds, bus, broker: { logBytes, records } };
}

/** Start a testnet, measure it at rest, then put / cold get / rm each size; stops and cleans up whatever happens. */
async function benchTestnet({ mode, replicas: count, stack, workDir }) {
  const counts = { 'maid-manager': MAID_MANAGERS, 'data-manager': count, 'pmid-manager': count, 'pmid-node': PMID_NODES };
  const entry = { mode, counts, ops: [] };
  const dir = await mkdtemp(join(workDir, `${mode}-${count}-`));
  const dataDir = join(dir, 'testnet');
  const home = join(dir, 'home');
  log(`\n== ${mode}: ${count} DataManagers and PmidManagers (${MAID_MANAGERS} MaidManagers, ${PMID_NODES} PmidNodes) ==`);
  let testnet;
  let admin;
  // Stops the testnet and removes what it left, once: at the end of this run, or on Ctrl-C.
  let tornDown;
  const teardown = () =>
    (tornDown ??= (async () => {
      if (admin !== undefined) await admin.disconnect().catch(() => {});
      if (testnet !== undefined) await testnet.stop();
      if (mode === 'stack') {
        // Also after a start that failed half way: the network is named after the data dir.
        const network = testnet?.network ?? (await built()).testnet.networkFor(dataDir);
        const left = await purgeTestnet(stack, await footprintOf(dataDir, network));
        if (left.length > 0) log(`  cleaning the stack: ${left.join('; ')}`);
      }
      await rm(dir, { recursive: true, force: true });
    })());
  const unregister = atExit(teardown);
  try {
    testnet = await startTestnet({
      stack: mode === 'stack' ? 'local' : 'embedded',
      dataDir,
      env: {
        ...NO_CACHE,
        ...CALL_TIMEOUT,
        SAFE_TESTNET_MAID_MANAGERS: String(MAID_MANAGERS),
        SAFE_TESTNET_DATA_MANAGERS: String(count),
        SAFE_TESTNET_PMID_MANAGERS: String(count),
        SAFE_TESTNET_PMID_NODES: String(PMID_NODES),
      },
    });
    entry.startSeconds = testnet.seconds;
    entry.summary = testnet.summary;
    log(`testnet ready in ${testnet.seconds.toFixed(1)} s: ${testnet.summary}`);

    const ctx = { replicas: [], network: undefined, admin: undefined };
    if (mode === 'stack') {
      ctx.replicas = await replicasOf(testnet.pid);
      ctx.network = testnet.network;
      const personaGroups = Object.fromEntries(PERSONAS.map((p) => [p, ctx.replicas.filter((r) => r.persona === p).map((r) => r.pid)]));
      ctx.systemGroups = { ...personaGroups, launcher: [testnet.pid] };
      const servers = await stackPids();
      ctx.groups = {
        ...ctx.systemGroups,
        kafka: [servers.kafka],
        postgres: [{ pid: servers.postgres, tree: true }],
        redis: [servers.redis],
      };
      entry.processes = { replicas: ctx.replicas.length, withAdminPort: ctx.replicas.filter((r) => r.adminPort).length, servers };
      const { kafka } = await built();
      admin = kafka.createKafka({ brokers: stack.kafkaBrokers, clientId: 'bench-offsets' }).admin();
      await withTimeout(admin.connect(), 30_000, 'kafka admin connect').then(
        () => {
          ctx.admin = admin;
        },
        (error) => log(`  (no broker record counts: ${errorText(error)})`),
      );
    } else {
      ctx.systemGroups = { testnet: [testnet.pid] };
      ctx.groups = ctx.systemGroups;
    }

    // At rest: what the testnet costs doing nothing, per group.
    await sleep(IDLE_WARMUP_MS);
    const idleBefore = await cpuSnapshot(ctx.groups);
    await sleep(IDLE_MS);
    const idle = cpuDelta(idleBefore, await cpuSnapshot(ctx.groups));
    entry.idleCores = Object.fromEntries(Object.entries(idle).map(([k, v]) => [k, v / (IDLE_MS / 1000)]));
    ctx.idleSystemCores = sumOf(entry.idleCores, Object.keys(ctx.systemGroups));
    log(`at rest: ${ctx.idleSystemCores.toFixed(2)} cores for the testnet's processes`);

    // The client's first use makes its identity and account: outside the measurements.
    const warm = join(dir, 'warm.bin');
    await writeFile(warm, randomBytes(4096));
    const warmPut = await safe(testnet.endpoint, home, ['put', warm], opTimeoutMs);
    if (warmPut.code === 0) await safe(testnet.endpoint, home, ['rm', warmPut.stdout.trim().split('\n').at(-1)], opTimeoutMs);
    else log(`  warm-up put failed (exit ${warmPut.code}): ${tail(warmPut.stderr)}`);
    // What a call leaves going on (the group's other copies, syncs) must not land in the next one's counts.
    await settle(ctx.systemGroups, ctx.replicas, ctx.idleSystemCores);

    for (const size of sizes) {
      if (stopping()) break;
      const bytes = Math.round(size * MIB);
      const input = join(dir, 'in.bin');
      const output = join(dir, 'out.bin');
      const content = randomBytes(bytes);
      await writeFile(input, content);
      const put = await measured(ctx, () => safe(testnet.endpoint, home, ['put', input], opTimeoutMs));
      const name = put.result.stdout.trim().split('\n').at(-1) ?? '';
      const putOk = put.result.code === 0 && /^[0-9a-f]{128}$/.test(name);
      entry.ops.push(opRow('put', size, put, putOk ? undefined : failure(put.result)));
      report(entry.ops.at(-1));
      if (!putOk) continue;
      await rm(output, { force: true });
      const get = await measured(ctx, () => safe(testnet.endpoint, home, ['get', name, '-o', output], opTimeoutMs));
      let getError = get.result.code === 0 ? undefined : failure(get.result);
      if (getError === undefined) {
        const back = await readFile(output).catch(() => Buffer.alloc(0));
        if (!back.equals(content)) getError = `the file got back differs (${back.length} bytes, put ${content.length})`;
      }
      entry.ops.push(opRow('get', size, get, getError));
      report(entry.ops.at(-1));
      const removed = await safe(testnet.endpoint, home, ['rm', name], opTimeoutMs);
      await settle(ctx.systemGroups, ctx.replicas, ctx.idleSystemCores);
      entry.ops.push({
        op: 'rm',
        mib: size,
        ok: removed.code === 0,
        error: removed.code === 0 ? undefined : failure(removed),
        wallSeconds: removed.seconds,
      });
      report(entry.ops.at(-1));
    }
  } catch (error) {
    entry.error = errorText(error);
    log(`  FAILED: ${entry.error}`);
  } finally {
    await teardown();
    unregister();
  }
  return entry;
}

function failure(result) {
  return result.timedOut ? `timed out after ${opTimeoutMs / 1000} s` : `exit ${result.code}: ${tail(result.stderr || result.stdout)}`;
}

function opRow(op, mib, m, error) {
  const row = {
    op,
    mib,
    ok: error === undefined,
    error,
    wallSeconds: m.result.seconds,
    mibPerSecond: error === undefined ? mib / m.result.seconds : undefined,
    settleSeconds: m.settleSeconds,
    cpuSeconds: m.cpu,
    cpuSecondsPerMiB: Object.fromEntries(Object.entries(m.cpu).map(([k, v]) => [k, v / mib])),
    bus: {},
    broker: {
      logMiBPerMiB: m.broker.logBytes === undefined ? undefined : m.broker.logBytes / MIB / mib,
      recordsPerMiB: m.broker.records === undefined ? undefined : m.broker.records / mib,
    },
  };
  for (const [key, delta] of Object.entries(m.bus)) {
    if (delta === undefined) {
      row.bus[key] = undefined;
      continue;
    }
    row.bus[key] = {
      total: delta.total,
      perMiB: delta.total / (key.endsWith('Bytes') ? MIB : 1) / mib,
      answered: delta.answered,
      of: delta.of,
    };
  }
  const reads = m.bus.consumedBytes?.perReplica;
  if (reads !== undefined) {
    row.readPerReplicaMiB = {};
    for (const persona of ['data-manager', 'pmid-manager']) {
      const mine = reads.filter((r) => r.persona === persona).map((r) => r.value / MIB);
      if (mine.length > 0)
        row.readPerReplicaMiB[persona] = {
          max: Math.max(...mine),
          mean: mine.reduce((a, b) => a + b, 0) / mine.length,
          replicas: mine.length,
        };
    }
  }
  return row;
}

function report(row) {
  const what = `${row.op} ${row.mib} MiB`.padEnd(14);
  if (!row.ok) return log(`  ${what} FAILED after ${row.wallSeconds.toFixed(1)} s: ${row.error}`);
  if (row.op === 'rm') return log(`  ${what} ${row.wallSeconds.toFixed(1)} s`);
  const cpu = Object.values(row.cpuSeconds).reduce((a, b) => a + b, 0);
  log(
    `  ${what} ${row.wallSeconds.toFixed(1)} s, ${fmt(row.mibPerSecond, 2)} MiB/s, ${fmt(cpu / row.mib, 1)} CPU-s/MiB (settled ${row.settleSeconds.toFixed(0)} s after)`,
  );
}

// ---- the run ----

const data = {
  machine: await machineInfo(),
  options: { sizes, modes, replicas: replicaCounts, opTimeoutSeconds: opTimeoutMs / 1000 },
  settings: [
    "every replica's chunk cache off (SAFE_CACHE_BYTES=0, SAFE_CACHE_ENTRIES=0): a get is answered by the PmidNodes (the OS page cache is not dropped)",
    `${MAID_MANAGERS} MaidManagers and ${PMID_NODES} PmidNodes; DM/PM = DataManagers and PmidManagers each`,
    "each file is fresh random bytes; a 4 KiB put and rm first make the client's account, unmeasured",
    `each op's time limit ${opTimeoutMs / 1000} s; the Gateway waits 60 s for a group's answer (SAFE_TESTNET_CALL_TIMEOUT_MS)`,
  ],
  baseline: undefined,
  runs: [],
};
log(heading(data).slice(0, 3).join('\n'));

const workDir = await mkdtemp(join(tmpdir(), 'safe-bench-'));
atExit(() => rm(workDir, { recursive: true, force: true }));

try {
  const { testnet: testnetPackage } = await built();
  for (const mode of modes) {
    if (stopping()) break;
    let stack;
    if (mode === 'stack') {
      log('\n== the local stack: bash scripts/stack/stack.sh up ==');
      const up = await run('bash', [STACK_SH, 'up'], { timeoutMs: 15 * 60_000 });
      if (up.code !== 0) {
        const why = up.timedOut ? 'timed out after 15 min' : tail(up.stderr, 5);
        log(`stack up FAILED: ${why}`);
        data.runs.push({ mode, counts: { 'data-manager': '-' }, ops: [], error: `stack up: ${why}` });
        continue;
      }
      stack = await testnetPackage.loadStackEnv();
      const servers = await stackPids();
      log(`stack up: Kafka ${stack.kafkaBrokers} (pid ${servers.kafka}), Postgres pid ${servers.postgres}, Redis pid ${servers.redis}`);
      if (data.baseline === undefined) {
        log(`plain kafkajs: ${PLAIN_RECORDS} records of 1 MiB ...`);
        try {
          data.baseline = await withTimeout(plainKafka(stack, servers.kafka), 5 * 60_000, 'plain kafkajs');
          log(`  produce ${fmt(data.baseline.produceMiBps)} MiB/s, consume ${fmt(data.baseline.consumeMiBps)} MiB/s`);
        } catch (error) {
          data.baseline = { error: errorText(error) };
          log(`  FAILED: ${data.baseline.error}`);
        }
      }
    }
    for (const replicas of replicaCounts) if (!stopping()) data.runs.push(await benchTestnet({ mode, replicas, stack, workDir }));
  }
} catch (error) {
  log(`bench FAILED: ${errorText(error)}`);
  data.error = errorText(error);
}

data.machine.loadAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
log(`\n${renderText(data)}`);
const files = outputFiles(values.out);
try {
  await mkdir(dirname(files.md), { recursive: true });
  await writeFile(files.md, renderMarkdown(data));
  await writeFile(files.json, `${JSON.stringify(data, null, 2)}\n`);
  log(`\nwritten: ${files.md}, ${files.json}`);
} catch (error) {
  log(`could not write ${files.md}: ${errorText(error)}`);
}
const failed = data.error !== undefined || data.runs.some((r) => r.error || r.ops.some((o) => !o.ok));
await exitAfterCleanup(failed ? 1 : 0);
