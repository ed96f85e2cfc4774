// Helpers the benchmarks share: child processes with bounded time (all killed on exit or Ctrl-C),
// the testnet launcher and the `safe` CLI, CPU time from /proc, replicas' /metrics, and removing
// what a multi-process testnet leaves in the stack (schemas, Redis keys, topics, consumer groups).
//
// Imports of the built packages are dynamic (`built()`), so a missing build is one clear error.
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const TESTNET = join(ROOT, 'packages', 'testnet', 'dist', 'main.js');
export const CLI = join(ROOT, 'packages', 'client', 'dist', 'cli.js');
export const STACK_SH = join(ROOT, 'scripts', 'stack', 'stack.sh');
export const PERSONAS = ['maid-manager', 'data-manager', 'pmid-manager', 'pmid-node'];
export const MIB = 1024 * 1024;

/** The built packages this script needs; throws one line naming the build step when they are missing. */
export async function built() {
  try {
    const [core, kafka, sql, testnet] = await Promise.all([
      import('../../packages/core/dist/index.js'),
      import('../../packages/kafka/dist/index.js'),
      import('../../packages/sql/dist/index.js'),
      import('../../packages/testnet/dist/index.js'),
    ]);
    return { core, kafka, sql, testnet };
  } catch (error) {
    throw new Error(`the packages are not built (run \`npx tsc -b\`): ${error.message}`);
  }
}

// ---- child processes: every one is tracked, so an error or Ctrl-C can end them all ----

const live = new Set();
const cleanups = [];

/** Runs `fn` at exit (last registered first), also on SIGINT/SIGTERM and on an uncaught error. */
export function atExit(fn) {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

let exiting;
/** Runs the cleanups (each bounded by `ms`), kills every child still tracked, and exits with `code`. */
export function exitAfterCleanup(code, ms = 120_000) {
  exiting ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      await withTimeout(Promise.resolve().then(fn), ms, 'cleanup').catch((error) => console.error(`cleanup: ${error.message}`));
    }
    for (const child of live) child.kill('SIGKILL');
    process.exit(code);
  })();
  return exiting;
}

let signalled = false;
/** True once Ctrl-C (or SIGTERM) came: start nothing new, the cleanups are running. */
export const stopping = () => signalled;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (signalled) {
      for (const child of live) child.kill('SIGKILL');
      process.exit(130);
    }
    signalled = true;
    console.error(`\n${signal}: stopping every child process and cleaning up (again to exit at once)`);
    for (const child of live) if (child.keepOnSignal !== true) child.kill('SIGTERM');
    void exitAfterCleanup(130);
  });
}

/** Rejects with "<what> timed out after N s" unless `promise` settles within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Tracks a spawned child until it exits. */
export function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Runs a command to its end (SIGKILL after `timeoutMs`); never rejects: {code, stdout, stderr, seconds, timedOut}. */
export function run(command, args, { env = {}, timeoutMs = 300_000, cwd } = {}) {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * MIB, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout,
          stderr: error && typeof error.code !== 'number' && !stderr ? error.message : stderr,
          seconds: (performance.now() - started) / 1000,
          timedOut: error?.killed === true && error.signal === 'SIGKILL',
        }),
    );
    track(child);
  });
}

// ---- CPU time from /proc ----

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

/** The local stack's directory (`$SAFE_STACK_DIR`, default `<repo>/.safe-stack`). */
export function stackDir() {
  return process.env.SAFE_STACK_DIR?.trim() || join(ROOT, '.safe-stack');
}

