import {
  ConfigError,
  type ConfigField,
  type ConfigOf,
  describeConfig,
  enumField,
  groupParameterFields,
  intField,
  loadConfig,
  stringField,
} from '@safe/core';
import { DEFAULT_PARTITIONS } from '@safe/kafka';

export type Fields = Record<string, ConfigField<unknown>>;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A URL whose scheme is one of `protocols` (e.g. `postgres:`); the value stays the string given. */
export function urlField(env: string, fallback: string, protocols: readonly string[], doc: string): ConfigField<string> {
  return {
    env,
    default: fallback,
    doc,
    parse(raw) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new Error(`must be a URL like ${fallback}, got ${JSON.stringify(raw)}`);
      }
      if (!protocols.includes(url.protocol))
        throw new Error(`must start with ${protocols.map((p) => `${p}//`).join(' or ')}, got ${url.protocol}//`);
      if (url.hostname === '') throw new Error(`must name a host, got ${JSON.stringify(raw)}`);
      return raw;
    },
  };
}

/** `host:port[,host:port...]`. */
export function hostPortListField(env: string, fallback: readonly string[], doc: string): ConfigField<readonly string[]> {
  return {
    env,
    default: [...fallback],
    doc,
    parse(raw) {
      const entries = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      if (entries.length === 0) throw new Error('must list at least one host:port');
      for (const entry of entries) {
        const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)$/.exec(entry);
        const port = Number(match?.[2]);
        if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
          throw new Error(`must be host:port entries separated by commas, got ${JSON.stringify(entry)}`);
        }
      }
      return entries;
    },
  };
}

/**
 * What every replica process reads from its environment (one typed, validated config per
 * process). A persona adds its own fields (`extraConfig`), e.g. the DataManager's parameters or
 * the PmidNode's capacity.
 */
export const hostConfigFields = {
  network: stringField(
    'SAFE_NETWORK',
    '',
    'name of the network to join, so several networks can share one stack: members are announced in the Redis hash `safe:<network>:members` and copies travel on the Kafka topics `safe.<network>.<persona>` (empty: `safe:members` and `safe.<persona>`)',
  ),
  dataDir: stringField(
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
  advertiseHost: stringField(
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
  directDeadlineMs: intField('SAFE_DIRECT_DEADLINE_MS', 5000, 'deadline of one direct message (gRPC Deliver) to another replica (ms)', 100),
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
} satisfies Fields;

export type HostConfig = ConfigOf<typeof hostConfigFields>;
export type ReplicaConfig<E extends Fields> = HostConfig & ConfigOf<E>;

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * Reads the host fields and `extra` from `env`, then checks the values against each other;
 * throws one ConfigError that lists every problem.
 */
export function loadReplicaConfig<E extends Fields = Record<never, never>>(
  extra: E = {} as E,
  env: Record<string, string | undefined> = process.env,
): ReplicaConfig<E> {
  const fields: Fields = { ...hostConfigFields, ...extra };
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    try {
      Object.assign(values, loadConfig({ [key]: field }, env));
    } catch (error) {
      problems.push((error instanceof Error ? error.message : String(error)).replace(/^invalid configuration: /, ''));
      values[key] = field.default;
    }
  }
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
  if (WILDCARD_HOSTS.has(config.advertiseHost) && config.advertiseHost !== '') {
    problems.push(`SAFE_ADVERTISE_HOST must be an address others can dial, not ${JSON.stringify(config.advertiseHost)}`);
  }
  if (config.dataDir.trim() === '') problems.push('SAFE_DATA_DIR must not be empty');
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(config.network) && config.network !== '') {
    problems.push(`SAFE_NETWORK must be lower-case letters, digits and '-', got ${JSON.stringify(config.network)}`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return values as ReplicaConfig<E>;
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
