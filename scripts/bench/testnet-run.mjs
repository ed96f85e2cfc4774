// One testnet, embedded or multi-process on the local stack: start it, measure it at rest, then put,
// cold get and rm a file of each size through the `safe` CLI; stop it and clean up whatever happens.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { atExit, stopping, tail, withTimeout } from './child-processes.mjs';
import { errorText, log } from './log.mjs';
import { measured, settle } from './measure.mjs';
import { failure, logOp, opRow } from './op-results.mjs';
import { cpuDelta, cpuSnapshot } from './proc-cpu.mjs';
import { built, MIB } from './repo.mjs';
import { sumOf } from './report-format.mjs';
import { cleanStack, stackContext } from './stack-mode.mjs';
import { safe, startTestnet } from './testnet-process.mjs';

export const MAID_MANAGERS = 6;
export const PMID_NODES = 8;
/** Every replica's chunk cache off: a get is answered by the PmidNodes holding the chunks. */
const NO_CACHE = { SAFE_CACHE_BYTES: '0', SAFE_CACHE_ENTRIES: '0' };
/** The Gateway waits as long as the client's own per-call deadline (60 s) for a group's answer. */
const CALL_TIMEOUT = { SAFE_TESTNET_CALL_TIMEOUT_MS: '60000' };
const IDLE_WARMUP_MS = 5_000;
const IDLE_MS = 10_000;

/** Start a testnet, measure it at rest, then put / cold get / rm each size; stops and cleans up whatever happens. */
export async function benchTestnet({ mode, replicas: count, stack, workDir, sizes, opTimeoutMs }) {
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
      if (mode === 'stack') await cleanStack(stack, dataDir, testnet);
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

    let ctx;
    if (mode === 'stack') {
      ctx = await stackContext(testnet, entry);
      const { kafka } = await built();
      admin = kafka.createKafka({ brokers: stack.kafkaBrokers, clientId: 'bench-offsets' }).admin();
      await withTimeout(admin.connect(), 30_000, 'kafka admin connect').then(
        () => {
          ctx.admin = admin;
        },
        (error) => log(`  (no broker record counts: ${errorText(error)})`),
      );
    } else {
      const systemGroups = { testnet: [testnet.pid] };
      ctx = { replicas: [], network: undefined, admin: undefined, systemGroups, groups: systemGroups };
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
