import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import {
  asSafeError,
  ClientGateway,
  generateIdentity,
  type Identity,
  importIdentity,
  type Logger,
  MemoryBus,
  type NodeInfo,
  nameForPublicKey,
  PUBLIC_KEY_BYTES,
  REPORT_ORDER,
  type Replica,
  RoutingTable,
  refreshRankReports,
  SafeError,
  shortName,
  signVaultRegistrationPart,
  silentLogger,
  systemClock,
  toHex,
  UnavailableError,
} from '@safe/core';
import { type DataManagerState, groupFarmingRate, groupFarmingValue, pickDataManagerConfig } from '@safe/data-manager';
import { type AdoptedVault, type NetworkInfo, startGatewayServer } from '@safe/grpc';
import { Cleanup, groupParametersOf, ReplicaSet, startTicks, within } from '@safe/host/compose';
import { offer } from '@safe/pmid-node';
import { describeError, openPglite, type PgliteHost } from '@safe/sql';
import { countsOf, defaultTestnetConfig, definedOnly, type TestnetConfig, validateTestnetConfig } from './config.js';
import { checkPortFree, prepareDataDir } from './data-dir.js';
import { clientMessageTypes, NETWORK_PERSONAS, type NetworkPersona, PERSONA_DEFINITIONS, replicaOptions } from './replicas.js';
import type { ReplicaTracing } from './tracing.js';

/** A Put or Get carries up to one chunk; leave room for the envelope and the reply around it. */
const MAX_MESSAGE_BYTES = 4 * MAX_CHUNK_BYTES + 64 * 1024;
/** How long close() waits for messages still on the bus before it stops the replicas anyway. */
const DRAIN_MS = 5000;

export interface EmbeddedTestnetOptions extends Partial<TestnetConfig> {
  /** Logs of the testnet and every replica (default: none). */
  readonly logger?: Logger;
  /** Each replica's tracing (`--trace`); default none. */
  readonly tracingFor?: (persona: NetworkPersona, node: string) => ReplicaTracing;
}

export interface EmbeddedTestnet {
  /** host:port the Gateway is bound to. */
  readonly endpoint: string;
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  readonly config: TestnetConfig;
  /** Every replica, as the routing view has it. */
  readonly nodes: readonly NodeInfo[];
  /** The running replicas of each persona, for inspection (tests, tools); their state is the persona's own. */
  readonly replicas: ReadonlyMap<NetworkPersona, readonly Replica<unknown>[]>;
  /** Replicas per persona, in the order a request travels. */
  readonly counts: Readonly<Record<NetworkPersona, number>>;
  /** "6 maid-manager, 6 data-manager, 6 version-manager, 6 mpid-manager, 6 pmid-manager, 8 pmid-node (K=4)". */
  readonly summary: string;
  /**
   * The DataManagers' farming rate (SPEC.md 3.3): the median of their group values (each the median
   * of a DataManager's own rate and its close peers'). Logged as `farming rate` whenever it changes.
   */
  farmingRate(): number | undefined;
  /** Stops ticks, closes the Gateway (NOT_SERVING first), drains the bus, stops replicas, closes PGlite. Idempotent. */
  close(): Promise<void>;
}

/**
 * The first `count` identities of a persona from `<dir>/<n>.key` (PKCS#8 DER), creating the
 * missing ones. A restart reads the same keys, so every replica keeps its name, its schema and
 * its chunk folder; more replicas than last time get new keys, fewer leave the extra keys unused.
 */
