import { resolve } from 'node:path';
import {
  ClientGateway,
  type ClientReplyValue,
  ConfigError,
  type Envelope,
  type GroupParameters,
  groupParameterFields,
  type Identity,
  type Logger,
  type MemberAnnouncement,
  type Outcome,
  PERSONAS,
  type PersonaDefinition,
  type PersonaName,
  REPORT_ORDER,
  type ReceiveResult,
  Replica,
  RoutingTable,
  rankReportsSignature,
  type SafeError,
  shortName,
  systemClock,
  toHex,
  UnavailableError,
} from '@safe/core';
import {
  DirectTransport,
  formatEndpoint,
  type GrpcServer,
  type GrpcService,
  gatewayService,
  nodeService,
  startGrpcServer,
} from '@safe/grpc';
import { createKafka, ensureTopics, KafkaGroupConsumer, KafkaProducerTransport } from '@safe/kafka';
import { closeRedis, connectRedis, type Redis, RedisMembership, redisReplicaStores } from '@safe/redis';
import { openPostgres, type SqlDatabase } from '@safe/sql';
import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { buildAdminServer, listenAdmin, Readiness } from './admin.js';
import { testnetAdoptVault } from './adopt-vault.js';
import { advertisedHost, type Fields, loadReplicaConfig, membershipKey, type ReplicaConfig } from './config.js';
import { loadOrCreateIdentity, lockReplicaDataDir } from './identity.js';
import { asCoreLogger, createLogger } from './logger.js';
import { exposeCacheMetrics, MetricsRegistry } from './metrics.js';
import { shutdownTelemetry, startTelemetry, tracingServiceName } from './otel.js';
import { CopyTraces, OtelTelemetry } from './telemetry.js';
import { endpointResolver, routingFromMembers, SplitTransport, viewIncludes, viewSignature } from './transport.js';

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

