/**
 * What only the Postgres adapter can show: several processes (pools) on one schema, connection
 * failures, URL handling. Runs against the real Postgres at SAFE_POSTGRES_URL; unreachable FAILS.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ConfigError, SafeError, UnavailableError } from '@safe/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqlError } from './errors.js';
import { migrate } from './migrate.js';
import type { Migration, SqlDatabase } from './port.js';
import { openPostgres } from './postgres.js';
import { POSTGRES_URL, requirePostgres, uniqueSchema } from './test-support.js';

const schemas = new Set<string>();
const opened: SqlDatabase[] = [];

async function open(schema: string, poolSize = 2): Promise<SqlDatabase> {
  schemas.add(schema);
  const db = await openPostgres({ url: POSTGRES_URL, schema, poolSize });
  opened.push(db);
  return db;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a result');
}

/** The real server's URL with another port / database / credentials. */
function variant(change: (url: URL) => void): string {
  const url = new URL(POSTGRES_URL);
  change(url);
  return url.toString();
}

// An unreachable Postgres fails every test here with the reason (a throwing beforeAll would skip them).
let unreachable: unknown = new Error('the Postgres check in beforeAll did not run');
beforeAll(async () => {
  unreachable = await requirePostgres().then(
    () => undefined,
    (error: unknown) => error,
  );
}, 30_000);
beforeEach(() => {
  if (unreachable !== undefined) throw unreachable;
});

afterAll(async () => {
  for (const db of opened) await db.close();
  if (schemas.size === 0) return;
  const admin = await openPostgres({ url: POSTGRES_URL, schema: 'public', poolSize: 1 });
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.close();
  }
}, 30_000);

