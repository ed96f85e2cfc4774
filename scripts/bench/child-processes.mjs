// Child processes with bounded time, every one tracked so that an error or Ctrl-C can end them all,
// and the cleanups that run at exit (also on SIGINT/SIGTERM).
import { execFile } from 'node:child_process';
import { MIB } from './repo.mjs';

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

/** The last few lines of a text, on one line. */
export function tail(text, lines = 3) {
  return text.trim().split('\n').slice(-lines).join(' | ').slice(-600);
}
