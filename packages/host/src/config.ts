import {
  ConfigError,
  type ConfigField,
  type ConfigOf,
  type ConfigShape,
  describeConfig,
  enumField,
  groupParameterFields,
  intField,
  readConfig,
  setting,
  stringField,
} from '@safe/core';
import { DEFAULT_PARTITIONS } from '@safe/kafka';
import { z } from 'zod';

export type Fields = ConfigShape;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A URL whose scheme is one of `protocols` (e.g. `postgres:`) and that names a host; the value stays the string given. */
export function urlField(env: string, fallback: string, protocols: readonly string[], doc: string): ConfigField<string> {
  const schemes = protocols.map((p) => p.replace(/:$/, ''));
  const schema = z.url({
    protocol: new RegExp(`^(${schemes.join('|')})$`),
    hostname: /./,
    error: `a URL like ${fallback} (${schemes.map((p) => `${p}://`).join(' or ')} and a host)`,
  });
  return setting(schema, env, fallback, doc);
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)$/;

/** `host:port[,host:port...]`: blanks around the commas dropped, at least one entry, ports 1 to 65535. */
export function hostPortListField(env: string, fallback: readonly string[], doc: string): ConfigField<readonly string[]> {
  const allowed = { error: 'host:port entries (port 1 to 65535) separated by commas' };
  const entry = z
    .string()
    .regex(HOST_PORT, allowed)
    .refine((value) => {
      const port = Number(HOST_PORT.exec(value)?.[2]);
      return port >= 1 && port <= 65535;
    }, allowed);
  const schema = z
    .string()
    .transform((raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(entry).min(1, allowed))
    .readonly();
  return setting(schema, env, [...fallback], doc);
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * What every replica process reads from its environment (one typed, validated config per
 * process). A persona adds its own fields (`extraConfig`), e.g. the DataManager's parameters or
 * the PmidNode's capacity.
 */
export const hostConfigFields = {
  network: setting(
    z.string().regex(/^([a-z0-9][a-z0-9-]{0,62})?$/, { error: "lower-case letters, digits and '-', at most 63, not starting with '-'" }),
    'SAFE_NETWORK',
    '',
    'name of the network to join, so several networks can share one stack: members are announced in the Redis hash `safe:<network>:members` and copies travel on the Kafka topics `safe.<network>.<persona>` (empty: `safe:members` and `safe.<persona>`)',
  ),
  dataDir: setting(
    z.string().refine((dir) => dir.trim() !== '', { error: 'a directory path, not blank' }),
    'SAFE_DATA_DIR',
    './data',
    "the replica's volume: its key (`node.key`, created on first start, mode 0600) and, for a PmidNode, its chunks",
  ),
  postgresUrl: urlField(
    'SAFE_POSTGRES_URL',
    'postgres://safe@127.0.0.1:5432/safe',
    ['postgres:', 'postgresql:'],
    'Postgres server; the replica owns the schema `<persona>_<first 16 hex of its name>` (not used by a PmidNode)',
  ),
  pgPoolSize: intField('SAFE_PG_POOL_SIZE', 4, 'Postgres connections of this replica', 1, 100),
  redisUrl: urlField(
    'SAFE_REDIS_URL',
    'redis://127.0.0.1:6379',
    ['redis:', 'rediss:'],
    'Redis server: accumulator, firewall, sync and transfer entries (keys under `safe:{<persona>:<name16>}`) and membership',
  ),
  kafkaBrokers: hostPortListField('SAFE_KAFKA_BROKERS', ['127.0.0.1:9092'], 'Kafka bootstrap brokers, comma-separated'),
  kafkaPartitions: intField(
    'SAFE_KAFKA_PARTITIONS',
    DEFAULT_PARTITIONS,
    'partitions of each persona topic `safe.<persona>` when this replica creates it (copies go by NAE range; a replica reads the partitions of its XOR neighbourhood, so more partitions mean fewer copies read that are not its own)',
    1,
    10_000,
  ),
  grpcHost: stringField('SAFE_GRPC_HOST', '127.0.0.1', 'address the gRPC server (Node service; Gateway on a MaidManager) listens on'),
  grpcPort: intField('SAFE_GRPC_PORT', 0, 'gRPC port; 0 takes any free port', 0, 65535),
  advertiseHost: setting(
    z.string().refine((host) => host === '' || !WILDCARD_HOSTS.has(host), { error: 'an address others can dial, not a wildcard' }),
    'SAFE_ADVERTISE_HOST',
    '',
    'host other replicas dial for direct messages (announced with the bound port); empty = SAFE_GRPC_HOST',
  ),
  adminHost: stringField('SAFE_ADMIN_HOST', '127.0.0.1', 'address of the admin HTTP server (/healthz, /readyz, /metrics)'),
  adminPort: intField('SAFE_ADMIN_PORT', 9464, 'admin HTTP port; 0 takes any free port', 0, 65535),
  tickMs: intField('SAFE_TICK_MS', 1000, 'how often the replica re-sends its unresolved sync entries (ms)', 10),
  heartbeatMs: intField('SAFE_HEARTBEAT_MS', 1000, 'how often the replica renews its membership announcement (ms)', 50),
  memberExpiryMs: intField(
    'SAFE_MEMBER_EXPIRY_MS',
    5000,
    'a member whose announcement is older than this is gone (churn); at least twice SAFE_HEARTBEAT_MS',
    100,
  ),
  callTimeoutMs: intField('SAFE_CALL_TIMEOUT_MS', 30_000, 'longest a client call waits for its group to agree (entry replicas, ms)', 100),
  directDeadlineMs: intField(
    'SAFE_DIRECT_DEADLINE_MS',
    5000,
    'how long a direct message to another replica may wait to be sent on its stream before the stream is given up (ms)',
    100,
  ),
  connectTimeoutMs: intField(
    'SAFE_CONNECT_TIMEOUT_MS',
    10_000,
    'at start-up, how long each of Postgres, Redis and Kafka may take to answer before the process gives up (exit 1) (ms)',
    100,
  ),
  joinTimeoutMs: intField('SAFE_JOIN_TIMEOUT_MS', 30_000, 'at start-up, how long to wait to see itself in the membership view (ms)', 100),
  shutdownGraceMs: intField(
    'SAFE_SHUTDOWN_GRACE_MS',
    5000,
    'on SIGTERM, how long open client calls and in-flight messages may finish before they are cancelled (ms)',
    0,
  ),
  logLevel: enumField<LogLevel>('SAFE_LOG_LEVEL', 'info', LOG_LEVELS, 'pino log level'),
  adoptVaultKeysDir: stringField(
    'SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR',
    '',
    'TESTNET ONLY, MaidManager: a directory of PmidNode keys (`*.key`, or `*/node.key` one level down) with which the Gateway signs the PMID half of a vault registration (AdoptVault); empty = AdoptVault answers UNIMPLEMENTED',
  ),
  ...groupParameterFields,
} satisfies ConfigShape;

/** The host's schema: every replica process's settings, the group parameters among them. */
export const hostConfigSchema = z.object(hostConfigFields);
export type HostConfig = Readonly<z.infer<typeof hostConfigSchema>>;
export type ReplicaConfig<E extends Fields> = HostConfig & ConfigOf<E>;

/**
 * Reads the host fields and `extra` from `env`, then checks the values against each other (a bad
 * value stands at its default for those checks); throws one ConfigError that lists every problem.
 */
export function loadReplicaConfig<E extends Fields = Record<never, never>>(
  extra: E = {} as E,
  env: Record<string, string | undefined> = process.env,
): ReplicaConfig<E> {
  const { config: values, problems } = readConfig({ ...hostConfigFields, ...extra }, env);
  const config = values as HostConfig;
  if (config.memberExpiryMs < 2 * config.heartbeatMs) {
    problems.push(
      `SAFE_MEMBER_EXPIRY_MS (${config.memberExpiryMs}) must be at least twice SAFE_HEARTBEAT_MS (${config.heartbeatMs}): one late heartbeat must not look like churn`,
    );
  }
  if (config.advertiseHost === '' && WILDCARD_HOSTS.has(config.grpcHost)) {
    problems.push(
      `SAFE_ADVERTISE_HOST must be set when SAFE_GRPC_HOST is ${JSON.stringify(config.grpcHost)}: others cannot dial a wildcard address`,
    );
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return values as unknown as ReplicaConfig<E>;
}

/** The Redis hash of this network's membership announcements. */
export function membershipKey(config: HostConfig): string {
  return config.network === '' ? 'safe:members' : `safe:${config.network}:members`;
}

/** The host the other replicas dial: SAFE_ADVERTISE_HOST, else SAFE_GRPC_HOST. */
export function advertisedHost(config: HostConfig): string {
  return config.advertiseHost !== '' ? config.advertiseHost : config.grpcHost;
}

/** The configuration table for a service's README: the host's fields, then the persona's own. */
export function describeReplicaConfig(extra: Fields = {}): string {
  return describeConfig({ ...hostConfigFields, ...extra });
}
