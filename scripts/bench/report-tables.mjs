// The report's tables: put and get speed, CPU per MiB by process, Kafka per MiB, and the cost at rest.
import { fmt, sumOf, table } from './report-format.mjs';

const CPU_COLUMNS = [
  ['maid-manager', 'maid'],
  ['data-manager', 'data'],
  ['pmid-manager', 'pmid-mgr'],
  ['pmid-node', 'pmid-node'],
  ['testnet', 'testnet (1 process)'],
  ['launcher', 'launcher'],
  ['kafka', 'kafka'],
  ['postgres', 'postgres'],
  ['redis', 'redis'],
  ['client', 'client'],
];

/** The report's sections, each a title, a note and a table. */
export function sections(data) {
  const out = [];
  const rowsOf = (op) => data.runs.flatMap((r) => r.ops.filter((o) => o.op === op).map((o) => ({ run: r, o })));
  const dmpm = (r) => String(r.counts['data-manager']);
  const plain = data.baseline?.produceMiBps;

  const ops = data.runs.flatMap((r) =>
    r.ops
      .filter((o) => o.op !== 'rm')
      .map((o) => {
        const cpu = o.ok ? Object.values(o.cpuSeconds).reduce((a, b) => a + b, 0) / o.mib : undefined;
        return [
          r.mode,
          dmpm(r),
          String(o.mib),
          o.op,
          fmt(o.wallSeconds),
          o.ok ? fmt(o.mibPerSecond, 2) : 'FAILED',
          o.ok && plain ? `${fmt((100 * o.mibPerSecond) / plain, 1)}%` : undefined,
          fmt(cpu),
          o.ok ? fmt(o.settleSeconds, 0) : undefined,
        ];
      }),
  );
  out.push({
    title: 'Put and cold get through the `safe` CLI',
    note: 'MiB/s is the file size over the CLI call (process start to exit); "of plain" compares it with plain kafkajs produce on the same broker; CPU counts every process below (the CLI, the testnet, Kafka, Postgres, Redis) from the call until the testnet settled (at most 30 s after).',
    table: table(['mode', 'DM/PM', 'MiB', 'op', 'wall s', 'MiB/s', 'of plain', 'CPU s/MiB', 'settle s'], ops, 4),
  });

  const cpuRows = rowsOf('put')
    .filter(({ o }) => o.ok)
    .map(({ run, o }) => {
      const total = Object.values(o.cpuSeconds).reduce((a, b) => a + b, 0);
      const idle = sumOf(run.idleCores ?? {}, Object.keys(run.idleCores ?? {}));
      return [
        run.mode,
        dmpm(run),
        String(o.mib),
        ...CPU_COLUMNS.map(([k]) => (o.cpuSecondsPerMiB[k] === undefined ? '-' : fmt(o.cpuSecondsPerMiB[k], 2))),
        fmt(total / o.mib, 2),
        fmt((total - idle * (o.wallSeconds + o.settleSeconds)) / o.mib, 2),
      ];
    });
  out.push({
    title: 'CPU-seconds per MiB put, by process',
    note: '"net of rest" subtracts what the same processes burned at rest (see the last table) over the same time; Kafka, Postgres and Redis are shared, so other work on the machine lands in their columns.',
    table: table(['mode', 'DM/PM', 'MiB', ...CPU_COLUMNS.map(([, h]) => h), 'total', 'net of rest'], cpuRows),
  });

  const busRows = rowsOf('put')
    .filter(({ run, o }) => run.mode === 'stack' && o.ok)
    .map(({ run, o }) => {
      const per = (k) => fmt(o.bus[k]?.perMiB, 1);
      const read = (p) =>
        o.readPerReplicaMiB?.[p] ? `${fmt(o.readPerReplicaMiB[p].max)} / ${fmt(o.readPerReplicaMiB[p].mean)}` : undefined;
      return [
        run.mode,
        dmpm(run),
        String(o.mib),
        per('publishedBytes'),
        per('published'),
        per('consumedBytes'),
        per('consumed'),
        fmt(o.broker.logMiBPerMiB, 1),
        fmt(o.broker.recordsPerMiB, 1),
        read('data-manager'),
        read('pmid-manager'),
        o.bus.cacheHits === undefined ? undefined : String(o.bus.cacheHits.total),
      ];
    });
  out.push({
    title: 'Kafka per MiB put (multi-process testnet)',
    note: "produced/consumed: the sum over every replica of safe_bus_{published,consumed}{_bytes,}_total on its /metrics (n/a: no replica exposes the counter); broker: bytes appended to the network's topic logs and their end offsets; read per replica: MiB one DataManager / PmidManager consumed for the put, max / mean; cache hits over the put must be 0.",
    table: table(
      [
        'mode',
        'DM/PM',
        'MiB',
        'produced MiB',
        'produced rec',
        'consumed MiB',
        'consumed rec',
        'broker MiB',
        'broker rec',
        'read/DM max/mean',
        'read/PM max/mean',
        'cache hits',
      ],
      busRows,
    ),
  });

  const getHits = rowsOf('get').filter(({ run, o }) => run.mode === 'stack' && o.ok && o.bus.cacheHits !== undefined);
  const idleRows = data.runs
    .filter((r) => r.idleCores)
    .map((r) => [
      r.mode,
      dmpm(r),
      ...CPU_COLUMNS.filter(([k]) => k !== 'client').map(([k]) => (r.idleCores[k] === undefined ? '-' : fmt(r.idleCores[k], 2))),
      fmt(sumOf(r.idleCores, Object.keys(r.idleCores)), 2),
      fmt(r.startSeconds, 0),
    ]);
  out.push({
    title: 'At rest: cores each process group burns with nothing to do (10 s after start + 5 s)',
    note: `the testnet's start-up took "start s".${getHits.length > 0 ? ` Cache hits during the cold gets: ${getHits.map(({ o }) => o.bus.cacheHits.total).join(', ')} (0 = every chunk came from a PmidNode).` : ''}`,
    table: table(['mode', 'DM/PM', ...CPU_COLUMNS.filter(([k]) => k !== 'client').map(([, h]) => h), 'total', 'start s'], idleRows, 2),
  });
  return out;
}
