import { resolve } from 'node:path';
import {
  ClientGateway,
  ConfigError,
  type Identity,
  type Logger,
  type Outcome,
  PERSONAS,
  type PersonaDefinition,
  type Replica,
  rankReportsSignature,
  type SafeError,
  shortName,
  systemClock,
  toHex,
} from '@safe/core';
import { DirectTransport } from '@safe/grpc';
import { redisReplicaStores } from '@safe/redis';
import type { SqlDatabase } from '@safe/sql';
import type { Logger as PinoLogger } from 'pino';
import { Readiness } from './admin.js';
import { Cleanup } from './cleanup.js';
import { type Fields, loadReplicaConfig, type ReplicaConfig } from './config.js';
import { groupParametersOf } from './group-parameters.js';
import { asCoreLogger, createLogger } from './logger.js';
import { exposeCacheMetrics, MetricsRegistry } from './metrics.js';
import { shutdownTelemetry, startTelemetry, tracingServiceName } from './otel.js';
import type { CurrentView, StartContext } from './replica-context.js';
import { ReplicaSet, startTicks } from './replica-set.js';
import { connectKafka, connectPostgres, connectRedisStep, openIdentity, startAdmin } from './start-connections.js';
import { PendingReplica, startGroupConsumer } from './start-consumer.js';
import { type EntryOptions, startGrpc } from './start-grpc.js';
import { type Joined, joinMembership, watchMembership } from './start-membership.js';
import { describe, startStep } from './start-step.js';
import { CopyTraces, OtelTelemetry } from './telemetry.js';
import { endpointResolver, SplitTransport } from './transport.js';

export { KAFKA_MAX_MESSAGE_BYTES } from './start-connections.js';
export type { EntryOptions } from './start-grpc.js';
export { StartupError } from './start-step.js';

/** What a persona's `openState` gets: its config, its identity, its schema (if it uses SQL), its volume. */
export interface ReplicaDeps<C> {
  readonly config: C;
  readonly identity: Identity;
  /** Absolute SAFE_DATA_DIR. */
  readonly dataDir: string;
  /** This replica's schema; throws for a persona started with `usesPostgres: false`. */
  database(): SqlDatabase;
  readonly logger: Logger;
}

export interface RunReplicaOptions<S, E extends Fields = Record<never, never>> {
  readonly definition: PersonaDefinition<S>;
  readonly openState: (deps: ReplicaDeps<ReplicaConfig<E>>) => Promise<S>;
  /** An outcome to carry out once the replica is up (a PmidNode's Offer). */
  readonly afterStart?: (replica: Replica<S>, deps: ReplicaDeps<ReplicaConfig<E>>) => Outcome | undefined;
  /** The persona's own configuration fields, read and validated with the host's. */
  readonly extraConfig?: E;
  /** False for a persona with no SQL state (PmidNode): no Postgres connection, no schema. Default true. */
  readonly usesPostgres?: boolean;
  /** Serve the client Gateway on this replica's gRPC server (MaidManager). */
  readonly entry?: EntryOptions;
  /** The persona's own gauges on the admin port's /metrics, registered once the replica exists. */
  readonly metrics?: (registry: MetricsRegistry, replica: Replica<S>) => void;
}

export interface StartReplicaOptions<S, E extends Fields> extends RunReplicaOptions<S, E> {
  readonly config: ReplicaConfig<E>;
  readonly logger: PinoLogger;
  /** Called when the replica cannot go on (the group-bus consumer died): the process should stop with this code. */
  readonly onFatal?: (error: SafeError) => void;
}

