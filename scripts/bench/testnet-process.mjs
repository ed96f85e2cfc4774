// The testnet launcher (`safe-testnet`) and the `safe` CLI as child processes.
import { spawn } from 'node:child_process';
import { atExit, run, tail, track, withTimeout } from './child-processes.mjs';
import { replicasOf } from './proc-cpu.mjs';
import { CLI, TESTNET } from './repo.mjs';

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

/** `safe <args>` against `endpoint` with the identity in `home`; result as run() gives it. */
export function safe(endpoint, home, args, timeoutMs = 600_000) {
  return run(process.execPath, [CLI, ...args], { env: { SAFE_HOME: home, SAFE_ENDPOINT: endpoint }, timeoutMs });
}
