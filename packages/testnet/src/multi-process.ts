import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ConfigError,
  generateIdentity,
  groupParameterFields,
  importIdentity,
  type Logger,
  REPORT_ORDER,
  SafeError,
  silentLogger,
  toHex,
  UnavailableError,
} from '@safe/core';
import { dataManagerConfigFields } from '@safe/data-manager';
import { formatEndpoint } from '@safe/grpc';
import { checkSchemaName, describeError, openPostgres, type SqlDatabase } from '@safe/sql';
import { countsOf, defaultTestnetConfig, definedOnly, type TestnetConfig, validateTestnetConfig } from './config.js';
import { checkPortFree, prepareDataDir } from './data-dir.js';
import type { NetworkPersona } from './replicas.js';

/**
 * Start-up waves. Every replica reads its persona's Kafka topic in a consumer group of its own,
 * and a NEW group starts at the end of the topic: a copy published before a replica first joined
 * never reaches it. A PmidNode's first act is to offer its space to its PmidManagers, so they come
 * up first; nothing else is sent at start, so everyone else starts together after them (a single
 * wave would not be faster: on a small machine start-up is CPU-bound module loading).
 */
const START_WAVES: readonly (readonly NetworkPersona[])[] = [
  ['pmid-manager'],
  ['data-manager', 'version-manager', 'mpid-manager', 'maid-manager', 'pmid-node'],
];

/** Where the stack's env file lives when SAFE_STACK_DIR does not say (`pnpm stack up` writes it). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const LOGS = 'logs';
/** What a multi-process testnet keeps in its data dir; `fresh` deletes these and refuses anything else. */
const DATA_DIR_LAYOUT = {
  entries: ['maid-manager', 'data-manager', 'version-manager', 'mpid-manager', 'pmid-manager', 'pmid-node', LOGS],
  kind: 'multi-process testnet',
};
/** The key file the replica host reads from its SAFE_DATA_DIR (PKCS#8 DER, as the embedded testnet writes). */
const KEY_FILE = 'node.key';

// ---- the stack ----

/** Where the real stack is: what every replica process gets as SAFE_POSTGRES_URL, SAFE_REDIS_URL and SAFE_KAFKA_BROKERS. */
export interface StackEnv {
  readonly postgresUrl: string;
  readonly redisUrl: string;
  readonly kafkaBrokers: string;
}

const STACK_VARIABLES = { postgresUrl: 'SAFE_POSTGRES_URL', redisUrl: 'SAFE_REDIS_URL', kafkaBrokers: 'SAFE_KAFKA_BROKERS' } as const;

/** `KEY=VALUE` lines (comments, blank lines, `export ` and surrounding quotes allowed), as `pnpm stack env` prints them. */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key = '', value = ''] = match;
    values[key] = value.replace(/^(['"])(.*)\1$/, '$2');
  }
  return values;
}

/** The env file of the local stack: `$SAFE_STACK_DIR/stack.env`, default `<repo>/.safe-stack/stack.env`. */
export function stackEnvFile(env: Record<string, string | undefined> = process.env): string {
  return join(env.SAFE_STACK_DIR?.trim() || join(REPO_ROOT, '.safe-stack'), 'stack.env');
}

/**
 * The stack from the environment; a variable the environment does not set is read from the
 * stack's env file. Throws ConfigError naming what is missing (and how to get it) otherwise.
 */
export async function loadStackEnv(env: Record<string, string | undefined> = process.env): Promise<StackEnv> {
  const file = stackEnvFile(env);
  let fromFile: Record<string, string> | undefined;
  const values: Partial<Record<keyof StackEnv, string>> = {};
  const missing: string[] = [];
  for (const [key, variable] of Object.entries(STACK_VARIABLES) as [keyof StackEnv, string][]) {
    let value = env[variable]?.trim();
    if (!value) {
      fromFile ??= await readFile(file, 'utf8').then(parseEnvFile, () => ({}));
      value = fromFile[variable]?.trim();
    }
    if (value) values[key] = value;
    else missing.push(variable);
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `--stack local needs ${missing.join(', ')}: set ${missing.length > 1 ? 'them' : 'it'} in the environment, or start the local stack with \`pnpm stack up\` (it writes ${file})`,
    );
  }
  return values as StackEnv;
}

