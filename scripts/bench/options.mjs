// The command line of `pnpm bench`: the flags, their defaults and their checks. A bad flag prints
// the problem and the usage line and exits 2; --help prints the usage line and exits 0.
import { parseArgs } from 'node:util';

const USAGE = `usage: pnpm bench [--sizes 1,5,20] [--modes embedded,stack] [--replicas 6,12] [--out FILE] [--op-timeout S]`;

/** The flags as the bench uses them: sizes in MiB, modes, replica counts, the per-op timeout in ms and --out. */
export function readOptions() {
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
  return { sizes, modes, replicaCounts, opTimeoutMs, out: values.out };
}
