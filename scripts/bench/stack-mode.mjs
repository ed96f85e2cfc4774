// What the multi-process testnet on the local stack adds to a bench run: bringing the stack up
// (and the plain kafkajs baseline on its broker, once), the replicas and the stack's servers as
// process groups to measure, and removing what the testnet left in the stack.
import { run, tail, withTimeout } from './child-processes.mjs';
import { footprintOf, purgeTestnet, stackPids } from './local-stack.mjs';
import { errorText, log } from './log.mjs';
import { PLAIN_RECORDS, plainKafka } from './plain-kafka.mjs';
import { replicasOf } from './proc-cpu.mjs';
import { built, PERSONAS, STACK_SH } from './repo.mjs';
import { fmt } from './report-format.mjs';

/**
 * `stack.sh up`, then the plain kafkajs baseline if `data` has none yet. Returns the stack's
 * settings, or undefined once a failed start is recorded in `data.runs`.
 */
export async function stackUp(data, testnetPackage) {
  log('\n== the local stack: bash scripts/stack/stack.sh up ==');
  const up = await run('bash', [STACK_SH, 'up'], { timeoutMs: 15 * 60_000 });
  if (up.code !== 0) {
    const why = up.timedOut ? 'timed out after 15 min' : tail(up.stderr, 5);
    log(`stack up FAILED: ${why}`);
    data.runs.push({ mode: 'stack', counts: { 'data-manager': '-' }, ops: [], error: `stack up: ${why}` });
    return undefined;
  }
  const stack = await testnetPackage.loadStackEnv();
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
  return stack;
}

/**
 * What to measure on a running multi-process testnet: its replicas, the testnet's process groups
 * (one per persona, and the launcher) and those plus the stack's servers. Notes the processes
 * found in `entry`.
 */
export async function stackContext(testnet, entry) {
  const replicas = await replicasOf(testnet.pid);
  const personaGroups = Object.fromEntries(PERSONAS.map((p) => [p, replicas.filter((r) => r.persona === p).map((r) => r.pid)]));
  const systemGroups = { ...personaGroups, launcher: [testnet.pid] };
  const servers = await stackPids();
  const groups = {
    ...systemGroups,
    kafka: [servers.kafka],
    postgres: [{ pid: servers.postgres, tree: true }],
    redis: [servers.redis],
  };
  entry.processes = { replicas: replicas.length, withAdminPort: replicas.filter((r) => r.adminPort).length, servers };
  return { replicas, network: testnet.network, admin: undefined, systemGroups, groups };
}

/** Removes what a multi-process testnet left in the stack; logs what could not be removed. */
export async function cleanStack(stack, dataDir, testnet) {
  // Also after a start that failed half way: the network is named after the data dir.
  const network = testnet?.network ?? (await built()).testnet.networkFor(dataDir);
  const left = await purgeTestnet(stack, await footprintOf(dataDir, network));
  if (left.length > 0) log(`  cleaning the stack: ${left.join('; ')}`);
}