// ---- children ----

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

export interface MultiProcessTestnetOptions extends Partial<TestnetConfig> {
  /** Logs of the launcher (not of the replicas: theirs go to their log files). Default: none. */
  readonly logger?: Logger;
  /** Where the stack is; default `loadStackEnv(env)`. */
  readonly stackEnv?: StackEnv;
  /**
   * The network the replicas join (SAFE_NETWORK: their membership is the Redis hash
   * `safe:<network>:members`), so two testnets on one stack never see each other's replicas.
   * Default: `testnet-` and 10 hex digits of the data dir's absolute path (a restart rejoins it).
   */
  readonly network?: string;
  /** The environment the replica processes inherit (default process.env); the testnet's own variables are set on top. */
  readonly env?: Record<string, string | undefined>;
  /** Extra variables for every replica process, on top of everything else (e.g. `SAFE_LOG_LEVEL`). */
  readonly childEnv?: Record<string, string>;
  /** How long every child may take to answer 200 on /readyz (default 120 000 ms). */
  readonly readyTimeoutMs?: number;
  /** After SIGTERM, how long a child may take to exit before it gets SIGKILL (default: shutdownGraceMs + 10 000 ms). */
  readonly stopGraceMs?: number;
  /** The script a persona's replica runs (default `<repo>/services/<persona>/dist/main.js`). */
  readonly serviceMain?: (persona: NetworkPersona) => string;
  /** A child that exits while the testnet did not ask it to (crash, external kill). */
  readonly onChildExit?: (child: TestnetChild, tail: string) => void;
  /** Aborting it during start-up stops the children started so far and rejects with StartAbortedError (Ctrl-C while starting). */
  readonly abortSignal?: AbortSignal;
}

/** The start was aborted (`abortSignal`); every child started so far was stopped. */
export class StartAbortedError extends SafeError {
  constructor() {
    super('unavailable', 'the testnet start was aborted');
  }
}

export interface MultiProcessTestnet {
  /** host:port of the first MaidManager's Gateway: what clients (and the `safe` CLI) talk to. */
  readonly endpoint: string;
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  readonly config: TestnetConfig;
  readonly stack: StackEnv;
  /** The SAFE_NETWORK every replica joins. */
  readonly network: string;
  /** "6 maid-manager, 6 data-manager, 6 version-manager, 6 mpid-manager, 6 pmid-manager, 8 pmid-node (K=4), one process each, network testnet-…" at start. */
  readonly summary: string;
  /** Every child the testnet has now (a scaled-down one is gone, a killed one stays with running: false), by persona and index. */
  readonly children: readonly TestnetChild[];
  child(persona: NetworkPersona, index: number): TestnetChild;
  /**
   * Sends `signal` (default SIGKILL) to a child. For SIGKILL, SIGTERM and SIGINT resolves once it
   * has exited (with how); for any other signal (SIGSTOP, SIGCONT, ...) at once with undefined.
   */
  kill(persona: NetworkPersona, index: number, signal?: NodeJS.Signals): Promise<ChildExit | undefined>;
  /** Stops the child if it runs (SIGTERM, SIGKILL after the grace), starts it again with the same data dir and ports, waits for /readyz. */
  restart(persona: NetworkPersona, index: number): Promise<TestnetChild>;
  /** Like a StatefulSet: starts children up to `count` (ready when this resolves) or SIGTERMs the last ones down to it. */
  scale(persona: NetworkPersona, count: number): Promise<void>;
  /** Stops every child (SIGTERM, SIGKILL after the grace) and frees the data dir. Idempotent. */
  close(): Promise<void>;
}

const NETWORK_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The default network of a testnet: named after its data dir, so each data dir is a network of its own. */
export function networkFor(dataDir: string): string {
  return `testnet-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 10)}`;
}