/** The stack's server pids: from its pid files, else by pgrep. Missing ones are left out. */
export async function stackPids() {
  const first = async (file) => Number((await readFile(join(stackDir(), file), 'utf8').catch(() => '')).split('\n')[0]) || undefined;
  const pgrep = async (...args) => Number((await run('pgrep', args, { timeoutMs: 10_000 })).stdout.split('\n')[0]) || undefined;
  return {
    kafka: (await first('kafka/kafka.pid')) ?? (await pgrep('-o', '-f', 'kafka\\.Kafka')),
    postgres: (await first('postgres/postmaster.pid')) ?? (await pgrep('-o', '-x', 'postgres')),
    redis: (await first('redis/redis.pid')) ?? (await pgrep('-o', '-x', 'redis-server')),
  };
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

// ---- /metrics ----

/** A replica's /metrics text, or undefined if it does not answer within 5 s. */
export async function scrape(adminPort) {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    return response.status === 200 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The sum of a metric's samples over all its labels; undefined when the text has no such metric. */
export function sumMetric(text, name) {
  if (text === undefined) return undefined;
  let sum;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([-+0-9.eE]+|NaN)$`, 'gm'))) {
    sum = (sum ?? 0) + Number(match[1]);
  }
  return sum;
}

// ---- the testnet and the CLI ----

/**
 * Starts `safe-testnet` (`--stack embedded|local`) fresh in `dataDir` on any free port; resolves
 * once it prints "testnet ready" with { child, endpoint, network, summary, seconds, stop() }.
 * stop() sends SIGINT (the launcher stops its replicas in order) and SIGKILLs what is left after
 * `stopTimeoutMs`, replicas included.
 */
export async function startTestnet({ stack, dataDir, env = {}, timeoutMs = 600_000, stopTimeoutMs = 90_000 }) {
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [TESTNET, '--stack', stack, '--data-dir', dataDir, '--fresh', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SAFE_LOG_LEVEL: 'warn', ...env },
    }),
  );
  // On Ctrl-C the launcher gets SIGINT from stop(), in order, not SIGTERM with the others.
  child.keepOnSignal = true;
  let out = '';
  let err = '';
  // Only what it says up to "testnet ready" is kept (its log lines after that are dropped).
  child.stdout.on('data', (chunk) => {
    if (!out.includes('testnet ready:')) out = (out + chunk.toString()).slice(-256 * 1024);
  });
  child.stderr.on('data', (chunk) => {
    err = (err + chunk.toString()).slice(-8000);
  });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done(code ?? signal)));
  const replicaPids = new Set();
  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      for (const r of await replicasOf(child.pid)) replicaPids.add(r.pid);
      child.kill('SIGINT');
      await withTimeout(exited, stopTimeoutMs, 'testnet stop').catch(() => child.kill('SIGKILL'));
    }
    for (const pid of replicaPids) {
      try {
        process.kill(pid, 'SIGKILL'); // only if it outlived the launcher
      } catch {
        // gone, as it should be
      }
    }
  }
  const unregister = atExit(stop);
  try {
    await withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          if (out.includes('testnet ready:')) resolve();
        };
        child.stdout.on('data', check);
        check();
        void exited.then((code) => reject(new Error(`testnet exited (${code}) before it was ready: ${tail(err || out)}`)));
      }),
      timeoutMs,
      'testnet start',
    );
  } catch (error) {
    await stop();
    unregister();
    throw error;
  }
  return {
    child,
    pid: child.pid,
    endpoint: /^endpoint: (\S+)$/m.exec(out)?.[1],
    network: /network (testnet-[0-9a-f]{10})/.exec(out)?.[1],
    summary: /^testnet ready: (.*)$/m.exec(out)?.[1] ?? '',
    seconds: (performance.now() - started) / 1000,
    async stop() {
      await stop();
      unregister();
    },
  };
}

/** The last few lines of a text, on one line. */
export function tail(text, lines = 3) {
  return text.trim().split('\n').slice(-lines).join(' | ').slice(-600);
}

/** `safe <args>` against `endpoint` with the identity in `home`; result as run() gives it. */
export function safe(endpoint, home, args, timeoutMs = 600_000) {
  return run(process.execPath, [CLI, ...args], { env: { SAFE_HOME: home, SAFE_ENDPOINT: endpoint }, timeoutMs });
}

// ---- the testnet's footprint in the stack ----

/** The replicas whose keys are in a multi-process testnet's data dir (`<dir>/<persona>/<n>/node.key`). */
export async function footprintOf(dataDir, network) {
  const { core, testnet } = await built();
  const children = [];
  for (const persona of PERSONAS) {
    for (const entry of await readdir(join(dataDir, persona)).catch(() => [])) {
      try {
        const nodeName = core.toHex(core.importIdentity(await readFile(join(dataDir, persona, entry, 'node.key'))).name);
        children.push({ persona, nodeName, schema: testnet.replicaSchema(persona, nodeName) });
      } catch {
        // no key there
      }
    }
  }
  return { network, children };
}

// Deletes every key matching any of ARGV's glob patterns; returns how many.
const DELETE_MATCHING = `local n = 0
for _, pattern in ipairs(ARGV) do
  for _, key in ipairs(redis.call('KEYS', pattern)) do n = n + redis.call('DEL', key) end
end
return n`;

/**
 * Removes what a stopped testnet left in the stack: its managers' schemas, its replicas' Redis
 * keys and the network's, its topics and its consumer groups. Best effort; returns the problems.
 */
export async function purgeTestnet(stack, { network, children }) {
  const { kafka, sql } = await built();
  const problems = [];
  const step = async (what, fn) => {
    try {
      await withTimeout(fn(), 60_000, what);
    } catch (error) {
      problems.push(`${what}: ${error.message}`);
    }
  };
  await step('postgres', async () => {
    const db = await sql.openPostgres({ url: stack.postgresUrl, schema: 'public', poolSize: 1 });
    try {
      for (const { persona, schema } of children) if (persona !== 'pmid-node') await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await db.close();
    }
  });
  await step('redis', async () => {
    const patterns = [`safe:${network}:*`, ...children.map((c) => `safe:{${c.persona}:${c.nodeName.slice(0, 16)}}*`)];
    const result = await run('redis-cli', ['-u', stack.redisUrl, 'EVAL', DELETE_MATCHING, '0', ...patterns], { timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(tail(result.stderr || result.stdout));
  });
  await step('kafka', async () => {
    const admin = kafka.createKafka({ brokers: stack.kafkaBrokers, clientId: 'bench-purge' }).admin();
    await admin.connect();
    try {
      const prefix = `safe.${network}.`;
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
      if (groups.length > 0) await admin.deleteGroups(groups);
    } finally {
      await admin.disconnect();
    }
  });
  return problems;
}

/** Bytes in the broker's log segments of the topics starting with `prefix` (local stack only: its data dir). */
export async function kafkaLogBytes(prefix) {
  const data = join(stackDir(), 'kafka', 'data');
  let total = 0;
  for (const dir of await readdir(data).catch(() => [])) {
    if (!dir.startsWith(prefix) || !/-\d+$/.test(dir)) continue;
    for (const file of await readdir(join(data, dir)).catch(() => [])) {
      if (file.endsWith('.log')) total += (await stat(join(data, dir, file)).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}
