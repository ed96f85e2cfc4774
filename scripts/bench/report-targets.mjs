// Issue 15's targets, judged against what a bench run measured.
import { fmt, table } from './report-format.mjs';

/** Issue 15's targets, against what this run measured ("-" where it measured nothing to judge by). */
export function targets(data) {
  const ops = (mode, op, mib) =>
    data.runs.filter((r) => r.mode === mode).flatMap((r) => r.ops.filter((o) => o.op === op && o.mib === mib && o.ok));
  const stackPuts = data.runs
    .filter((r) => r.mode === 'stack')
    .flatMap((r) => r.ops.filter((o) => o.op === 'put' && o.ok).map((o) => ({ r, o })));
  const worst = (xs, f) =>
    xs.length === 0 ? undefined : xs.map(f).reduce((a, b) => (a === undefined || b === undefined ? undefined : Math.max(a, b)));
  const least = (xs, f) => (xs.length === 0 ? undefined : Math.min(...xs.map(f)));
  const cpu = (o) => Object.values(o.cpuSeconds).reduce((a, b) => a + b, 0) / o.mib;
  const verdict = (value, ok) => (value === undefined ? '-' : ok(value) ? 'met' : 'not met');
  const rows = [];
  const add = (what, value, ok, digits = 1) => rows.push([what, fmt(value, digits), verdict(value, ok)]);
  add(
    'Kafka MiB produced per MiB put ≤ 10 (worst put)',
    worst(stackPuts, ({ o }) => o.bus.publishedBytes?.perMiB),
    (v) => v <= 10,
  );
  add(
    'consumed ≤ 4 × produced (worst ratio)',
    worst(stackPuts, ({ o }) =>
      o.bus.consumedBytes && o.bus.publishedBytes ? o.bus.consumedBytes.total / o.bus.publishedBytes.total : undefined,
    ),
    (v) => v <= 4,
    2,
  );
  const readAt = (count) => {
    const reads = stackPuts
      .filter(({ r, o }) => r.counts['data-manager'] === count && o.readPerReplicaMiB?.['data-manager'])
      .map(({ o }) => o.readPerReplicaMiB['data-manager'].mean / o.mib);
    return reads.length === 0 ? undefined : reads.reduce((a, b) => a + b, 0) / reads.length;
  };
  const counts = [...new Set(data.runs.filter((r) => r.mode === 'stack').map((r) => r.counts['data-manager']))].sort((a, b) => a - b);
  if (counts.length >= 2) {
    const [low, high] = [readAt(counts[0]), readAt(counts.at(-1))];
    rows.push([
      `MiB one DataManager reads per MiB put falls from ${counts[0]} to ${counts.at(-1)} replicas`,
      `${fmt(low, 2)} → ${fmt(high, 2)}`,
      low === undefined || high === undefined ? '-' : high < low ? 'met' : 'not met',
    ]);
  }
  const speeds = [
    ['stack', 'put', 2],
    ['stack', 'get', 10],
    ['embedded', 'put', 5],
    ['embedded', 'get', 20],
  ];
  for (const [mode, op, floor] of speeds) {
    add(
      `${mode}: 20 MiB ${op === 'get' ? 'cold get' : 'put'} ≥ ${floor} MiB/s`,
      least(ops(mode, op, 20), (o) => o.mibPerSecond),
      (v) => v >= floor,
      2,
    );
  }
  if (data.baseline?.produceMiBps)
    add(
      'stack: 20 MiB put ≥ 10% of plain produce',
      least(ops('stack', 'put', 20), (o) => (100 * o.mibPerSecond) / data.baseline.produceMiBps),
      (v) => v >= 10,
      1,
    );
  add(
    'stack: ≤ 2 CPU-s per MiB put (worst put)',
    worst(stackPuts, ({ o }) => cpu(o)),
    (v) => v <= 2,
    2,
  );
  return {
    title: 'Targets (issue 15)',
    note: '"-": this run measured nothing to judge by',
    table: table(['target', 'measured', 'verdict'], rows, 1),
  };
}
