import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { type Logger, REPORT_ORDER, SafeError, UnavailableError } from '@safe/core';
import { formatEndpoint } from '@safe/grpc';
import { describeError } from '@safe/sql';
import { dialHost, freePort } from './ports.js';
import { ensureKey, replicaSchema } from './replica-keys.js';
import type { NetworkPersona } from './replicas.js';

/** The folder of the children's log files in the data dir. */
export const LOGS = 'logs';

export interface TestnetChild {
  readonly persona: NetworkPersona;
  readonly index: number;
  /** `<persona>-<index>`, as in the log file's name. */
  readonly name: string;
  /** The replica's node name (hex of SHA-512 of its public key): its schema, Redis keys and consumer group derive from it. */
  readonly nodeName: string;
  /** Its Postgres schema (managers): `<persona with _>_<first 16 hex of its name>`. */
  readonly schema: string;
  /** pid of the running process, or of the last one if it is not running. */
  readonly pid: number;
  readonly running: boolean;
  /** How the last process ended (undefined while it runs or before it ever ran). */
  readonly exit: ChildExit | undefined;
  readonly adminPort: number;
  readonly grpcPort: number;
  /** host:port of its gRPC server (the client Gateway on a MaidManager). */
  readonly grpcEndpoint: string;
  /** Its SAFE_DATA_DIR: `<dataDir>/<persona>/<index>/`, with its key; a PmidNode's chunks too. */
  readonly dataDir: string;
  /** stdout and stderr of every run: `<dataDir>/logs/<persona>-<index>.log`. */
  readonly logFile: string;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The start was aborted (`abortSignal`); every child started so far was stopped. */
export class StartAbortedError extends SafeError {
  constructor() {
    super('unavailable', 'the testnet start was aborted');
  }
}

/** The last `lines` lines of a file ('' if it cannot be read). */
export async function tailOf(file: string, lines = 30, bytes = 16 * 1024): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, bytes);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      const text = buffer.toString('utf8');
      return text
        .split('\n')
        .filter((line, i, all) => line !== '' || i < all.length - 1)
        .slice(-lines)
        .join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

export interface Slot {
  readonly persona: NetworkPersona;
  readonly index: number;
  readonly name: string;
  readonly nodeName: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly adminPort: number;
  readonly grpcPort: number;
  process: ChildProcess | undefined;
  pid: number;
  /** Resolves when the current process has exited. */
  exited: Promise<ChildExit>;
  exit: ChildExit | undefined;
  /** Set while the testnet itself stops this child (kill, restart, scale, close): not a crash. */
  expectingExit: boolean;
}

/** What the supervisor needs to start a testnet's children. */
export interface ChildLaunch {
  readonly log: Logger;
  /** The testnet's data dir: children's dirs `<dataDir>/<persona>/<n>/`, logs in `<dataDir>/logs/`. */
  readonly dataDir: string;
  /** Where gRPC listens; the first MaidManager takes `port` unless it is 0. */
  readonly host: string;
  readonly port: number;
  /** The orphan guard preloaded into every child, if built. */
  readonly guard: string | undefined;
  readonly serviceMain: (persona: NetworkPersona) => string;
  /** A persona's replicas' environment, but for their own data dir and ports (and `childEnv`, on top). */
  readonly env: (persona: NetworkPersona) => Record<string, string | undefined>;
  readonly childEnv: Record<string, string>;
  readonly readyTimeoutMs: number;
  readonly stopGraceMs: number;
  readonly abortSignal: AbortSignal | undefined;
  readonly onChildExit: ((child: TestnetChild, tail: string) => void) | undefined;
}

/** The children of one testnet, by persona and index: their slots (data dir, ports), processes and exits. */
export class Children {
  readonly #launch: ChildLaunch;
  readonly #slots = new Map<NetworkPersona, Slot[]>(REPORT_ORDER.map((persona) => [persona, []]));
  readonly #ports = new Set<number>();
  #closed = false;

  constructor(launch: ChildLaunch) {
    this.#launch = launch;
  }