/** The schema the replica host gives a replica (`<persona>_<first 16 hex of its name>`). */
export function replicaSchema(persona: string, nodeName: string): string {
  return `${persona.replaceAll('-', '_')}_${nodeName.slice(0, 16)}`;
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

/** The schemas of the manager replicas whose keys are in the data dir (what `fresh` throws away). */
async function schemasIn(dataDir: string): Promise<string[]> {
  const schemas: string[] = [];
  for (const persona of ['maid-manager', 'data-manager', 'version-manager', 'mpid-manager', 'pmid-manager'] as const) {
    const entries = await readdir(join(dataDir, persona)).catch(() => [] as string[]);
    for (const entry of entries) {
      try {
        schemas.push(replicaSchema(persona, toHex(importIdentity(await readFile(join(dataDir, persona, entry, KEY_FILE))).name)));
      } catch {
        // no key there
      }
    }
  }
  return schemas;
}

/** Best effort: drops schemas nobody will read again (the replicas of a `fresh` start's old keys). */
async function dropSchemas(postgresUrl: string, schemas: readonly string[], log: Logger): Promise<void> {
  if (schemas.length === 0) return;
  let db: SqlDatabase | undefined;
  try {
    db = await openPostgres({ url: postgresUrl, schema: 'public', poolSize: 1 });
    for (const schema of schemas) await db.query(`DROP SCHEMA IF EXISTS "${checkSchemaName(schema)}" CASCADE`);
    log.info({ schemas: schemas.length }, 'dropped the schemas of the previous identities');
  } catch (error) {
    log.warn({ err: describeError(error) }, 'could not drop the schemas of the previous identities');
  } finally {
    await db?.close().catch(() => undefined);
  }
}

/**
 * The replica's key in `<dir>/node.key`, made now if it has none: the launcher knows every name
 * before any process starts (and a MaidManager's AdoptVault finds every PmidNode's key).
 */
async function ensureKey(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, KEY_FILE);
  try {
    return toHex(importIdentity(await readFile(file)).name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UnavailableError(`${file} is not a replica key: ${describeError(error)}`, { cause: error });
    }
  }
  const identity = generateIdentity();
  await writeFile(file, identity.exportPrivateKey(), { mode: 0o600, flag: 'wx' });
  return toHex(identity.name);
}