export interface RunningReplica<S> {
  readonly replica: Replica<S>;
  readonly identity: Identity;
  /** host:port others dial (announced in the membership). */
  readonly endpoint: string;
  /** host:port of the admin HTTP server. */
  readonly adminEndpoint: string;
  readonly readiness: Readiness;
  readonly metrics: MetricsRegistry;
  /** The graceful shutdown (ARCHITECTURE.md order). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts one replica of a persona on the real stack, in the order: admin port (healthz; readyz
 * 503) → identity (key in SAFE_DATA_DIR, data dir locked) → Postgres (own schema,
 * `<persona>_<name16>`) → Redis (stores under the replica's prefix) → Kafka (producer, topics) →
 * state (migrations) → group-bus consumer (start offsets fixed; copies wait for the replica) →
 * gRPC (Node; Gateway + health on an entry) → membership join → its own announcement seen →
 * Replica on that view → membership watch (each change a matrix change) → sync tick → afterStart
 * → gRPC SERVING, ready.
 *
 * One change to the proposed order: the consumer starts BEFORE the node announces itself. A new
 * consumer group starts at the end of each partition, so a consumer started after the
 * announcement would lose every copy sent to this node in between (seen on the real stack: a
 * PmidManager that missed PmidNodes' Offers never agreed with its group).
 *
 * A dependency that does not answer rejects with a StartupError that names it, after undoing what
 * was started: a replica never half-serves.
 */
export async function startReplica<S, E extends Fields>(options: StartReplicaOptions<S, E>): Promise<RunningReplica<S>> {
  const { config, definition } = options;
  const persona = definition.persona;
  const pino = options.logger;
  const log = asCoreLogger(pino);
  const dataDir = resolve(config.dataDir);
  const metrics = new MetricsRegistry();
  const copies = new CopyTraces();
  const readiness = new Readiness();
  const usesPostgres = options.usesPostgres ?? true;
  const params = groupParametersOf(config);
  // Everything started so far, undone by `stop` in ARCHITECTURE.md's order (also after a failed start).
  const cleanup = new Cleanup(log);
  const context: StartContext = { config, persona, log, metrics, readiness, cleanup };
  const pending = new PendingReplica<S>();
  const view: CurrentView = { latest: undefined };
  let gateway: ClientGateway | undefined;

  /** The graceful shutdown, stage by stage; each step bounded, none throws. */
  async function shutdown(): Promise<void> {
    // 1. Readiness fails first (gRPC health goes NOT_SERVING inside the gRPC close).
    readiness.setPhase('stopping');
    await cleanup.run();
    // Telemetry last.
    await cleanup.attempt('flushing telemetry', () => shutdownTelemetry());
    log.info({}, 'replica stopped');
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= shutdown();
    return stopping;
  };

  try {
    const adminEndpoint = await startAdmin(context, pino, usesPostgres, view);
    const identity = await openIdentity(context, dataDir);
    const name16 = toHex(identity.name).slice(0, 16);
    const telemetry = new OtelTelemetry({ metrics, copies, attributes: { 'safe.persona': persona, 'safe.node': name16 } });
    const sql = usesPostgres ? await connectPostgres(context, name16) : undefined;
    const redis = await connectRedisStep(context, name16);
    const stores = redisReplicaStores(redis, persona, identity.name);
    const kafka = await connectKafka(context, name16, telemetry);

    // ---- state: the persona's tables (migrations) or its disk ----
    const deps: ReplicaDeps<ReplicaConfig<E>> = {
      config,
      identity,
      dataDir,
      logger: log,
      database() {
        if (sql === undefined) throw new ConfigError(`${persona} was started without Postgres`);
        return sql;
      },
    };
    const state = await startStep('opening the state', config.connectTimeoutMs * 3, () => options.openState(deps));

    const consumer = await startGroupConsumer(context, { identity, kafka, telemetry, copies, replica: pending, onFatal: options.onFatal });
    const grpc = await startGrpc(context, { telemetry, copies, replica: pending, view, gateway: () => gateway, entry: options.entry });
    const joined = await joinMembership(context, redis, identity, grpc.endpoint, view, consumer);

    // ---- the replica, on the view it joined with ----
    const direct = new DirectTransport({
      resolve: endpointResolver(() => view.latest ?? joined.seen),
      deadlineMs: config.directDeadlineMs,
      logger: log,
      onDropped: (envelope, reason) => metrics.inc('safe_direct_dropped_total', { persona, type: envelope.type, reason }),
    });
    cleanup.deferStep('direct channels', 'closing direct channels', () => direct.close(Math.min(config.shutdownGraceMs, 1000)));
    const replicas = new ReplicaSet(cleanup, { log, graceMs: config.shutdownGraceMs });
    const replica = replicas.compose<S>({
      definition,
      identity,
      params,
      state,
      routing: joined.seen,
      transport: new SplitTransport(direct, kafka.producer),
      stores,
      clock: systemClock,
      telemetry,
      logger: log,
    });
    exposeCacheMetrics(metrics, replica.cache, { persona });
    if (options.entry !== undefined)
      gateway = new ClientGateway(replica as Replica<unknown>, systemClock, options.entry.clientMessageTypes);
    pending.ready(replica);
    metrics.gauge({
      name: 'safe_bus_served_partitions',
      help: "Partitions of its persona's topic this replica reads (those of its XOR neighbourhood)",
      labelNames: ['persona'],
      collect: () => [{ labels: { persona }, value: consumer.served.length }],
    });
    metrics.gauge({
      name: 'safe_members',
      help: 'Members of each persona in the membership view of this replica',
      labelNames: ['persona'],
      collect: () => PERSONAS.map((p) => ({ labels: { persona: p }, value: view.latest?.view(p).size ?? 0 })),
    });
    options.metrics?.(metrics, replica);

    watchMembership(context, joined, view, { consumer, direct, replicas });
    startSyncTicks(context, replicas, replica, definition, joined);

    const outcome = options.afterStart?.(replica, deps);
    if (outcome !== undefined) {
      await replica.dispatch(outcome).catch((error: unknown) => log.warn({ err: describe(error) }, 'start-up announcement failed'));
    }

    grpc.server.setServing(true);
    readiness.setPhase('ready');
    log.info(
      {
        persona,
        node: shortName(identity.name),
        endpoint: grpc.endpoint,
        admin: adminEndpoint,
        gateway: options.entry !== undefined,
        tracing: tracingServiceName() ?? false,
      },
      'replica ready',
    );
    return { replica, identity, endpoint: grpc.endpoint, adminEndpoint, readiness, metrics, stop };
  } catch (error) {
    pending.abandon();
    await stop();
    throw error;
  }
}

/** Sync entries are re-sent on a timer; a PmidManager's rank reports are re-announced after a tick that changed them. */
function startSyncTicks<S>(
  context: StartContext,
  replicas: ReplicaSet,
  replica: Replica<S>,
  definition: PersonaDefinition<S>,
  joined: Joined,
): void {
  const { config, log, cleanup } = context;
  let announced = rankReportsSignature(undefined);
  const announceRankReports = async () => {
    const reports = await definition.rankReports?.(replica.state);
    if (reports === undefined || rankReportsSignature(reports) === announced) return;
    await joined.members.join({ ...joined.self, rankReports: reports });
    announced = rankReportsSignature(reports);
  };
  startTicks(cleanup, { everyMs: config.tickMs, log }, () =>
    replicas
      .tick()
      .then(() => announceRankReports().catch((error: unknown) => log.warn({ err: describe(error) }, 'rank reports not announced'))),
  );
}

/**
 * The whole process of one replica: config from the environment (exit 2 when invalid), start
 * (exit 1 when a dependency does not answer — never half-serving), then serve until SIGTERM or
 * SIGINT and shut down gracefully (exit 0). A second signal exits at once (130).
 */
export async function runReplica<S, E extends Fields = Record<never, never>>(options: RunReplicaOptions<S, E>): Promise<never> {
  const persona = options.definition.persona;
  const tag = `safe-${persona}`;
  let config: ReplicaConfig<E>;
  try {
    config = loadReplicaConfig(options.extraConfig ?? ({} as E));
  } catch (error) {
    process.stderr.write(`${tag}: ${describe(error)}\n`);
    process.exit(2);
  }
  startTelemetry(process.env.OTEL_SERVICE_NAME || tag);
  const logger = createLogger(config.logLevel, { service: tag });

  let signals = 0;
  let running: RunningReplica<S> | undefined;
  let requested: (code: number) => void = () => {};
  const stopRequested = new Promise<number>((done) => {
    requested = done;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(130);
    }
    logger.info({ signal }, 'stopping');
    requested(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    running = await startReplica({
      ...options,
      config,
      logger,
      onFatal: () => requested(1),
    });
  } catch (error) {
    const reason = describe(error);
    logger.error({ err: reason }, 'replica did not start');
    process.stderr.write(`${tag}: ${reason}\n`);
    logger.flush();
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  const exitCode = await stopRequested;
  await running.stop();
  logger.flush();
  process.exit(exitCode);
}
