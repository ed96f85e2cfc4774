// Shared by the tests of this package (excluded from the build): the real Redis they run against.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from './connect.js';

export const REDIS_URL = process.env.SAFE_REDIS_URL ?? 'redis://127.0.0.1:56379';

/** A client for a test; an unreachable Redis FAILS the test, with a message saying how to start one. */
export async function connectForTest(name: string): Promise<Redis> {
  try {
    return await connectRedis(REDIS_URL, { name, connectTimeoutMs: 3000 });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(
      `@safe/redis tests need a running Redis at ${REDIS_URL} (set SAFE_REDIS_URL, or start the local stack: bash scripts/stack/stack.sh up). ${detail}`,
      { cause: error },
    );
  }
}

/** A key prefix no other run shares, hash-tagged like a replica's. */
export function uniquePrefix(what: string): string {
  return `safe-test:{${what}-${process.pid}-${randomBytes(6).toString('hex')}}`;
}

/** Deletes every key under `prefix` (SCAN, never KEYS) and closes the clients. */
export async function cleanUp(redis: Redis, prefix: string, ...others: Redis[]): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  for (const client of [redis, ...others]) await closeRedis(client);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
