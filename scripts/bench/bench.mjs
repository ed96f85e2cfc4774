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
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { atExit, exitAfterCleanup, run, stopping, tail, withTimeout } from './child-processes.mjs';
import { footprintOf, purgeTestnet, stackPids } from './local-stack.mjs';
import { errorText, log } from './log.mjs';
import { machineInfo } from './machine.mjs';
import { measured, settle } from './measure.mjs';
import { failure, logOp, opRow } from './op-results.mjs';
import { PLAIN_RECORDS, plainKafka } from './plain-kafka.mjs';
import { cpuDelta, cpuSnapshot, replicasOf } from './proc-cpu.mjs';
import { built, MIB, PERSONAS, STACK_SH } from './repo.mjs';
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
/** Every replica's chunk cache off: a get is answered by the PmidNodes holding the chunks. */
const NO_CACHE = { SAFE_CACHE_BYTES: '0', SAFE_CACHE_ENTRIES: '0' };
/** The Gateway waits as long as the client's own per-call deadline (60 s) for a group's answer. */
const CALL_TIMEOUT = { SAFE_TESTNET_CALL_TIMEOUT_MS: '60000' };
const IDLE_WARMUP_MS = 5_000;
const IDLE_MS = 10_000;

// ---- one testnet ----

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
      entry.ops.push(opRow('put', size, put, putOk ? undefined : failure(put.result, opTimeoutMs)));
      logOp(entry.ops.at(-1));
      if (!putOk) continue;
      await rm(output, { force: true });
      const get = await measured(ctx, () => safe(testnet.endpoint, home, ['get', name, '-o', output], opTimeoutMs));
      let getError = get.result.code === 0 ? undefined : failure(get.result, opTimeoutMs);
      if (getError === undefined) {
        const back = await readFile(output).catch(() => Buffer.alloc(0));
        if (!back.equals(content)) getError = `the file got back differs (${back.length} bytes, put ${content.length})`;
      }
      entry.ops.push(opRow('get', size, get, getError));
      logOp(entry.ops.at(-1));
      const removed = await safe(testnet.endpoint, home, ['rm', name], opTimeoutMs);
      await settle(ctx.systemGroups, ctx.replicas, ctx.idleSystemCores);
      entry.ops.push({
        op: 'rm',
        mib: size,
        ok: removed.code === 0,
        error: removed.code === 0 ? undefined : failure(removed, opTimeoutMs),
        wallSeconds: removed.seconds,
      });
      logOp(entry.ops.at(-1));
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
