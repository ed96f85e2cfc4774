// CPU time and process trees from /proc: per process, per group of processes between two
// snapshots, and the replica processes a multi-process testnet launcher started.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PERSONAS } from './repo.mjs';

const TICK = 100; // USER_HZ: `getconf CLK_TCK` is 100 on every Linux this runs on

/** The fields after the command name in /proc/<pid>/stat (index 0 = state), or undefined if it is gone. */
async function statFields(pid) {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return text === '' ? undefined : text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds of a process: its own (utime + stime) and its reaped children's (cutime + cstime). */
export async function cpuOf(pid) {
  const f = await statFields(pid);
  if (f === undefined) return undefined;
  return { self: (Number(f[11]) + Number(f[12])) / TICK, children: (Number(f[13]) + Number(f[14])) / TICK };
}

/** pids whose parent is `pid`. */
export async function childrenOf(pid) {
  const found = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = await statFields(entry);
    if (f !== undefined && Number(f[1]) === Number(pid)) found.push(Number(entry));
  }
  return found;
}

export async function cmdlineOf(pid) {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
}

export async function environOf(pid) {
  const env = {};
  for (const line of (await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')).split('\0')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/**
 * The replica processes a multi-process testnet launcher started (its children running
 * services/<persona>/dist/main.js): pid, persona and admin port (from their environment).
 */
export async function replicasOf(launcherPid) {
  const replicas = [];
  for (const pid of await childrenOf(launcherPid)) {
    const args = await cmdlineOf(pid);
    const match = PERSONAS.find((p) => args.some((a) => a.endsWith(join('services', p, 'dist', 'main.js'))));
    if (match === undefined) continue;
    const env = await environOf(pid);
    replicas.push({ pid, persona: match, adminPort: Number(env.SAFE_ADMIN_PORT) || undefined });
  }
  return replicas;
}

/**
 * CPU seconds used so far by each group of processes: `groups` maps a name to pids; a pid given
 * as `{ pid, tree: true }` counts its live children and the ones it reaped too (Postgres: one
 * backend per connection). Returned per pid, so a delta counts only processes seen both times.
 */
export async function cpuSnapshot(groups) {
  const snapshot = new Map();
  for (const [group, members] of Object.entries(groups)) {
    for (const member of members) {
      const { pid, tree } = typeof member === 'object' ? member : { pid: member, tree: false };
      if (!pid) continue;
      const cpu = await cpuOf(pid);
      if (cpu === undefined) continue;
      snapshot.set(`${pid}`, { group, seconds: cpu.self });
      if (!tree) continue;
      snapshot.set(`${pid}:reaped`, { group, seconds: cpu.children });
      for (const child of await childrenOf(pid)) {
        const c = await cpuOf(child);
        if (c !== undefined) snapshot.set(`${child}`, { group, seconds: c.self + c.children });
      }
    }
  }
  return snapshot;
}

/** CPU seconds per group between two snapshots (a process that started in between counts whole). */
export function cpuDelta(before, after) {
  const delta = {};
  for (const [key, { group, seconds }] of after) {
    delta[group] = (delta[group] ?? 0) + seconds - (before.get(key)?.seconds ?? 0);
  }
  return delta;
}

/** CPU seconds this process's reaped children used so far (a CLI run's CPU is the delta around it). */
export async function reapedChildrenCpu() {
  return (await cpuOf(process.pid))?.children ?? 0;
}
