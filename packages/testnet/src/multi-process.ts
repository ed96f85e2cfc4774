import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  groupParameterFields,
  type Logger,
  REPORT_ORDER,
  SafeError,
  settingOf,
  silentLogger,
  UnavailableError,
} from '@safe/core';
import { dataManagerConfigFields } from '@safe/data-manager';
import { formatEndpoint } from '@safe/grpc';
import { describeError } from '@safe/sql';
import { type ChildExit, Children, LOGS, type Slot, StartAbortedError, type TestnetChild } from './children.js';
import { countsOf, defaultTestnetConfig, definedOnly, type TestnetConfig, validateTestnetConfig } from './config.js';
import { checkPortFree, prepareDataDir } from './data-dir.js';
import { dialHost, WILDCARD_HOSTS } from './ports.js';
import { dropSchemas, schemasIn } from './replica-keys.js';
import type { NetworkPersona } from './replicas.js';
import { loadStackEnv, REPO_ROOT, type StackEnv } from './stack-env.js';
import { waitConverged } from './views.js';

export { type ChildExit, StartAbortedError, type TestnetChild, tailOf } from './children.js';
export { replicaSchema } from './replica-keys.js';
export { loadStackEnv, parseEnvFile, type StackEnv, stackEnvFile } from './stack-env.js';

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

/** What a multi-process testnet keeps in its data dir; `fresh` deletes these and refuses anything else. */
const DATA_DIR_LAYOUT = {
  entries: ['maid-manager', 'data-manager', 'version-manager', 'mpid-manager', 'pmid-manager', 'pmid-node', LOGS],
  kind: 'multi-process testnet',
};

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

  const shared = sharedEnv(config, stack, network);
  const personaEnv = personaEnvOf(config, dataDir);
  const children = new Children({
    log,
    dataDir,
    host: config.host,
    port: config.port,
    guard,
    serviceMain,
    env: (persona) => ({ ...baseEnv, ...shared, ...personaEnv[persona] }),
    childEnv,
    readyTimeoutMs,
    stopGraceMs,
    abortSignal,
    onChildExit,
  });
  const converged = () => waitConverged(() => children.all(), readyTimeoutMs, abortSignal);

  const started = Date.now();
  try {
    for (const persona of REPORT_ORDER) {
      const list = children.of(persona);
      for (let index = 0; index < counts[persona]; index++) list.push(await children.newSlot(persona, index));
    }
    for (const wave of START_WAVES) {
      if (abortSignal?.aborted) throw new StartAbortedError();
      await children.startAll(wave.flatMap((persona) => children.of(persona)));
      log.info({ personas: wave, ms: Date.now() - started }, 'ready');
    }
    await converged();
  } catch (error) {
    await children.stopEverything().catch((cleanup: unknown) => log.warn({ err: describeError(cleanup) }, 'cleanup after a failed start'));
    await unlock();
    throw error instanceof SafeError ? error : new UnavailableError(`testnet start: ${describeError(error)}`, { cause: error });
  }

  const entry = children.slotOf('maid-manager', 0);
  const endpoint = formatEndpoint(dialHost(config.host), entry.grpcPort);
  const summary = `${REPORT_ORDER.map((persona) => `${counts[persona]} ${persona}`).join(', ')} (K=${config.closeGroupSize}), one process each, network ${network}`;
  log.info({ endpoint, dataDir, ms: Date.now() - started, counts }, 'testnet ready');

  let closing: Promise<void> | undefined;
  const checkOpen = () => {
    if (children.closed) throw new SafeError('failed-precondition', 'the testnet is closed');
  };

  return {
    endpoint,
    dataDir,
    config,
    stack,
    network,
    summary,
    get children() {
      return children.all().map((slot) => children.snapshot(slot));
    },
    child(persona, index) {
      return children.snapshot(children.slotOf(persona, index));
    },
    async kill(persona, index, signal = 'SIGKILL') {
      checkOpen();
      const slot = children.slotOf(persona, index);
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
      const slot = children.slotOf(persona, index);
      await children.stop(slot);
      await children.startAll([slot]);
      await converged();
      log.info({ child: slot.name, pid: slot.pid }, 'child restarted');
      return children.snapshot(slot);
    },
    async scale(persona, count) {
      checkOpen();
      if (!Number.isInteger(count) || count < 0) throw new ConfigError(`scale: count must be a whole number, got ${count}`);
      if (persona === 'maid-manager' && count < 1) throw new ConfigError('scale: the testnet needs at least one maid-manager');
      const list = children.of(persona);
      if (count > list.length) {
        const added: Slot[] = [];
        for (let index = list.length; index < count; index++) added.push(await children.newSlot(persona, index));
        list.push(...added);
        await children.startAll(added);
      } else {
        const removed = list.splice(count);
        await Promise.all(removed.map((slot) => children.stop(slot)));
      }
      await converged();
      log.info({ persona, count }, 'scaled');
    },
    close() {
      closing ??= (async () => {
        await children.stopEverything();
        await unlock();
        log.info({ dataDir }, 'testnet stopped');
      })();
      return closing;
    },
  };
}

/** Settings every replica reads, from the testnet's config (the same defaults as the embedded testnet). */
function sharedEnv(config: TestnetConfig, stack: StackEnv, network: string): Record<string, string> {
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
    shared[settingOf(field).env] = String(config[key as keyof TestnetConfig]);
  }
  return shared;
}

/** Settings of one persona's replicas only. */
function personaEnvOf(config: TestnetConfig, dataDir: string): Record<NetworkPersona, Record<string, string>> {
  return {
    'maid-manager': { SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR: join(dataDir, 'pmid-node') },
    'data-manager': {},
    'version-manager': {},
    'mpid-manager': {},
    'pmid-manager': {},
    'pmid-node': { SAFE_PMID_CAPACITY: String(config.pmidCapacity) },
  };
}
