import { ConfigError, describeError, isNetworkFailure, SafeError, UnavailableError } from '@safe/core';
import { Redis } from 'ioredis';

export type { Redis } from 'ioredis';

export interface ConnectRedisOptions {
  /** Shown by `CLIENT LIST` (e.g. `data-manager-0123abcd`) and in error messages. */
  readonly name: string;
  /** Bound on reaching the server and finishing the handshake at start-up (default 5000). */
  readonly connectTimeoutMs?: number;
  /** A command with no reply after this long fails as unavailable (default 5000). */
  readonly commandTimeoutMs?: number;
  /** Reconnect attempts a command sent before an outage may wait for before it fails (default 1). */
  readonly maxRetriesPerRequest?: number;
  /** Background errors of the connection (reconnects, lost sockets), already typed. Default: ignored. */
  readonly onError?: (error: SafeError) => void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
const DEFAULT_MAX_RETRIES_PER_REQUEST = 1;

// What ioredis says (plain Errors, no code) when the connection is gone or a command gave up.
const CONNECTION_MESSAGE =
  /connection is closed|stream isn't writeable|enableOfflineQueue|command timed out|reached the max retries|max retries per request|connect ETIMEDOUT|socket closed|none of the sentinels/i;

// Server replies (first word of the message) that mean "not now, retry later".
const UNAVAILABLE_REPLIES = new Set(['LOADING', 'BUSY', 'MASTERDOWN', 'TRYAGAIN', 'CLUSTERDOWN', 'READONLY', 'NOREPLICAS', 'MISCONF']);
const AUTH_REPLIES = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM']);

/**
 * Turns whatever ioredis threw into a typed error; `context` says which store and what was being
 * done. Connection loss, timeouts and "retry later" replies become `UnavailableError` (the caller
 * may retry); everything else a `SafeError` of the fitting kind. SafeErrors pass through unchanged.
 */
export function toRedisError(error: unknown, context: string): SafeError {
  if (error instanceof SafeError) return error;
  const detail = describeError(error);
  const message = `${context}: ${detail}`;
  const name = error instanceof Error ? error.name : '';
  if (isNetworkFailure(error) || name === 'MaxRetriesPerRequestError' || name === 'AbortError') {
    return new UnavailableError(message, { cause: error });
  }
  if (name === 'ReplyError' || name === 'ParserError') {
    const head = detail.split(' ', 1)[0] ?? '';
    if (UNAVAILABLE_REPLIES.has(head)) return new UnavailableError(message, { cause: error });
    if (AUTH_REPLIES.has(head)) return new UnavailableError(`${message} (check the Redis credentials)`, { cause: error });
    if (head === 'OOM') return new SafeError('resource-exhausted', message, { cause: error });
    return new SafeError('internal', message, { cause: error });
  }
  if (error instanceof Error && CONNECTION_MESSAGE.test(error.message)) return new UnavailableError(message, { cause: error });
  return new SafeError('internal', message, { cause: error });
}

/** Runs one Redis call and rethrows any failure typed. */
export async function redisCall<T>(context: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toRedisError(error, context);
  }
}

/** `host:port` of a redis:// URL, for messages; never the credentials. */
export function redisEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || '127.0.0.1'}:${parsed.port || '6379'}`;
  } catch {
    return '(invalid url)';
  }
}

function parseRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ConfigError('redis url is not a URL', { cause: error });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`redis url must start with redis:// or rediss://, not ${parsed.protocol}//`);
  }
  return parsed;
}

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${what} must be a positive number, got ${value}`);
  return value;
}

/**
 * Connects to Redis and resolves once the server answered, within `connectTimeoutMs`. Afterwards
 * the offline queue is off: during an outage a command fails at once with `UnavailableError`
 * (through `toRedisError`) instead of waiting, while the client reconnects in the background.
 * A server that cannot be reached at start-up rejects with an `UnavailableError` naming it.
 */
export async function connectRedis(url: string, options: ConnectRedisOptions): Promise<Redis> {
  parseRedisUrl(url);
  const endpoint = redisEndpoint(url);
  const connectTimeoutMs = positive(options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs');
  const commandTimeoutMs = positive(options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS, 'commandTimeoutMs');
  const maxRetriesPerRequest = options.maxRetriesPerRequest ?? DEFAULT_MAX_RETRIES_PER_REQUEST;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: options.name,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest,
    // Reconnect quickly at first, then every 2 s at most; never give up (the process decides that).
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  });
  let lastError: unknown;
  let started = false;
  redis.on('error', (error: Error) => {
    lastError = error;
    if (started) options.onError?.(toRedisError(error, `redis ${endpoint} (${options.name})`));
  });

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${connectTimeoutMs} ms`)), connectTimeoutMs);
  });
  const connecting = redis.connect();
  connecting.catch(() => {}); // settled below, or abandoned after the deadline
  try {
    await Promise.race([connecting, deadline]);
  } catch (error) {
    redis.disconnect();
    const cause = lastError ?? error;
    const detail = describeError(cause);
    if (AUTH_REPLIES.has(detail.split(' ', 1)[0] ?? '')) {
      throw new ConfigError(`Redis at ${endpoint} refused the credentials (${options.name}): ${detail}`, { cause });
    }
    throw new UnavailableError(`Redis at ${endpoint} cannot be reached (${options.name}): ${detail}`, { cause });
  } finally {
    clearTimeout(timer);
  }
  started = true;
  redis.options.enableOfflineQueue = false;
  return redis;
}

/** Closes a client: QUIT (pending replies arrive first), or a hard disconnect if that fails or takes over 1 s. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 1000);
      }),
    ]);
  } catch {
    // Already gone: nothing to wait for.
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
