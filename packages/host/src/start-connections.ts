import { type Identity, PERSONAS, shortName, type Telemetry, toHex } from '@safe/core';
import { createKafka, ensureTopics, KafkaProducerTransport } from '@safe/kafka';
import { closeRedis, connectRedis, type Redis } from '@safe/redis';
import { openPostgres, type SqlDatabase } from '@safe/sql';
import type { Logger as PinoLogger } from 'pino';
import { buildAdminServer, listenAdmin } from './admin.js';
import { loadOrCreateIdentity, lockReplicaDataDir } from './identity.js';
import type { CurrentView, StartContext } from './replica-context.js';
import { cached, startStep } from './start-step.js';

/** Largest record on a persona topic this replica creates (a Put of the largest chunk, with room to spare). */
export const KAFKA_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** The admin port first: /healthz answers, /readyz says what the replica waits for, /members the view once it has one. Returns its host:port. */
export async function startAdmin(context: StartContext, pino: PinoLogger, usesPostgres: boolean, view: CurrentView): Promise<string> {
  const { config, log, metrics, readiness, cleanup } = context;
  if (usesPostgres) readiness.require('postgres', 'postgres: not connected', () => false);
  readiness.require('redis', 'redis: not connected', () => false);
  readiness.require('kafka', 'kafka: not connected', () => false);
  readiness.require('membership', 'membership: this node is not in the view yet', () => false);
  const admin = buildAdminServer({ logger: pino, metrics, readiness, members: () => view.latest });
  cleanup.deferStep('admin server', 'closing the admin server', () => admin.close());
  const adminEndpoint = await startStep('admin server', config.connectTimeoutMs, () =>
    listenAdmin(admin, config.adminHost, config.adminPort),
  );
  log.info({ admin: adminEndpoint }, 'admin server listening');
  return adminEndpoint;
}

/** The node's key on the replica's volume (made on first start), the data dir locked while it runs. */
export async function openIdentity(context: StartContext, dataDir: string): Promise<Identity> {
  const unlock = await lockReplicaDataDir(dataDir);
  context.cleanup.deferStep('data dir', 'releasing the data dir', () => unlock());
  const { identity, created, file } = await loadOrCreateIdentity(dataDir);
  context.log.info(
    { node: shortName(identity.name), name: toHex(identity.name), key: file, created },
    created ? 'new node key created' : 'node key loaded',
  );
  return identity;
}

/** Postgres: the replica's own schema, `<persona>_<name16>`. */
export async function connectPostgres(context: StartContext, name16: string): Promise<SqlDatabase> {
  const { config, persona, log, readiness, cleanup } = context;
  const schema = `${persona.replaceAll('-', '_')}_${name16}`;
  const db = await startStep('Postgres', config.connectTimeoutMs, () =>
    openPostgres({ url: config.postgresUrl, schema, poolSize: config.pgPoolSize, connectTimeoutMs: config.connectTimeoutMs }),
  );
  cleanup.deferStep('postgres', 'closing Postgres', () => db.close());
  readiness.require(
    'postgres',
    'postgres: not connected',
    cached(2000, async () => (await db.query<{ ok: number }>('SELECT 1 AS ok'))[0]?.ok === 1),
  );
  log.info({ schema }, 'postgres connected');
  return db;
}

/** Redis: accumulator, firewall, sync and transfer entries (and the membership) under the replica's prefix. */
export async function connectRedisStep(context: StartContext, name16: string): Promise<Redis> {
  const { config, persona, log, readiness, cleanup } = context;
  const client = await startStep('Redis', config.connectTimeoutMs, () =>
    connectRedis(config.redisUrl, {
      name: `${persona}-${name16}`,
      connectTimeoutMs: config.connectTimeoutMs,
      onError: (error) => log.warn({ err: error.message }, 'redis connection trouble'),
    }),
  );
  cleanup.deferStep('redis', 'closing Redis', () => closeRedis(client));
  readiness.require('redis', 'redis: not connected', () => client.status === 'ready');
  log.info({}, 'redis connected');
  return client;
}

export interface KafkaClients {
  readonly brokers: string[];
  readonly kafka: ReturnType<typeof createKafka>;
  readonly producer: KafkaProducerTransport;
  /** The admin client that created the topics; the readiness check asks it. */
  readonly admin: ReturnType<ReturnType<typeof createKafka>['admin']>;
}

/** Kafka: the producer (checks the brokers answer) and the persona topics. */
export async function connectKafka(context: StartContext, name16: string, telemetry: Telemetry): Promise<KafkaClients> {
  const { config, persona, log, cleanup } = context;
  const brokers = [...config.kafkaBrokers];
  const kafka = createKafka({ brokers, clientId: `safe-${persona}-${name16}`, logger: log });
  const producer = new KafkaProducerTransport({ brokers, kafka, logger: log, telemetry, network: config.network });
  await startStep('Kafka', config.connectTimeoutMs, () => producer.start());
  cleanup.deferStep('producer', 'stopping the Kafka producer', () => producer.stop());
  const admin = kafka.admin();
  cleanup.deferStep('kafka admin', 'closing the Kafka admin client', () => admin.disconnect());
  // A broker that has just started takes seconds per topic to lead all its partitions, more on a
  // loaded machine (seen: over 10 s for the six topics): waiting for leaders gets its own budget.
  await startStep('Kafka', config.connectTimeoutMs * 3, async () => {
    await admin.connect();
    await ensureTopics(admin, PERSONAS, config.kafkaPartitions, {
      logger: log,
      network: config.network,
      leaderWaitMs: config.connectTimeoutMs * 2,
      // A Put carries a whole chunk (up to 1 MiB) in its envelope: above Kafka's default 1 MB per record.
      configEntries: [{ name: 'max.message.bytes', value: String(KAFKA_MAX_MESSAGE_BYTES) }],
    });
  });
  log.info({ brokers }, 'kafka connected');
  return { brokers, kafka, producer, admin };
}
