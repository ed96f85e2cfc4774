import { ConfigError, type Logger, silentLogger, UnavailableError } from '@safe/core';
import kafkajs, { type ISocketFactory, type Kafka, type logCreator, type RetryOptions } from 'kafkajs';

const { Kafka: KafkaClient, logLevel } = kafkajs;

/** The broker list of the local stack (`bash scripts/stack/stack.sh env`). */
export const DEFAULT_BROKERS = '127.0.0.1:19092';

/**
 * kafkajs' retry for every client we build: ~250 ms, 500 ms, 1 s, 2 s between five attempts, so a
 * dead broker is reported in seconds, not after kafkajs' default of retrying forever (the
 * idempotent producer's default) or for ~30 s per request.
 */
export const BOUNDED_RETRY: Readonly<RetryOptions> = { retries: 4, initialRetryTime: 250, maxRetryTime: 2_000, factor: 0.2, multiplier: 2 };

export interface KafkaConnectOptions {
  /** `host:port` list, or one comma-separated string (as in SAFE_KAFKA_BROKERS). */
  readonly brokers: string | readonly string[];
  readonly clientId?: string;
  /** kafkajs' own warnings and errors go here (lower levels are dropped). */
  readonly logger?: Logger;
  /** TCP connect timeout per attempt (default 3 000 ms). */
  readonly connectionTimeoutMs?: number;
  /** Time to wait for any one broker response (default 10 000 ms). */
  readonly requestTimeoutMs?: number;
  readonly retry?: RetryOptions;
  /** A custom socket (TLS tunnels, tests that cut the network). */
  readonly socketFactory?: ISocketFactory;
}

/** `a:1, b:2` or `['a:1', 'b:2']` → `['a:1', 'b:2']`; throws ConfigError on an empty list or a missing port. */
export function parseBrokers(brokers: string | readonly string[]): string[] {
  const list = (typeof brokers === 'string' ? brokers.split(',') : [...brokers]).map((b) => b.trim()).filter((b) => b.length > 0);
  if (list.length === 0) throw new ConfigError('Kafka: no broker address given (SAFE_KAFKA_BROKERS=host:port,...)');
  for (const broker of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(broker)) {
      throw new ConfigError(`Kafka: broker address '${broker}' is not host:port`);
    }
  }
  return list;
}

/** Brokers from SAFE_KAFKA_BROKERS, else the local stack's. */
export function brokersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return parseBrokers(env.SAFE_KAFKA_BROKERS?.trim() || DEFAULT_BROKERS);
}

// Said by kafkajs on every idempotent producer with bounded retries; KafkaProducerTransport
// replaces its producer (new producer id) after any failed send, which is what keeps it safe.
const EXPECTED_WARNINGS = new Set(['Limiting retries for the idempotent producer may invalidate EoS guarantees']);

/** Routes kafkajs' log lines to our Logger; the client is built with level WARN, so only warn and error arrive. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      // kafkajs attaches internal stacks to every retry; the message and fields say enough.
      const { message, timestamp: _timestamp, logger: _name, stack: _stack, ...fields } = log;
      const entry = { kafkajs: namespace, ...fields };
      if (EXPECTED_WARNINGS.has(message)) logger.debug(entry, message);
      else if (level === logLevel.ERROR) logger.error(entry, message);
      else if (level === logLevel.WARN) logger.warn(entry, message);
    };
}

/** A kafkajs client with our defaults: bounded retry, short connect timeout, logs routed to `logger`. */
export function createKafka(options: KafkaConnectOptions): Kafka {
  const brokers = parseBrokers(options.brokers);
  return new KafkaClient({
    clientId: options.clientId ?? 'safe-vault',
    brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    retry: { ...BOUNDED_RETRY, ...options.retry },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(options.logger ?? silentLogger),
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
  });
}

/** One line for a kafkajs error, following `cause` chains (KafkaJSNumberOfRetriesExceeded wraps the real one). */
export function describeKafkaError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const text = current instanceof Error ? current.message || current.name : String(current);
    if (text && !parts.includes(text)) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}

/**
 * Kafka's answers while a partition has no leader yet, or while a broker does not know a topic it
 * just created: a topic just made, a leader moving. Worth a short wait, not a failure.
 */
const LEADERLESS = new Set(['LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION']);

/** Whether `error` (or one it wraps) is one of those answers. */
export function isLeaderlessError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && LEADERLESS.has(type)) return true;
    current = current.cause;
  }
  return false;
}

/** The error every adapter throws when Kafka cannot be reached: names Kafka and the brokers. */
export function kafkaUnavailable(brokers: readonly string[], doing: string, cause: unknown): UnavailableError {
  return new UnavailableError(`Kafka at ${brokers.join(',')} is unreachable (${doing}): ${describeKafkaError(cause)}`, { cause });
}

/**
 * The start-up check: connects an admin client and asks for the cluster. Resolves with the
 * broker count; rejects with UnavailableError naming Kafka and the broker address, within the
 * bounded retry (a few seconds), when nothing answers.
 */
export async function checkKafka(kafka: Kafka, brokers: string | readonly string[]): Promise<{ brokers: number }> {
  const list = parseBrokers(brokers);
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return { brokers: cluster.brokers.length };
  } catch (error) {
    throw kafkaUnavailable(list, 'start-up check', error);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
