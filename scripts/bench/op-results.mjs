// One put, get or rm as a row of the results, and its line in the progress output.
import { tail } from './child-processes.mjs';
import { log } from './log.mjs';
import { MIB } from './repo.mjs';
import { fmt } from './report-format.mjs';

/** Why a CLI call failed, in one line. */
export function failure(result, opTimeoutMs) {
  return result.timedOut ? `timed out after ${opTimeoutMs / 1000} s` : `exit ${result.code}: ${tail(result.stderr || result.stdout)}`;
}

export function opRow(op, mib, m, error) {
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

/** The progress line for one op. */
export function logOp(row) {
  const what = `${row.op} ${row.mib} MiB`.padEnd(14);
  if (!row.ok) return log(`  ${what} FAILED after ${row.wallSeconds.toFixed(1)} s: ${row.error}`);
  if (row.op === 'rm') return log(`  ${what} ${row.wallSeconds.toFixed(1)} s`);
  const cpu = Object.values(row.cpuSeconds).reduce((a, b) => a + b, 0);
  log(
    `  ${what} ${row.wallSeconds.toFixed(1)} s, ${fmt(row.mibPerSecond, 2)} MiB/s, ${fmt(cpu / row.mib, 1)} CPU-s/MiB (settled ${row.settleSeconds.toFixed(0)} s after)`,
  );
}
