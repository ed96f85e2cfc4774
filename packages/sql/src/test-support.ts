// Shared by the tests of this package (excluded from the build): the real Postgres they run against.
import { randomBytes } from 'node:crypto';
import { openPostgres } from './postgres.js';

export const POSTGRES_URL = process.env.SAFE_POSTGRES_URL ?? 'postgres://safe@127.0.0.1:55432/safe';

/** The URL for messages: the password, if any, replaced. */
export function redacted(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable SAFE_POSTGRES_URL)';
  }
}

/**
 * Checks Postgres is reachable, or throws an error saying where it looked and how to start one.
 * Callers record it in beforeAll and rethrow it from beforeEach, so that every test FAILS with it:
 * a throwing beforeAll would only mark the tests skipped.
 */
export async function requirePostgres(url: string = POSTGRES_URL): Promise<void> {
  try {
    const db = await openPostgres({ url, schema: 'public', poolSize: 1, connectTimeoutMs: 3000 });
    await db.close();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(
      `@safe/sql tests need a running Postgres at ${redacted(url)} (set SAFE_POSTGRES_URL, or start the local stack: bash scripts/stack/stack.sh up). ${detail}`,
      { cause: error },
    );
  }
}

const RUN = `t${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;
let counter = 0;

/** Schema names no other run shares: `sqlt_<run>_<n>_<label>`, within the 63-byte limit. */
export function uniqueSchema(label: string): string {
  counter += 1;
  return `sqlt_${RUN}_${counter}_${label}`.slice(0, 63);
}