  snapshot(slot: Slot): TestnetChild {
    return {
      persona: slot.persona,
      index: slot.index,
      name: slot.name,
      nodeName: slot.nodeName,
      schema: replicaSchema(slot.persona, slot.nodeName),
      pid: slot.pid,
      running: slot.process !== undefined,
      exit: slot.exit,
      adminPort: slot.adminPort,
      grpcPort: slot.grpcPort,
      grpcEndpoint: formatEndpoint(dialHost(this.#launch.host), slot.grpcPort),
      dataDir: slot.dataDir,
      logFile: slot.logFile,
    };
  }

  /** A persona's slots, in index order (scale adds and removes at the end). */
  of(persona: NetworkPersona): Slot[] {
    return this.#slots.get(persona) ?? [];
  }

  all(): Slot[] {
    return REPORT_ORDER.flatMap((persona) => this.of(persona));
  }

  slotOf(persona: NetworkPersona, index: number): Slot {
    const slot = this.#slots.get(persona)?.find((s) => s.index === index);
    if (slot === undefined) throw new SafeError('not-found', `the testnet has no ${persona}-${index}`);
    return slot;
  }

  /** A slot with its key made and its ports chosen; not started. */
  async newSlot(persona: NetworkPersona, index: number): Promise<Slot> {
    const { dataDir, host, port } = this.#launch;
    const dir = join(dataDir, persona, String(index));
    const nodeName = await ensureKey(dir);
    const grpcPort = persona === 'maid-manager' && index === 0 && port !== 0 ? port : await freePort(host, this.#ports);
    this.#ports.add(grpcPort);
    const adminPort = await freePort('127.0.0.1', this.#ports);
    return {
      persona,
      index,
      name: `${persona}-${index}`,
      nodeName,
      dataDir: dir,
      logFile: join(dataDir, LOGS, `${persona}-${index}.log`),
      adminPort,
      grpcPort,
      process: undefined,
      pid: 0,
      exited: Promise.resolve({ code: null, signal: null }),
      exit: undefined,
      expectingExit: false,
    };
  }

  spawn(slot: Slot): void {
    const { log, guard } = this.#launch;
    const fd = openSync(slot.logFile, 'a');
    let child: ChildProcess;
    try {
      writeSync(fd, `\n--- ${new Date().toISOString()} safe-testnet starts ${slot.name} (node ${slot.nodeName.slice(0, 16)})\n`);
      const preload = guard === undefined ? [] : ['--import', pathToFileURL(guard).href];
      child = spawn(process.execPath, [...preload, this.#launch.serviceMain(slot.persona)], {
        cwd: slot.dataDir,
        env: {
          ...this.#launch.env(slot.persona),
          SAFE_DATA_DIR: slot.dataDir,
          SAFE_GRPC_PORT: String(slot.grpcPort),
          SAFE_ADMIN_PORT: String(slot.adminPort),
          ...this.#launch.childEnv,
        },
        stdio: ['ignore', fd, fd],
        // Its own process group: a Ctrl-C in the terminal reaches the launcher only, which stops
        // the children in order (the orphan guard covers a launcher that dies without doing so).
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    slot.process = child;
    slot.pid = child.pid ?? 0;
    slot.exit = undefined;
    slot.expectingExit = false;
    slot.exited = new Promise<ChildExit>((done) => {
      const finish = (exit: ChildExit) => {
        if (slot.process !== child) return;
        slot.process = undefined;
        slot.exit = exit;
        done(exit);
        if (!slot.expectingExit && !this.#closed) {
          void tailOf(slot.logFile).then((tail) => {
            log.warn({ child: slot.name, pid: child.pid, ...exit, log: slot.logFile }, 'child exited');
            this.#launch.onChildExit?.(this.snapshot(slot), tail);
          });
        }
      };
      child.once('exit', (code, signal) => finish({ code, signal }));
      // spawn itself failed (no pid): reported as an exit with no code.
      child.once('error', (error) => {
        log.error({ child: slot.name, err: describeError(error) }, 'child could not be started');
        finish({ code: null, signal: null });
      });
    });
    log.debug({ child: slot.name, pid: slot.pid, grpc: slot.grpcPort, admin: slot.adminPort }, 'child started');
  }

  /** Resolves when the slot's process answers 200 on /readyz; rejects (naming it, with its log tail) on exit or timeout. */
  async waitReady(slot: Slot, deadline: number): Promise<void> {
    const { abortSignal, readyTimeoutMs } = this.#launch;
    const child = slot.process;
    let exited: ChildExit | undefined;
    void slot.exited.then((exit) => {
      exited = exit;
    });
    let last = 'no answer yet';
    const url = `http://127.0.0.1:${slot.adminPort}/readyz`;
    for (;;) {
      if (abortSignal?.aborted) throw new StartAbortedError();
      if (exited !== undefined || child === undefined || slot.process !== child) {
        const how = exited?.signal ? `was killed by ${exited.signal}` : `exited with code ${exited?.code ?? 'unknown'}`;
        throw new UnavailableError(
          `${slot.name} (pid ${slot.pid}) ${how} before it was ready; last lines of ${slot.logFile}:\n${await tailOf(slot.logFile)}`,
        );
      }
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await response.arrayBuffer().catch(() => undefined);
        if (response.status === 200) return;
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = describeError((error as { cause?: unknown }).cause ?? error);
      }
      if (Date.now() >= deadline) {
        throw new UnavailableError(
          `${slot.name} (pid ${slot.pid}) is not ready after ${Math.round(readyTimeoutMs / 1000)} s (GET ${url}: ${last}); last lines of ${slot.logFile}:\n${await tailOf(slot.logFile)}`,
        );
      }
      await sleep(200);
    }
  }

  /** Starts the slots together and waits until all are ready; the first failure rejects (after all have settled). */
  async startAll(list: readonly Slot[]): Promise<void> {
    for (const slot of list) this.spawn(slot);
    const deadline = Date.now() + this.#launch.readyTimeoutMs;
    const results = await Promise.allSettled(list.map((slot) => this.waitReady(slot, deadline)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** SIGTERM, then SIGKILL after the grace; resolves with how it ended (at once if it does not run). */
  async stop(slot: Slot, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit | undefined> {
    const { log, stopGraceMs } = this.#launch;
    const child = slot.process;
    if (child === undefined) return slot.exit;
    slot.expectingExit = true;
    child.kill(signal);
    if (signal === 'SIGKILL') return slot.exited;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((done) => {
      timer = setTimeout(() => done('late'), stopGraceMs);
    });
    const first = await Promise.race([slot.exited, late]);
    clearTimeout(timer);
    if (first !== 'late') return first;
    log.warn({ child: slot.name, pid: slot.pid, ms: stopGraceMs }, 'child did not stop in time: SIGKILL');
    child.kill('SIGKILL');
    return slot.exited;
  }

  /** True once the testnet stops every child: exits are expected from then on. */
  get closed(): boolean {
    return this.#closed;
  }

  async stopEverything(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.all().map((slot) => this.stop(slot)));
  }
}