/** A port nobody listens on now (bound and released); `taken` keeps two children of one testnet apart. */
async function freePort(host: string, taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((done, fail) => {
      const probe = createServer();
      probe.once('error', fail);
      probe.listen({ host: host.replace(/^\[|\]$/g, ''), port: 0, exclusive: true }, () => {
        const address = probe.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        probe.close(() => done(port));
      });
    });
    if (port > 0 && !taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new UnavailableError(`no free port on ${host}`);
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** The host others dial: a wildcard listen address is dialled on loopback. */
function dialHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

/** Members per persona in a replica's membership view, from its /metrics (`safe_members{persona="..."} n`); undefined if it does not say. */
async function membersSeenBy(adminPort: number): Promise<Map<string, number> | undefined> {
  let text: string;
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    text = await response.text();
    if (response.status !== 200) return undefined;
  } catch {
    return new Map(); // not answering: sees nobody (the check tries again)
  }
  const view = new Map<string, number>();
  for (const match of text.matchAll(/^safe_members\{persona="([^"]+)"\} (\d+)$/gm)) view.set(match[1] ?? '', Number(match[2]));
  return view.size > 0 ? view : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

interface Slot {
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

/**
 * The immutable-data network with every replica in an OS process of its own, on the real stack
 * (Kafka, Postgres, Redis): `node services/<persona>/dist/main.js`, configured by environment
 * variables (packages/host/src/config.ts). Each child has its data dir `<dataDir>/<persona>/<n>/`
 * (its key lives there, so a restart is the same node with the same schema, Redis keys and
 * consumer group), free ports (the first MaidManager takes `port`, 50051 by default, so the `safe`
 * CLI finds it), and its output in `<dataDir>/logs/<persona>-<n>.log`. Resolves once every child
 * answers 200 on /readyz.
 *
 * Options not given take the defaults of `testnetConfigFields` (the environment is not read for
 * them; it is for the stack, see `loadStackEnv`).
 */
export async function startMultiProcessTestnet(options: MultiProcessTestnetOptions = {}): Promise<MultiProcessTestnet> {
  const {
    logger,
    stackEnv: givenStack,
    env: baseEnv = process.env,
    childEnv = {},
    readyTimeoutMs = 120_000,
    stopGraceMs: givenGrace,
    serviceMain = (persona: NetworkPersona) => join(REPO_ROOT, 'services', persona, 'dist', 'main.js'),
    onChildExit,
    network: givenNetwork,
    abortSignal,
    ...overrides
  } = options;
  const config = validateTestnetConfig({ ...defaultTestnetConfig(), ...definedOnly(overrides), stack: 'local' });
  const log = (logger ?? silentLogger).child({ component: 'testnet' });
  const stack = givenStack ?? (await loadStackEnv(baseEnv));
  const stopGraceMs = givenGrace ?? config.shutdownGraceMs + 10_000;
  const dataDir = resolve(config.dataDir);
  const network = givenNetwork ?? networkFor(dataDir);
  if (!NETWORK_NAME.test(network))
    throw new ConfigError(`network must be lower-case letters, digits and '-' (at most 63), got ${JSON.stringify(network)}`);
  // Next to this module in dist/; from src/ (vitest) the built one.
  const guard = ['./orphan-guard.js', '../dist/orphan-guard.js']
    .map((path) => fileURLToPath(new URL(path, import.meta.url)))
    .find((path) => existsSync(path));
  const counts = countsOf(config);
  if (counts['maid-manager'] < 1) throw new ConfigError('the testnet needs at least one maid-manager');
  for (const persona of REPORT_ORDER) {
    const main = serviceMain(persona);
    if (!existsSync(main)) throw new ConfigError(`${persona}: ${main} does not exist (build with \`npx tsc -b\`)`);
  }
  await checkPortFree(config.host, config.port);
  // New keys mean new node names, so new schemas, Redis prefixes and consumer groups: nothing a
  // previous run left in the stack is read again. The old schemas are dropped, not left behind.
  const unlock = await prepareDataDir(dataDir, DATA_DIR_LAYOUT, config.fresh, async () =>
    dropSchemas(stack.postgresUrl, await schemasIn(dataDir), log),
  );
  try {
    await mkdir(join(dataDir, LOGS), { recursive: true });
  } catch (error) {
    await unlock();
    throw new UnavailableError(`data dir ${dataDir} is unusable: ${describeError(error)}`, { cause: error });
  }

  const slots = new Map<NetworkPersona, Slot[]>(REPORT_ORDER.map((persona) => [persona, []]));
  const ports = new Set<number>();
  let closed = false;

  /** Settings every replica reads, from the testnet's config (the same defaults as the embedded testnet). */
  const shared: Record<string, string> = {
    SAFE_POSTGRES_URL: stack.postgresUrl,
    SAFE_REDIS_URL: stack.redisUrl,
    SAFE_KAFKA_BROKERS: stack.kafkaBrokers,
    SAFE_GRPC_HOST: config.host,
    SAFE_ADMIN_HOST: '127.0.0.1',
    SAFE_CALL_TIMEOUT_MS: String(config.callTimeoutMs),
    SAFE_TICK_MS: String(config.tickMs),
    SAFE_SHUTDOWN_GRACE_MS: String(config.shutdownGraceMs),
    SAFE_LOG_LEVEL: config.logLevel,
    SAFE_NETWORK: network,
    SAFE_TESTNET_PARENT_PID: String(process.pid),
  };
  if (WILDCARD_HOSTS.has(config.host)) shared.SAFE_ADVERTISE_HOST = dialHost(config.host);
  for (const [key, field] of Object.entries({ ...groupParameterFields, ...dataManagerConfigFields })) {
    shared[field.env] = String(config[key as keyof TestnetConfig]);
  }
  const personaEnv: Record<NetworkPersona, Record<string, string>> = {
    'maid-manager': { SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR: join(dataDir, 'pmid-node') },
    'data-manager': {},
    'version-manager': {},
    'mpid-manager': {},
    'pmid-manager': {},
    'pmid-node': { SAFE_PMID_CAPACITY: String(config.pmidCapacity) },
  };

  function snapshot(slot: Slot): TestnetChild {
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
      grpcEndpoint: formatEndpoint(dialHost(config.host), slot.grpcPort),
      dataDir: slot.dataDir,
      logFile: slot.logFile,
    };
  }

  async function newSlot(persona: NetworkPersona, index: number): Promise<Slot> {
    const dir = join(dataDir, persona, String(index));
    const nodeName = await ensureKey(dir);
    const grpcPort = persona === 'maid-manager' && index === 0 && config.port !== 0 ? config.port : await freePort(config.host, ports);
    ports.add(grpcPort);
    const adminPort = await freePort('127.0.0.1', ports);
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

  function spawnSlot(slot: Slot): void {
    const fd = openSync(slot.logFile, 'a');
    let child: ChildProcess;
    try {
      writeSync(fd, `\n--- ${new Date().toISOString()} safe-testnet starts ${slot.name} (node ${slot.nodeName.slice(0, 16)})\n`);
      const preload = guard === undefined ? [] : ['--import', pathToFileURL(guard).href];
      child = spawn(process.execPath, [...preload, serviceMain(slot.persona)], {
        cwd: slot.dataDir,
        env: {
          ...baseEnv,
          ...shared,
          ...personaEnv[slot.persona],
          SAFE_DATA_DIR: slot.dataDir,
          SAFE_GRPC_PORT: String(slot.grpcPort),
          SAFE_ADMIN_PORT: String(slot.adminPort),
          ...childEnv,
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
        if (!slot.expectingExit && !closed) {
          void tailOf(slot.logFile).then((tail) => {
            log.warn({ child: slot.name, pid: child.pid, ...exit, log: slot.logFile }, 'child exited');
            onChildExit?.(snapshot(slot), tail);
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
  async function waitReady(slot: Slot, deadline: number): Promise<void> {
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

  /**
   * Resolves once every running child's membership view (its `safe_members` gauge on /metrics)
   * holds exactly the running children of each persona: a child that is ready has joined, but
   * the others see it only at their next poll. A child whose /metrics has no such gauge is not
   * asked. Rejects naming who sees what when that does not happen in time.
   */
  async function waitConverged(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (abortSignal?.aborted) throw new StartAbortedError();
      const running = allSlots().filter((slot) => slot.process !== undefined);
      const expected = new Map(REPORT_ORDER.map((persona) => [persona, running.filter((slot) => slot.persona === persona).length]));
      const views = await Promise.all(running.map((slot) => membersSeenBy(slot.adminPort)));
      const wrong: string[] = [];
      views.forEach((view, i) => {
        if (view === undefined) return;
        for (const [persona, count] of expected) {
          const seen = view.get(persona) ?? 0;
          if (seen !== count) wrong.push(`${running[i]?.name} sees ${seen} ${persona} (running: ${count})`);
        }
      });
      if (wrong.length === 0) return;
      if (Date.now() >= deadline) {
        throw new UnavailableError(
          `the replicas' membership views did not settle within ${Math.round(timeoutMs / 1000)} s: ${wrong.slice(0, 4).join('; ')}${wrong.length > 4 ? '; ...' : ''} (more than running: another testnet or replica announcing on the same Redis?)`,
        );
      }
      await sleep(250);
    }
  }

  /** Starts the slots together and waits until all are ready; the first failure rejects (after all have settled). */
  async function startAll(list: readonly Slot[]): Promise<void> {
    for (const slot of list) spawnSlot(slot);
    const deadline = Date.now() + readyTimeoutMs;
    const results = await Promise.allSettled(list.map((slot) => waitReady(slot, deadline)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** SIGTERM, then SIGKILL after the grace; resolves with how it ended (at once if it does not run). */
  async function stopSlot(slot: Slot, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit | undefined> {
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

  function slotOf(persona: NetworkPersona, index: number): Slot {
    const slot = slots.get(persona)?.find((s) => s.index === index);
    if (slot === undefined) throw new SafeError('not-found', `the testnet has no ${persona}-${index}`);
    return slot;
  }

  function allSlots(): Slot[] {
    return REPORT_ORDER.flatMap((persona) => slots.get(persona) ?? []);
  }

  async function stopEverything(): Promise<void> {
    closed = true;
    await Promise.all(allSlots().map((slot) => stopSlot(slot)));
  }

  const started = Date.now();
  try {
    for (const persona of REPORT_ORDER) {
      const list = slots.get(persona) ?? [];
      for (let index = 0; index < counts[persona]; index++) list.push(await newSlot(persona, index));
    }
    for (const wave of START_WAVES) {
      if (abortSignal?.aborted) throw new StartAbortedError();
      await startAll(wave.flatMap((persona) => slots.get(persona) ?? []));
      log.info({ personas: wave, ms: Date.now() - started }, 'ready');
    }
    await waitConverged(readyTimeoutMs);
  } catch (error) {
    await stopEverything().catch((cleanup: unknown) => log.warn({ err: describeError(cleanup) }, 'cleanup after a failed start'));
    await unlock();
    throw error instanceof SafeError ? error : new UnavailableError(`testnet start: ${describeError(error)}`, { cause: error });
  }

  const entry = slotOf('maid-manager', 0);
  const endpoint = formatEndpoint(dialHost(config.host), entry.grpcPort);
  const summary = `${REPORT_ORDER.map((persona) => `${counts[persona]} ${persona}`).join(', ')} (K=${config.closeGroupSize}), one process each, network ${network}`;
  log.info({ endpoint, dataDir, ms: Date.now() - started, counts }, 'testnet ready');

  let closing: Promise<void> | undefined;
  const checkOpen = () => {
    if (closed) throw new SafeError('failed-precondition', 'the testnet is closed');
  };

  return {
    endpoint,
    dataDir,
    config,
    stack,
    network,
    summary,
    get children() {
      return allSlots().map(snapshot);
    },
    child(persona, index) {
      return snapshot(slotOf(persona, index));
    },
    async kill(persona, index, signal = 'SIGKILL') {
      checkOpen();
      const slot = slotOf(persona, index);
      const child = slot.process;
      if (child === undefined) return slot.exit;
      if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
        slot.expectingExit = true;
        child.kill(signal);
        return slot.exited;
      }
      child.kill(signal);
      return undefined;
    },
    async restart(persona, index) {
      checkOpen();
      const slot = slotOf(persona, index);
      await stopSlot(slot);
      await startAll([slot]);
      await waitConverged(readyTimeoutMs);
      log.info({ child: slot.name, pid: slot.pid }, 'child restarted');
      return snapshot(slot);
    },
    async scale(persona, count) {
      checkOpen();
      if (!Number.isInteger(count) || count < 0) throw new ConfigError(`scale: count must be a whole number, got ${count}`);
      if (persona === 'maid-manager' && count < 1) throw new ConfigError('scale: the testnet needs at least one maid-manager');
      const list = slots.get(persona) ?? [];
      if (count > list.length) {
        const added: Slot[] = [];
        for (let index = list.length; index < count; index++) added.push(await newSlot(persona, index));
        list.push(...added);
        await startAll(added);
      } else {
        const removed = list.splice(count);
        await Promise.all(removed.map((slot) => stopSlot(slot)));
      }
      await waitConverged(readyTimeoutMs);
      log.info({ persona, count }, 'scaled');
    },
    close() {
      closing ??= (async () => {
        await stopEverything();
        await unlock();
        log.info({ dataDir }, 'testnet stopped');
      })();
      return closing;
    },
  };
}