/** A MaidManager replica is an entry: it serves the client Gateway. */
export interface EntryOptions {
  /** The client message types the network takes, and the persona each goes to. */
  readonly clientMessageTypes: ReadonlyMap<string, PersonaName>;
  /** What Info reports as the largest chunk. */
  readonly maxChunkSize: number;
  /** Largest gRPC message either way (default 8 MiB). */
  readonly maxMessageBytes?: number;
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

/** A dependency that did not answer at start-up; the message names it. The process exits 1. */
export class StartupError extends UnavailableError {}

/** Largest record on a persona topic this replica creates (a Put of the largest chunk, with room to spare). */
export const KAFKA_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

/** Rejects with a StartupError naming `what` when `promise` fails or takes longer than `ms`. */
async function startStep<T>(what: string, ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, fail) => {
        timer = setTimeout(() => fail(new Error(`no answer within ${ms} ms`)), ms);
        timer.unref();
      }),
    ]);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const message = describe(error);
    throw new StartupError(message.toLowerCase().includes(what.toLowerCase()) ? message : `${what}: ${message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A check whose answer is reused for `ms` (readiness probes must not hammer a dependency). */
function cached(ms: number, check: () => Promise<boolean>): () => Promise<boolean> {
  let last: { at: number; ok: Promise<boolean> } | undefined;
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at > ms) last = { at: now, ok: check().catch(() => false) };
    return last.ok;
  };
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
  // Every group parameter core defines (SAFE_K and friends), whatever it adds later.
  const params = Object.fromEntries(
    Object.keys(groupParameterFields).map((key) => [key, (config as Record<string, unknown>)[key]]),
  ) as unknown as GroupParameters;

  // Everything started so far, undone in reverse by `stop` (also after a failed start).
  let admin: FastifyInstance | undefined;
  let unlock: (() => Promise<void>) | undefined;
  let sql: SqlDatabase | undefined;
  let redis: Redis | undefined;
  let kafkaAdmin: ReturnType<ReturnType<typeof createKafka>['admin']> | undefined;
  let producer: KafkaProducerTransport | undefined;
  let grpc: GrpcServer | undefined;
  let membership: RedisMembership | undefined;
  let unwatch: (() => void) | undefined;
  let direct: DirectTransport | undefined;
  let replica: Replica<S> | undefined;
  let consumer: KafkaGroupConsumer | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let tickRound: Promise<void> | undefined;
  let latest: RoutingTable | undefined;
  let consumerRunning = false;
  let stopping: Promise<void> | undefined;
  let abandonReplica: () => void = () => {};

  /** The graceful shutdown, in ARCHITECTURE.md's order; each step bounded, none throws. */
  async function shutdown(): Promise<void> {
    const grace = config.shutdownGraceMs;
    const step = async (what: string, run: () => Promise<unknown> | undefined) => {
      try {
        await run();
      } catch (error) {
        log.warn({ err: describe(error) }, `shutdown: ${what} failed`);
      }
    };
    // 1. Readiness fails, gRPC health NOT_SERVING (inside grpc.close), no more sync ticks.
    readiness.setPhase('stopping');
    if (ticker !== undefined) clearInterval(ticker);
    // 2. Stop taking client calls, let open ones finish (their replies arrive on the Node service), then close gRPC.
    await step('closing gRPC', () => grpc?.close());
    // 3. Leave the membership at once (others see the churn now, not at expiry).
    unwatch?.();
    await step('leaving the membership', () => membership?.leave());
    // 4. Stop the group-bus consumer at a clean offset, and let the replica finish what it holds.
    await step('stopping the consumer', () => consumer?.stop());
    consumerRunning = false;
    if (tickRound !== undefined) await step('sync tick', () => tickRound);
    if (replica !== undefined) {
      const finished = await Promise.race([replica.idle().then(() => true), sleep(grace).then(() => false)]);
      if (!finished) log.warn({ graceMs: grace }, 'shutdown: the replica was still busy after the grace period');
      replica.stop();
    }
    await step('stopping the Kafka producer', () => producer?.stop());
    await step('closing direct channels', () => direct?.close(Math.min(grace, 1000)));
    await step('closing the Kafka admin client', () => kafkaAdmin?.disconnect());
    // 5. Close Postgres and Redis.
    await step('closing the membership', () => membership?.close());
    await step('closing Postgres', () => sql?.close());
    if (redis !== undefined) await step('closing Redis', () => closeRedis(redis as Redis));
    await step('closing the admin server', () => admin?.close());
    metrics.close();
    await step('releasing the data dir', () => unlock?.());
    // 6. Telemetry last.
    await step('flushing telemetry', () => shutdownTelemetry());
    log.info({}, 'replica stopped');
  }
  const stop = () => {
    stopping ??= shutdown();
    return stopping;
  };

  try {
    // ---- admin port first: /healthz answers, /readyz says what the replica waits for ----
    if (usesPostgres) readiness.require('postgres', 'postgres: not connected', () => false);
    readiness.require('redis', 'redis: not connected', () => false);
    readiness.require('kafka', 'kafka: not connected', () => false);
    readiness.require('membership', 'membership: this node is not in the view yet', () => false);
    admin = buildAdminServer({ logger: pino, metrics, readiness });
    const adminEndpoint = await startStep('admin server', config.connectTimeoutMs, () =>
      listenAdmin(admin as FastifyInstance, config.adminHost, config.adminPort),
    );
    log.info({ admin: adminEndpoint }, 'admin server listening');

    // ---- identity: the key on the replica's volume ----
    unlock = await lockReplicaDataDir(dataDir);
    const { identity, created, file } = await loadOrCreateIdentity(dataDir);
    const name16 = toHex(identity.name).slice(0, 16);
    log.info(
      { node: shortName(identity.name), name: toHex(identity.name), key: file, created },
      created ? 'new node key created' : 'node key loaded',
    );
    const telemetry = new OtelTelemetry({ metrics, copies, attributes: { 'safe.persona': persona, 'safe.node': name16 } });

    // ---- Postgres: the replica's own schema ----
    if (usesPostgres) {
      const schema = `${persona.replaceAll('-', '_')}_${name16}`;
      const db = await startStep('Postgres', config.connectTimeoutMs, () =>
        openPostgres({ url: config.postgresUrl, schema, poolSize: config.pgPoolSize, connectTimeoutMs: config.connectTimeoutMs }),
      );
      sql = db;
      readiness.require(
        'postgres',
        'postgres: not connected',
        cached(2000, async () => (await db.query<{ ok: number }>('SELECT 1 AS ok'))[0]?.ok === 1),
      );
      log.info({ schema }, 'postgres connected');
    }

    // ---- Redis: accumulator, firewall, sync and transfer entries under the replica's prefix ----
    const client = await startStep('Redis', config.connectTimeoutMs, () =>
      connectRedis(config.redisUrl, {
        name: `${persona}-${name16}`,
        connectTimeoutMs: config.connectTimeoutMs,
        onError: (error) => log.warn({ err: error.message }, 'redis connection trouble'),
      }),
    );
    redis = client;
    const stores = redisReplicaStores(client, persona, identity.name);
    readiness.require('redis', 'redis: not connected', () => client.status === 'ready');
    log.info({}, 'redis connected');

    // ---- Kafka: producer (checks the brokers answer) and the persona topics ----
    const brokers = [...config.kafkaBrokers];
    const kafkaClient = createKafka({ brokers, clientId: `safe-${persona}-${name16}`, logger: log });
    const publisher = new KafkaProducerTransport({ brokers, kafka: kafkaClient, logger: log, telemetry, network: config.network });
    await startStep('Kafka', config.connectTimeoutMs, () => publisher.start());
    producer = publisher;
    const topicsAdmin = kafkaClient.admin();
    kafkaAdmin = topicsAdmin;
    // A broker that has just started takes seconds per topic to lead all its partitions, more on a
    // loaded machine (seen: over 10 s for the six topics): waiting for leaders gets its own budget.
    await startStep('Kafka', config.connectTimeoutMs * 3, async () => {
      await topicsAdmin.connect();
      await ensureTopics(topicsAdmin, PERSONAS, config.kafkaPartitions, {
        logger: log,
        network: config.network,
        leaderWaitMs: config.connectTimeoutMs * 2,
        // A Put carries a whole chunk (up to 1 MiB) in its envelope: above Kafka's default 1 MB per record.
        configEntries: [{ name: 'max.message.bytes', value: String(KAFKA_MAX_MESSAGE_BYTES) }],
      });
    });
    log.info({ brokers }, 'kafka connected');

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

    // Copies (from the group bus or gRPC) that arrive before the replica exists wait for it.
    let replicaReady: (r: Replica<S>) => void = () => {};
    let replicaFailed: (error: Error) => void = () => {};
    const replicaPromise = new Promise<Replica<S>>((done, fail) => {
      replicaReady = done;
      replicaFailed = fail;
    });
    replicaPromise.catch(() => undefined);
    abandonReplica = () => replicaFailed(new UnavailableError('the replica did not start'));

    // ---- the group bus, BEFORE the node announces itself ----
    // A new consumer group starts at the end of each partition. Were it started after the
    // announcement, copies sent to this node between the two would be lost; started first, its
    // start offsets are fixed before anyone addresses it, and copies wait for the replica.
    const groupConsumer = new KafkaGroupConsumer({
      brokers,
      kafka: kafkaClient,
      persona,
      nodeName: identity.name,
      network: config.network,
      logger: log,
      telemetry,
      stopGraceMs: config.shutdownGraceMs,
      // The next copy is handled while the previous copy's offset is committed (still in order,
      // still only handled copies, everything handled committed on a graceful stop). An awaited
      // commit per copy took ~40-50 ms of a replica's one-at-a-time loop on the local stack, for
      // every copy of its persona's topic, its own or not. A crash may redeliver the copies of one
      // commit round trip: the accumulator counts copies by sender and the firewall answers repeats.
      commit: 'coalesced',
      // Reads only the partitions of this replica's XOR neighbourhood once it is given the view (follow, below).
      closeGroupSize: config.closeGroupSize,
      onFatal: (error) => {
        consumerRunning = false;
        log.error({ err: error.message }, 'the group-bus consumer stopped for good');
        options.onFatal?.(error);
      },
    });
    const deliver = async (envelope: Envelope): Promise<void> => {
      const target = await replicaPromise;
      const result: ReceiveResult = await copies.deliver(envelope, (e) => target.receive(e));
      // Transient trouble (Redis, Postgres or Kafka unreachable): the consumer tries this copy again.
      // Any other rejection (bad signature, wrong sender, ...) is decided: logged and counted by the runtime, committed past.
      if (typeof result !== 'string' && result.rejected.kind === 'unavailable') throw result.rejected;
    };
    consumer = groupConsumer; // stopped by the shutdown even if its start fails half-way
    await startStep('Kafka (consumer)', config.connectTimeoutMs * 3, async () => {
      // Just after a topic is created its partitions may not have a leader everywhere yet: try again for a while.
      for (let attempt = 1; ; attempt++) {
        try {
          return await groupConsumer.start(deliver);
        } catch (error) {
          if (attempt >= 10 || readiness.phase === 'stopping') throw error;
          log.warn({ attempt, err: describe(error) }, 'group-bus consumer did not start; trying again');
          await sleep(Math.min(250 * attempt, 2000));
        }
      }
    });
    consumerRunning = true;
    const kafkaCheck = cached(2000, async () => {
      if (!consumerRunning) return false;
      await topicsAdmin.describeCluster();
      return true;
    });
    readiness.require('kafka', 'kafka: not connected', kafkaCheck);

    // ---- gRPC: Node always; Gateway on an entry ----
    let gateway: ClientGateway | undefined;
    const services: GrpcService[] = [
      nodeService({
        logger: log,
        deliver: async (envelope) => {
          const target = await replicaPromise;
          const result = await copies.deliver(envelope, (e) => target.receive(e));
          if (typeof result !== 'string') log.debug({ type: envelope.type, kind: result.rejected.kind }, 'direct copy rejected');
        },
      }),
    ];
    if (options.entry !== undefined) {
      const entry = options.entry;
      const adoptDir = config.adoptVaultKeysDir;
      services.push(
        gatewayService({
          logger: log,
          callTimeoutMs: config.callTimeoutMs,
          gateway: {
            /**
             * One trace per client request: the entry's span (a child of the client's context, if it
             * sent one) goes on the forwarded envelope, so every member of the group handles the
             * request under it, and everything downstream follows.
             */
            async call(envelope: Envelope, timeoutMs: number): Promise<ClientReplyValue> {
              if (gateway === undefined) throw new UnavailableError('this entry node is still starting');
              const span = telemetry.startSpan(`${persona} Gateway.Send ${envelope.type}`, envelope.trace, [], 'server');
              span.setAttribute('safe.nae', toHex(envelope.destination.nae).slice(0, 16));
              span.setAttribute('safe.destination', envelope.destination.persona);
              if (envelope.contentDigest !== undefined) span.setAttribute('safe.chunk', toHex(envelope.contentDigest));
              try {
                const reply = await gateway.call({ ...envelope, trace: { ...envelope.trace, ...span.context() } }, timeoutMs);
                span.setAttribute('safe.reply.status', reply.status);
                span.end();
                return reply;
              } catch (error) {
                span.end(error);
                throw error;
              }
            },
          },
          info: () => ({
            closeGroupSize: config.closeGroupSize,
            maxChunkSize: entry.maxChunkSize,
            personas: REPORT_ORDER.map((p) => ({ persona: p, replicas: latest?.view(p).size ?? 0 })),
          }),
          ...(adoptDir !== ''
            ? {
                adoptVault: testnetAdoptVault(resolve(adoptDir), () => latest ?? new RoutingTable(), log),
              }
            : {}),
        }),
      );
      if (adoptDir !== '') log.warn({ dir: resolve(adoptDir) }, 'TESTNET ONLY: AdoptVault signs with the PmidNode keys in this directory');
    }
    const server = await startStep('gRPC server', config.connectTimeoutMs, () =>
      startGrpcServer({
        host: config.grpcHost,
        port: config.grpcPort,
        services,
        servingAtStart: false,
        shutdownGraceMs: config.shutdownGraceMs,
        ...(options.entry?.maxMessageBytes !== undefined ? { maxMessageBytes: options.entry.maxMessageBytes } : {}),
        logger: log,
      }),
    );
    grpc = server;
    const boundPort = Number(server.endpoint.slice(server.endpoint.lastIndexOf(':') + 1));
    const endpoint = formatEndpoint(advertisedHost(config), boundPort);

    // ---- membership: announce, and wait to see ourselves ----
    const members = new RedisMembership(client, {
      key: membershipKey(config),
      heartbeatMs: config.heartbeatMs,
      expiryMs: config.memberExpiryMs,
      // Joins, leaves and rank changes come by pub/sub at once; the re-read only finds expired members,
      // and whichever member re-reads first tells every other: half the expiry is soon enough.
      sweepMs: Math.max(500, Math.floor(config.memberExpiryMs / 2)),
      onError: (error) => log.warn({ err: error.message }, 'membership trouble'),
    });
    membership = members;
    const self: MemberAnnouncement = { persona, name: identity.name, publicKey: identity.publicKey, endpoint };
    await startStep('Redis (membership)', config.connectTimeoutMs, () => members.join(self));
    const seen = await startStep('membership', config.joinTimeoutMs, async () => {
      for (;;) {
        const { routing } = routingFromMembers(await members.members());
        if (viewIncludes(routing, persona, identity.name)) return routing;
        await sleep(100);
      }
    });
    latest = seen;
    groupConsumer.follow(seen.view(persona).names());
    readiness.require('membership', 'membership: this node is not in the view', () =>
      latest !== undefined ? viewIncludes(latest, persona, identity.name) : false,
    );
    log.info({ endpoint, members: seen.allNodes().length }, 'joined the membership');

    // ---- the replica, on the view it joined with ----
    const directTransport = new DirectTransport({
      resolve: endpointResolver(() => latest ?? seen),
      deadlineMs: config.directDeadlineMs,
      logger: log,
      onDropped: (envelope, reason) => metrics.inc('safe_direct_dropped_total', { persona, type: envelope.type, reason }),
    });
    direct = directTransport;
    const running = new Replica<S>({
      definition,
      identity,
      params,
      state,
      routing: seen,
      transport: new SplitTransport(directTransport, publisher),
      stores,
      clock: systemClock,
      telemetry,
      logger: log,
    });
    replica = running;
    exposeCacheMetrics(metrics, running.cache, { persona });
    if (options.entry !== undefined)
      gateway = new ClientGateway(running as Replica<unknown>, systemClock, options.entry.clientMessageTypes);
    replicaReady(running);
    metrics.gauge(
      'safe_bus_served_partitions',
      "Partitions of its persona's topic this replica reads (those of its XOR neighbourhood)",
      () => [{ labels: { persona }, value: groupConsumer.served.length }],
    );
    metrics.gauge('safe_members', 'Members of each persona in the membership view of this replica', () =>
      PERSONAS.map((p) => ({ labels: { persona: p }, value: latest?.view(p).size ?? 0 })),
    );
    options.metrics?.(metrics, running);

    // ---- every later change of the view is a matrix change ----
    let signature = viewSignature(seen);
    unwatch = members.watch((now) => {
      const { routing, refused } = routingFromMembers(now);
      for (const why of refused) log.warn({ why }, 'membership announcement ignored');
      const next = viewSignature(routing);
      if (next === signature) return;
      const before = latest;
      signature = next;
      latest = routing;
      groupConsumer.follow(routing.view(persona).names());
      directTransport.retain(routing.allNodes().flatMap((n) => (n.endpoint ? [n.endpoint] : [])));
      const names = (table: RoutingTable | undefined) => new Set(table?.allNodes().map((n) => `${n.persona}/${shortName(n.name)}`) ?? []);
      const old = names(before);
      const fresh = names(routing);
      const joined = [...fresh].filter((n) => !old.has(n));
      const left = [...old].filter((n) => !fresh.has(n));
      if (joined.length + left.length > 0) {
        metrics.inc('safe_membership_changes_total', { persona });
        log.info({ joined, left }, 'membership changed');
      } else log.debug({}, 'rank reports changed');
      void running.updateRouting(routing).catch((error: unknown) => log.error({ err: describe(error) }, 'routing update failed'));
    });

    // ---- rank reports (PmidManagers): re-announced after a tick that changed them ----
    let announced = rankReportsSignature(undefined);
    const announceRankReports = async () => {
      const reports = await definition.rankReports?.(running.state);
      if (reports === undefined || rankReportsSignature(reports) === announced) return;
      await members.join({ ...self, rankReports: reports });
      announced = rankReportsSignature(reports);
    };

    // ---- sync entries are re-sent on a timer ----
    ticker = setInterval(() => {
      if (tickRound !== undefined) return;
      tickRound = running
        .tick()
        .then(() => announceRankReports().catch((error: unknown) => log.warn({ err: describe(error) }, 'rank reports not announced')))
        .catch((error: unknown) => log.warn({ err: describe(error) }, 'tick failed'))
        .finally(() => {
          tickRound = undefined;
        });
    }, config.tickMs);
    ticker.unref();

    const outcome = options.afterStart?.(running, deps);
    if (outcome !== undefined) {
      await running.dispatch(outcome).catch((error: unknown) => log.warn({ err: describe(error) }, 'start-up announcement failed'));
    }

    server.setServing(true);
    readiness.setPhase('ready');
    log.info(
      {
        persona,
        node: shortName(identity.name),
        endpoint,
        admin: adminEndpoint,
        gateway: options.entry !== undefined,
        tracing: tracingServiceName() ?? false,
      },
      'replica ready',
    );
    return { replica: running, identity, endpoint, adminEndpoint, readiness, metrics, stop };
  } catch (error) {
    abandonReplica();
    await stop();
    throw error;
  }
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
