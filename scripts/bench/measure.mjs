// Measuring one CLI call on a running testnet: wall time, CPU per process group and the bus and
// broker counters around it, counted until the testnet has settled after the call.
import { setTimeout as sleep } from 'node:timers/promises';
import { busDelta, busSnapshot, busTotal, topicRecords } from './bus-accounting.mjs';
import { kafkaLogBytes } from './local-stack.mjs';
import { cpuDelta, cpuSnapshot, reapedChildrenCpu } from './proc-cpu.mjs';

const SETTLE_MAX_MS = 30_000;

/**
 * After an operation the replicas may still be finishing it (the group's other copies, syncs):
 * waits until the system's processes are back near their rate at rest and the bus is quiet,
 * at most SETTLE_MAX_MS. Returns the seconds waited.
 */
export async function settle(systemGroups, replicas, idleCores) {
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

/**
 * Runs `op` (a CLI call) and measures around it: wall time, the CLI's own CPU, each process
 * group's CPU, the bus counters, the broker's log bytes and records; CPU and bus are counted
 * until the system has settled after the call.
 */
export async function measured(ctx, op) {
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