describe('openPostgres on the real server', () => {
  it('migrates concurrently from 4 separate pools on one schema, applying every migration exactly once', async () => {
    const schema = uniqueSchema('race');
    // Opened together too: CREATE SCHEMA IF NOT EXISTS from several sessions must not collide.
    const pools = await Promise.all([1, 2, 3, 4].map(() => open(schema)));
    const migrations: Migration[] = [
      { id: '000_log', sql: 'CREATE TABLE log (id text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())' },
      // No IF NOT EXISTS: a second application fails loudly; the sleep widens the window for a race.
      ...Array.from({ length: 8 }, (_, i) => ({
        id: `00${i + 1}_t${i}`,
        sql: `SELECT pg_sleep(0.01); CREATE TABLE t${i} (id int4 PRIMARY KEY); INSERT INTO log (id) VALUES ('00${i + 1}_t${i}');`,
      })),
    ];
    const results = await Promise.all(pools.map((db) => migrate(db, migrations)));
    const everyApplied = results.flatMap((r) => r.applied).sort();
    expect(everyApplied).toEqual(migrations.map((m) => m.id).sort());
    // Each pool applied its share in order.
    for (const { applied } of results) expect(applied).toEqual([...applied].sort());

    const db = pools[0] as SqlDatabase;
    const log = await db.query<{ id: string; n: number }>('SELECT id, count(*) AS n FROM log GROUP BY id ORDER BY id');
    expect(log).toEqual(migrations.slice(1).map((m) => ({ id: m.id, n: 1 })));
    expect(await db.query('SELECT count(*) AS n FROM schema_migrations')).toEqual([{ n: migrations.length }]);
    // And a fifth start finds everything done.
    expect(await migrate(pools[3] as SqlDatabase, migrations)).toEqual({ applied: [] });
  });

  it('sets search_path per pool from the schema', async () => {
    const db = await open(uniqueSchema('path'));
    expect(await db.query('SHOW search_path')).toEqual([{ search_path: db.schema }]);
    expect(await db.transaction((tx) => tx.query('SELECT current_schema() AS s'))).toEqual([{ s: db.schema }]);
  });

  it('accepts the postgresql:// scheme too', async () => {
    const schema = uniqueSchema('scheme');
    schemas.add(schema);
    const url = variant((u) => {
      u.protocol = 'postgresql:';
    });
    const db = await openPostgres({ url, schema });
    opened.push(db);
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('keeps a pool of one usable after every kind of failed transaction (no leaked connection)', async () => {
    const db = await open(uniqueSchema('pool1'), 1);
    await db.query('CREATE TABLE k (id int4 PRIMARY KEY)');
    for (let round = 0; round < 3; round++) {
      await rejection(db.transaction(async () => Promise.reject(new Error('thrown'))));
      await rejection(
        db.transaction(async (tx) => {
          await tx.query('SELECT 1 / 0').catch(() => undefined);
        }),
      );
      await rejection(db.transaction((tx) => tx.query('SELECT 9007199254740993::int8')));
      await rejection(db.query('SELECT 9007199254740993::int8'));
      await rejection(db.query('INSERT INTO k VALUES (1); INSERT INTO k VALUES (1)'));
    }
    // Several transactions at once on the one connection: they queue, none is lost.
    await Promise.all([1, 2, 3, 4].map((id) => db.transaction((tx) => tx.query('INSERT INTO k VALUES ($1)', [id]))));
    expect(await db.query('SELECT id FROM k ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]);
  });

  it('reports a connection killed inside a transaction as UnavailableError and recovers with a new one', async () => {
    const db = await open(uniqueSchema('killed'), 1);
    await db.query('CREATE TABLE k (id int4)');
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO k VALUES (1)');
        await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      }),
    );
    expect(error).toBeInstanceOf(UnavailableError);
    expect(await db.query('SELECT count(*) AS n FROM k')).toEqual([{ n: 0 }]);
  });

  it('reports an idle connection the server dropped without crashing, and serves the next query', async () => {
    const db = await open(uniqueSchema('dropped'), 1);
    const [{ pid } = { pid: 0 }] = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const other = await open(uniqueSchema('killer'), 1);
    expect(await other.query('SELECT pg_terminate_backend($1) AS ok', [pid])).toEqual([{ ok: true }]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('openPostgres refusals', () => {
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const schema = 'never_created';

  async function refusal(url: string, extra: { connectTimeoutMs?: number } = {}): Promise<SafeError> {
    const error = await rejection(openPostgres({ url, schema, poolSize: 1, ...extra }));
    expect(error).toBeInstanceOf(SafeError);
    // Neither the message nor anything reachable from it (cause, fields) holds the password.
    expect((error as Error).message).not.toContain(password);
    expect(inspect(error, { depth: 10 })).not.toContain(password);
    return error as SafeError;
  }

  it.each([
    ['a refused port', `postgres://safe:${password}@127.0.0.1:1/safe`, '127.0.0.1:1'],
    ['an unknown host', `postgres://safe:${password}@no-such-host.invalid:5432/safe`, 'no-such-host.invalid:5432'],
  ])('gives UnavailableError naming host:port for %s, never the password', async (_label, url, endpoint) => {
    const error = await refusal(url, { connectTimeoutMs: 3000 });
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toContain(endpoint);
  });

  it('gives UnavailableError naming host:port for a database that does not exist, never the password', async () => {
    const url = variant((u) => {
      u.password = password;
      u.pathname = '/no_such_database';
    });
    const error = await refusal(url);
    expect(error).toBeInstanceOf(UnavailableError);
    const { hostname, port } = new URL(POSTGRES_URL);
    expect(error.message).toContain(`${hostname}:${port || '5432'}`);
    expect(error.message).toContain('3D000');
  });

  it.each([
    ['not a URL at all (no scheme)', `//safe:${password}@127.0.0.1:55432/safe`],
    ['a scheme only', `safe:${password}@127.0.0.1:55432`],
    ['an invalid port', `postgres://safe:${password}@127.0.0.1:notaport/safe`],
    ['a bracket left open', `postgres://safe:${password}@[::1:55432/safe`],
    ['another scheme', `mysql://safe:${password}@127.0.0.1:55432/safe`],
  ])('gives ConfigError for %s, never the password', async (_label, url) => {
    expect(await refusal(url)).toBeInstanceOf(ConfigError);
  });

  it.each([
    ['options=-c search_path=public', 'options=-c%20search_path%3Dpublic'],
    ['an empty options=', 'options='],
    ['options= among other parameters', 'application_name=x&options=-c%20statement_timeout%3D1'],
  ])('rejects a URL that sets %s, before connecting', async (_label, query) => {
    // The unreachable port shows no connection is attempted: the answer is ConfigError, not Unavailable.
    const error = await refusal(`postgres://safe:${password}@127.0.0.1:1/safe?${query}`);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/options/);
  });

  it('rejects bad pool settings with ConfigError', async () => {
    for (const settings of [{ poolSize: 0 }, { poolSize: 1.5 }, { connectTimeoutMs: 0 }, { connectTimeoutMs: -5 }]) {
      const error = await rejection(openPostgres({ url: POSTGRES_URL, schema, ...settings }));
      expect(error, JSON.stringify(settings)).toBeInstanceOf(ConfigError);
    }
  });

  it('does not create anything for a refused open', async () => {
    const admin = await openPostgres({ url: POSTGRES_URL, schema: 'public', poolSize: 1 });
    try {
      expect(await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([]);
    } finally {
      await admin.close();
    }
  });

  it('still maps a unique violation to already-exists / 23505 across separate pools', async () => {
    const name = uniqueSchema('unique');
    const [a, b] = await Promise.all([open(name), open(name)]);
    await (a as SqlDatabase).query('CREATE TABLE u (id int4 PRIMARY KEY)');
    await (a as SqlDatabase).query('INSERT INTO u VALUES (1)');
    const error = await rejection((b as SqlDatabase).query('INSERT INTO u VALUES ($1)', [1]));
    expect(error).toBeInstanceOf(SqlError);
    expect(error).toMatchObject({ kind: 'already-exists', sqlState: '23505' });
  });
});