async function loadIdentities(dir: string, count: number): Promise<Identity[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identities: Identity[] = [];
  for (let n = 0; n < count; n++) {
    const file = join(dir, `${n}.key`);
    let key: Uint8Array | undefined;
    try {
      key = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (key !== undefined) {
      identities.push(importIdentity(key));
      continue;
    }
    const identity = generateIdentity();
    await writeFile(file, identity.exportPrivateKey(), { mode: 0o600, flag: 'wx' });
    identities.push(identity);
  }
  return identities;
}

interface Running {
  /** Every replica, stopped together at shutdown once the bus has settled. */
  readonly all: ReplicaSet;
  readonly replicas: Map<NetworkPersona, Replica<unknown>[]>;
  readonly identities: Map<NetworkPersona, Identity[]>;
  readonly bus: MemoryBus;
  readonly routing: RoutingTable;
}

async function startReplicas(
  cleanup: Cleanup,
  config: TestnetConfig,
  dataDir: string,
  sql: PgliteHost,
  log: Logger,
  tracingFor: EmbeddedTestnetOptions['tracingFor'],
): Promise<Running> {
  // Every group parameter the config read (SAFE_K and friends), as a replica process takes them.
  const params = groupParametersOf(config);
  const dataManager = pickDataManagerConfig(config);
  const counts = countsOf(config);
  const identities = new Map<NetworkPersona, Identity[]>();
  for (const persona of NETWORK_PERSONAS) {
    identities.set(persona, await loadIdentities(join(dataDir, 'identities', persona), counts[persona]));
  }
  // The whole network is known up front: every replica starts with the full view, so a start is not churn.
  const routing = new RoutingTable(
    NETWORK_PERSONAS.flatMap((persona) =>
      (identities.get(persona) ?? []).map((id) => ({ persona, name: id.name, publicKey: id.publicKey })),
    ),
  );
  const bus = new MemoryBus(routing, params.closeGroupSize);
  bus.onRejected = (envelope, result) => {
    if (typeof result !== 'string')
      log.debug({ type: envelope.type, kind: result.rejected.kind, err: result.rejected.message }, 'copy rejected');
  };
  const all = new ReplicaSet(cleanup, { log, graceMs: DRAIN_MS, settle: () => bus.idle() });
  const replicas = new Map<NetworkPersona, Replica<unknown>[]>();
  for (const persona of NETWORK_PERSONAS) {
    const list: Replica<unknown>[] = [];
    for (const identity of identities.get(persona) ?? []) {
      const tracing = tracingFor?.(persona, toHex(identity.name).slice(0, 16));
      const options = await replicaOptions(persona, identity, bus, routing, {
        params,
        sql,
        dataDir,
        pmidCapacity: config.pmidCapacity,
        dataManager,
        clock: systemClock,
        logger: log,
        durableFirewall: true,
        ...(tracing ? { telemetry: tracing.telemetry } : {}),
      });
      const replica = all.compose(options);
      bus.attach(replica, tracing && ((envelope) => tracing.deliver(envelope, (e) => replica.receive(e))));
      list.push(replica);
    }
    replicas.set(persona, list);
  }
  return { all, replicas, identities, bus, routing };
}

/** The median of the DataManagers' group farming rates; undefined without DataManagers. */
export function dataManagersFarmingRate(dataManagers: readonly Replica<unknown>[]): number | undefined {
  const values = dataManagers.map((replica) => groupFarmingValue(replica.state as DataManagerState));
  return groupFarmingRate(values.filter((value): value is number => value !== undefined));
}

/**
 * The whole immutable-data network in this process: replicas of every persona on the in-memory
 * bus, one PGlite (`<dataDir>/pglite`) holding each manager replica's schema, PmidNode chunks on
 * disk, and the gRPC Gateway on a MaidManager replica. Replica keys live in
 * `<dataDir>/identities/<persona>/<n>.key`, so a restart on the same data dir is the same network
 * with the same data.
 *
 * Options not given take the defaults of `testnetConfigFields` (the environment is NOT read here;
 * `loadTestnetConfig` does that for the CLI).
 */
export async function startEmbeddedTestnet(options: EmbeddedTestnetOptions = {}): Promise<EmbeddedTestnet> {
  const { logger, tracingFor, ...overrides } = options;
  const config = validateTestnetConfig({ ...defaultTestnetConfig(), ...definedOnly(overrides) });
  const log = (logger ?? silentLogger).child({ component: 'testnet' });
  const dataDir = resolve(config.dataDir);
  await checkPortFree(config.host, config.port);
  const unlock = await prepareDataDir(dataDir, { entries: ['identities', 'pglite', 'pmid-node'], kind: 'testnet' }, config.fresh);

  // Undone at close (or after a failed start) in the replica processes' stage order: ticks, the
  // Gateway, the replicas once the bus has settled, PGlite, the data dir's lock.
  const cleanup = new Cleanup(log);
  cleanup.defer('data dir', unlock);
  const stop = () => cleanup.run();

  try {
    const started = Date.now();
    let sql: PgliteHost;
    try {
      sql = await openPglite({ dataDir: join(dataDir, 'pglite') });
    } catch (error) {
      throw new UnavailableError(`data dir ${dataDir} is unusable: ${describeError(error)}`, { cause: error });
    }
    cleanup.deferStep('postgres', 'closing pglite', () => sql.close());
    const { all, replicas, identities, bus, routing } = await startReplicas(
      cleanup,
      config,
      dataDir,
      sql,
      logger ?? silentLogger,
      tracingFor,
    );

    // PmidNodes announce their space; wait until the PmidManagers have recorded it.
    for (const replica of replicas.get('pmid-node') ?? []) await replica.dispatch(offer(replica.name, config.pmidCapacity));
    await within(bus.idle(), DRAIN_MS);

    const farmingRate = () => dataManagersFarmingRate(replicas.get('data-manager') ?? []);
    let loggedRate = farmingRate();
    log.info({ rate: loggedRate }, 'farming rate');
    // Rank reports (PmidManagers) are read after every tick; a change is a new view for every replica.
    const byNode = new Map(all.all.map((replica) => [`${replica.persona}/${toHex(replica.name)}`, replica]));
    let view = routing;
    const announceRankReports = async () => {
      const next = await refreshRankReports(view, (node) => {
        const replica = byNode.get(`${node.persona}/${toHex(node.name)}`);
        return replica && PERSONA_DEFINITIONS[replica.persona as NetworkPersona].rankReports?.(replica.state);
      });
      if (next === undefined) return;
      view = next;
      bus.setRouting(next);
      await all.follow(next);
    };
    startTicks(cleanup, { everyMs: config.tickMs, log }, async () => {
      await all.tick();
      await announceRankReports();
      const rate = farmingRate();
      if (rate !== loggedRate) log.info({ rate }, 'farming rate');
      loggedRate = rate;
    });

    const entry = replicas.get('maid-manager')?.[0];
    if (entry === undefined) throw new SafeError('failed-precondition', 'the testnet needs at least one maid-manager');
    const gateway = new ClientGateway(entry, systemClock, clientMessageTypes());
    const counts = countsOf(config);
    const pmidNodes = identities.get('pmid-node') ?? [];

    const info = (): NetworkInfo => ({
      closeGroupSize: config.closeGroupSize,
      maxChunkSize: MAX_CHUNK_BYTES,
      personas: REPORT_ORDER.map((persona) => ({ persona, replicas: counts[persona] })),
    });
    const adoptVault = (maidPublicKey: Uint8Array): AdoptedVault => {
      if (maidPublicKey.length !== PUBLIC_KEY_BYTES) {
        throw new SafeError('invalid-argument', `maid_public_key must be ${PUBLIC_KEY_BYTES} bytes, got ${maidPublicKey.length}`);
      }
      // The PmidNode closest to the client's name: the same client always gets the same vault.
      const [closest] = routing.view('pmid-node').closeGroup(nameForPublicKey(maidPublicKey), 1);
      const vault = pmidNodes.find((id) => closest !== undefined && toHex(id.name) === toHex(closest));
      if (vault === undefined) throw new SafeError('unavailable', 'the testnet has no PmidNode to adopt');
      log.info({ maid: shortName(nameForPublicKey(maidPublicKey)), pmid: shortName(vault.name) }, 'vault adopted');
      return { pmidPublicKey: vault.publicKey, pmidSignature: signVaultRegistrationPart(vault, maidPublicKey, vault.publicKey) };
    };

    const server = await startGatewayServer({
      gateway,
      host: config.host,
      port: config.port,
      info,
      adoptVault,
      callTimeoutMs: config.callTimeoutMs,
      shutdownGraceMs: config.shutdownGraceMs,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      logger: logger ?? silentLogger,
    });
    cleanup.defer('grpc', () => server.close());
    const endpoint = server.endpoint;
    const summary = `${REPORT_ORDER.map((persona) => `${counts[persona]} ${persona}`).join(', ')} (K=${config.closeGroupSize})`;
    log.info({ endpoint, dataDir, ms: Date.now() - started, counts }, 'testnet ready');

    let closing: Promise<void> | undefined;
    return {
      endpoint,
      dataDir,
      config,
      nodes: routing.allNodes(),
      replicas,
      counts,
      summary,
      farmingRate,
      close() {
        closing ??= stop().then(() => log.info({ dataDir }, 'testnet stopped'));
        return closing;
      },
    };
  } catch (error) {
    await stop().catch((cleanup: unknown) => log.warn({ err: describeError(cleanup) }, 'cleanup after a failed start'));
    throw asSafeError(error, 'testnet start');
  }
}
