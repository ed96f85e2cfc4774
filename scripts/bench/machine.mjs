// The machine a bench runs on: CPUs, memory, node, kernel, the commit and the load at the start.
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { run } from './child-processes.mjs';
import { ROOT } from './repo.mjs';

export async function machineInfo() {
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
