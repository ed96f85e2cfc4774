/**
 * The SQL port's contract (port.ts), run unchanged against both adapters: PGlite in memory and the
 * real Postgres at SAFE_POSTGRES_URL. An unreachable Postgres fails the postgres half; it never skips.
 * Every schema is unique to this run and dropped at the end.
 */
import { ConfigError, SafeError, UnavailableError } from '@safe/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrations as dataManagerMigrations } from '../../../services/data-manager/src/migrations.js';
import { migrations as maidManagerMigrations } from '../../../services/maid-manager/src/migrations.js';
import { migrations as pmidManagerMigrations } from '../../../services/pmid-manager/src/migrations.js';
import { SqlError, SqlUsageError } from './errors.js';
import { migrate } from './migrate.js';
import { openPglite, type PgliteHost } from './pglite.js';
import type { Migration, SqlDatabase, SqlExecutor } from './port.js';
import { openPostgres } from './postgres.js';
import { POSTGRES_URL, requirePostgres, uniqueSchema } from './test-support.js';

interface Backend {
  readonly name: 'pglite' | 'postgres';
  setup(): Promise<void>;
  /** A database on a fresh schema of this run, or on `schema` when given (a "restarted" replica). */
  open(label: string, schema?: string): Promise<SqlDatabase>;
  /** Opens exactly as a caller would, with no bookkeeping: for names that must be refused. */
  openRaw(schema: string): Promise<SqlDatabase>;
  teardown(): Promise<void>;
}

function pgliteBackend(): Backend {
  let host: PgliteHost | undefined;
  const schemas = new Set<string>();
  const need = () => {
    if (host === undefined) throw new Error('pglite host not open');
    return host;
  };
  return {
    name: 'pglite',
    async setup() {
      host = await openPglite();
    },
    async open(label, schema = uniqueSchema(label)) {
      schemas.add(schema);
      return need().database(schema);
    },
    async openRaw(schema) {
      return need().database(schema);
    },
    async teardown() {
      if (host === undefined) return;
      const admin = host.database('public');
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await host.close();
    },
  };
}

function postgresBackend(): Backend {
  const url = POSTGRES_URL;
  const schemas = new Set<string>();
  const open: SqlDatabase[] = [];
  return {
    name: 'postgres',
    async setup() {
      await requirePostgres(url);
    },
    async open(label, schema = uniqueSchema(label)) {
      schemas.add(schema);
      const db = await openPostgres({ url, schema, poolSize: 2 });
      open.push(db);
      return db;
    },
    openRaw(schema) {
      return openPostgres({ url, schema });
    },
    async teardown() {
      for (const db of open) await db.close();
      if (schemas.size === 0) return;
      const admin = await openPostgres({ url, schema: 'public', poolSize: 1 });
      try {
        for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.close();
      }
    },
  };
}

const backends: Backend[] = [pgliteBackend(), postgresBackend()];

/** What each backend returned for the same statements; compared across backends at the end. */
const observed = new Map<Backend['name'], unknown>();

/** Every byte value, then a 1 MiB run: big enough that a per-byte slow path or a pooled Buffer would show. */
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const MIB = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 31 + 7) & 0xff);

function expectPlainBytes(value: unknown, expected: Uint8Array): void {
  expect(value).toBeInstanceOf(Uint8Array);
  expect(Buffer.isBuffer(value)).toBe(false);
  expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype);
  // Its own ArrayBuffer, not a view into a pooled slab.
  expect((value as Uint8Array).byteOffset).toBe(0);
  expect((value as Uint8Array).buffer.byteLength).toBe(expected.length);
  // vitest's deep equality walks a typed array element by element (seconds for 1 MiB): compare as bytes.
  const actual = Buffer.from((value as Uint8Array).buffer);
  if (!actual.equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))) {
    expect.fail(`bytes differ (${actual.length} bytes, expected ${expected.length}): ${actual.subarray(0, 16).toString('hex')}...`);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a result');
}

async function tables(db: SqlDatabase): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
    [db.schema],
  );
  return rows.map((r) => r.name);
}

async function recorded(db: SqlDatabase): Promise<string[]> {
  const rows = await db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
  return rows.map((r) => r.id);
}

const personas: { name: string; migrations: readonly Migration[] }[] = [
  { name: 'data-manager', migrations: dataManagerMigrations },
  { name: 'maid-manager', migrations: maidManagerMigrations },
  { name: 'pmid-manager', migrations: pmidManagerMigrations },
];

describe.each(backends)('SQL port on $name', (backend) => {
  // A backend that cannot open (e.g. Postgres unreachable) fails every test of its half with the
  // reason: beforeEach rethrows it (a throwing beforeAll would only mark the tests skipped).
  let failure: unknown = new Error(`${backend.name}: setup did not run`);
  beforeAll(async () => {
    failure = await backend.setup().then(
      () => undefined,
      (error: unknown) => error,
    );
  }, 60_000);
  beforeEach(() => {
    if (failure !== undefined) throw failure;
  });
  afterAll(() => backend.teardown(), 60_000);
  /** beforeAll for a nested describe: skipped when the backend is down (its tests fail on the reason instead). */
  const prepare = (fn: () => Promise<void>) => beforeAll(async () => (failure === undefined ? fn() : undefined), 30_000);

  describe('value mapping', () => {
    let db: SqlDatabase;
    prepare(async () => {
      db = await backend.open('values');
      await db.query('CREATE TABLE blobs (id int4 PRIMARY KEY, data bytea, many bytea[], counts int8[])');
    });

    it('round-trips bytea as a plain Uint8Array, whatever went in', async () => {
      const inputs: [number, Uint8Array][] = [
        [1, new Uint8Array()],
        [2, ALL_BYTES],
        [3, MIB],
        // A view into a larger buffer, and a Buffer: both go in as their bytes only.
        [4, new Uint8Array(ALL_BYTES.buffer, 10, 5)],
        [5, Buffer.from([0, 255, 0])],
      ];
      for (const [id, data] of inputs) await db.query('INSERT INTO blobs (id, data) VALUES ($1, $2)', [id, data]);
      const rows = await db.query<{ id: number; data: Uint8Array }>('SELECT id, data FROM blobs WHERE id <= 5 ORDER BY id');
      expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
      for (const [i, [, data]] of inputs.entries()) expectPlainBytes(rows[i]?.data, new Uint8Array(data));
      // The same through a transaction's executor.
      const inTx = await db.transaction((tx) => tx.query<{ data: Uint8Array }>('SELECT data FROM blobs WHERE id = 2'));
      expectPlainBytes(inTx[0]?.data, ALL_BYTES);
    });

    it('compares bytea by value in SQL (a Uint8Array parameter is bytea, not text)', async () => {
      const rows = await db.query<{ id: number }>('SELECT id FROM blobs WHERE data = $1', [new Uint8Array([0, 255, 0])]);
      expect(rows).toEqual([{ id: 5 }]);
    });

    it('decodes bytea[] to arrays of plain Uint8Arrays (nulls and nesting kept)', async () => {
      const a = new Uint8Array([1, 2, 3]);
      const b = new Uint8Array([0xff]);
      await db.query('INSERT INTO blobs (id, many) VALUES ($1, $2)', [10, [a, null, new Uint8Array(), b]]);
      const [row] = await db.query<{ many: (Uint8Array | null)[] }>('SELECT many FROM blobs WHERE id = 10');
      expect(row?.many).toHaveLength(4);
      expectPlainBytes(row?.many[0], a);
      expect(row?.many[1]).toBeNull();
      expectPlainBytes(row?.many[2], new Uint8Array());
      expectPlainBytes(row?.many[3], b);

      const [built] = await db.query<{ m: Uint8Array[][] }>(
        `SELECT ARRAY[ARRAY[$1::bytea, $2::bytea], ARRAY['\\x'::bytea, '\\x00'::bytea]] AS m`,
        [a, b],
      );
      expect(built?.m).toStrictEqual([
        [a, b],
        [new Uint8Array(), new Uint8Array([0])],
      ]);
      for (const inner of built?.m ?? []) for (const element of inner) expect(Buffer.isBuffer(element)).toBe(false);
    });

    it('decodes int8 and int8[] to numbers up to 2^53 - 1, either sign', async () => {
      const max = Number.MAX_SAFE_INTEGER;
      await db.query('INSERT INTO blobs (id, counts) VALUES ($1, $2)', [20, [0, 1, null, max, -max]]);
      const [row] = await db.query('SELECT counts, $1::int8 AS one, $2::int8 AS top, $3::int8 AS bottom FROM blobs WHERE id = 20', [
        1,
        max,
        -max,
      ]);
      expect(row).toStrictEqual({ counts: [0, 1, null, max, -max], one: 1, top: max, bottom: -max });
      const [nested] = await db.query(`SELECT '{{1,2},{3,4}}'::int8[] AS m, count(*) AS n FROM blobs WHERE id = 20`);
      expect(nested).toStrictEqual({
        m: [
          [1, 2],
          [3, 4],
        ],
        n: 1,
      });
    });

    it.each([
      ['int8 2^53', 'SELECT 9007199254740992::int8 AS v'],
      ['int8 -2^53', 'SELECT (-9007199254740992)::int8 AS v'],
      ['int8 max', 'SELECT 9223372036854775807::int8 AS v'],
      ['int8[] element', `SELECT ARRAY[1, 9007199254740993]::int8[] AS v`],
    ])('refuses %s with a typed SqlError rather than rounding', async (_label, text) => {
      const error = await rejection(db.query(text));
      expect(error).toBeInstanceOf(SqlError);
      expect(error).toMatchObject({ kind: 'internal', sqlState: '22003' });
      expect((error as Error).message).toMatch(/beyond 2\^53/);
      // The refusal spoils nothing: the next statement runs.
      expect(await db.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    });

    it('refuses an oversized int8 inside a transaction without breaking it', async () => {
      const result = await db.transaction(async (tx) => {
        const error = await rejection(tx.query('SELECT 9007199254740993::int8 AS v'));
        expect(error).toBeInstanceOf(SqlError);
        await tx.query('INSERT INTO blobs (id) VALUES (30)');
        return 'done';
      });
      expect(result).toBe('done');
      expect(await db.query('SELECT id FROM blobs WHERE id = 30')).toEqual([{ id: 30 }]);
    });

    it('gives sum()::int8 as a number and a bare sum() (numeric) as a string', async () => {
      await db.query('CREATE TABLE sizes (n int8 NOT NULL)');
      await db.query('INSERT INTO sizes VALUES ($1), ($2), ($3)', [2 ** 40, 2 ** 40, 5]);
      const [row] = await db.query('SELECT sum(n)::int8 AS total, sum(n) AS raw, count(*) AS rows FROM sizes');
      expect(row).toStrictEqual({ total: 2 ** 41 + 5, raw: String(2 ** 41 + 5), rows: 3 });
      const [empty] = await db.query('SELECT sum(n)::int8 AS total, coalesce(sum(n), 0)::int8 AS zero FROM sizes WHERE false');
      expect(empty).toStrictEqual({ total: null, zero: 0 });
    });

    it('runs several statements without parameters and returns the rows of the last', async () => {
      const rows = await db.query('CREATE TABLE multi (x int4); INSERT INTO multi VALUES (1), (2); SELECT sum(x)::int4 AS s FROM multi');
      expect(rows).toEqual([{ s: 3 }]);
      expect(await db.query('SELECT 1 AS one', [])).toEqual([{ one: 1 }]);
    });

    it('maps the other column types the same way (recorded for the cross-backend check)', async () => {
      const rows = await db.query(
        `SELECT 1::int2 AS i2, 2::int4 AS i4, 1.5::float8 AS f8, 'NaN'::float8 AS nan, '-infinity'::float8 AS ninf,
                '2020-01-02T03:04:05.678Z'::timestamptz AS ts, 'infinity'::timestamptz AS tsinf,
                1.25::numeric AS num, true AS b, 'x''y"z'::text AS t, '{"a":[1,null]}'::jsonb AS j,
                ARRAY[1, NULL]::int4[] AS i4a, ARRAY['a', 'b,c', NULL]::text[] AS ta,
                NULL::bytea AS nb, NULL::int8 AS ni, NULL::int8[] AS nia, '{}'::bytea[] AS empty,
                $1::bytea AS bytes, $2::int8 AS big, ARRAY[$1::bytea] AS arr, ARRAY[-1, 2]::int8[] AS i8a`,
        [ALL_BYTES, Number.MAX_SAFE_INTEGER],
      );
      observed.set(backend.name, rows);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ i2: 1, i4: 2, f8: 1.5, num: '1.25', b: true, ni: null, empty: [] });
      expect((rows[0] as { ts: unknown }).ts).toEqual(new Date('2020-01-02T03:04:05.678Z'));
    });
  });

  describe('errors', () => {
    let db: SqlDatabase;
    prepare(async () => {
      db = await backend.open('errors');
      await db.query('CREATE TABLE uniq (id int4 PRIMARY KEY, tag text UNIQUE)');
      await db.query(`INSERT INTO uniq VALUES (1, 'one')`);
    });

    it('maps a unique violation to already-exists with SQLSTATE 23505, with or without parameters', async () => {
      for (const attempt of [
        () => db.query(`INSERT INTO uniq VALUES (1, 'x')`),
        () => db.query('INSERT INTO uniq VALUES ($1, $2)', [2, 'one']),
      ]) {
        const error = await rejection(attempt());
        expect(error).toBeInstanceOf(SqlError);
        expect(error).toMatchObject({ kind: 'already-exists', sqlState: '23505' });
        expect((error as Error).message).toContain('SQLSTATE 23505');
      }
    });

    it('maps the same violation inside a transaction, and rejects the transaction with it', async () => {
      const error = await rejection(db.transaction((tx) => tx.query(`INSERT INTO uniq VALUES (1, 'again')`)));
      expect(error).toMatchObject({ kind: 'already-exists', sqlState: '23505' });
    });

    it('types other server refusals by SQLSTATE and never leaks a bare driver error', async () => {
      const cases: [string, readonly unknown[] | undefined, string, string][] = [
        ['SELEC 1', undefined, 'internal', '42601'],
        ['SELECT * FROM no_such_table', undefined, 'internal', '42P01'],
        ['SELECT 1 / 0', undefined, 'invalid-argument', '22012'],
        ['SELECT $1::int4', ['not a number'], 'invalid-argument', '22P02'],
        ['INSERT INTO uniq (id) VALUES (NULL)', undefined, 'failed-precondition', '23502'],
      ];
      for (const [text, params, kind, sqlState] of cases) {
        const error = await rejection(db.query(text, params));
        expect(error, text).toBeInstanceOf(SqlError);
        expect(error, text).toMatchObject({ kind, sqlState });
      }
    });
  });

  describe('transactions', () => {
    let db: SqlDatabase;
    const ids = async () => (await db.query<{ id: number }>('SELECT id FROM rows ORDER BY id')).map((r) => r.id);
    prepare(async () => {
      db = await backend.open('tx');
      await db.query('CREATE TABLE rows (id int4 PRIMARY KEY)');
    });

    it('commits every row and returns what fn returned', async () => {
      const result = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO rows VALUES ($1)', [1]);
        await tx.query('INSERT INTO rows VALUES ($1)', [2]);
        return (await tx.query<{ n: number }>('SELECT count(*) AS n FROM rows'))[0]?.n;
      });
      expect(result).toBe(2);
      expect(await ids()).toEqual([1, 2]);
    });

    it('rolls back every row when fn throws, and rejects with the error typed', async () => {
      const error = await rejection(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO rows VALUES ($1)', [10]);
          await tx.query('INSERT INTO rows VALUES (11), (12)');
          throw new Error('boom');
        }),
      );
      expect(error).toBeInstanceOf(SafeError);
      expect((error as Error).message).toContain('boom');
      expect(await ids()).toEqual([1, 2]);
    });

    it("passes fn's own SafeError through unchanged", async () => {
      const mine = new ConfigError('mine');
      const error = await rejection(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO rows VALUES (20)');
          throw mine;
        }),
      );
      expect(error).toBe(mine);
      expect(await ids()).toEqual([1, 2]);
    });

    it('rolls back and rejects when fn swallows a failed statement', async () => {
      let afterFailure: unknown;
      const error = await rejection(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO rows VALUES (30)');
          await rejection(tx.query('INSERT INTO rows VALUES (1)')); // duplicate key, swallowed
          // The transaction is aborted: further statements are refused too.
          afterFailure = await rejection(tx.query('SELECT 1'));
          return 'swallowed';
        }),
      );
      expect(afterFailure).toMatchObject({ kind: 'failed-precondition', sqlState: '25P02' });
      expect(error).toBeInstanceOf(SqlError);
      expect(error).toMatchObject({ kind: 'failed-precondition', sqlState: '25P02' });
      expect(await ids()).toEqual([1, 2]);
    });

    it('rolls back when only the swallowed statement failed (nothing after it)', async () => {
      const error = await rejection(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO rows VALUES (40)');
          await tx.query('SELECT 1 / 0').catch(() => undefined);
        }),
      );
      expect(error).toMatchObject({ kind: 'failed-precondition', sqlState: '25P02' });
      expect(await ids()).toEqual([1, 2]);
    });

    it('refuses a tx used after its transaction ended (committed or rolled back)', async () => {
      let kept: SqlExecutor | undefined;
      await db.transaction(async (tx) => {
        kept = tx;
      });
      const afterCommit = await rejection(kept?.query('INSERT INTO rows VALUES (50)') ?? Promise.resolve());
      expect(afterCommit).toBeInstanceOf(SqlUsageError);

      await rejection(
        db.transaction(async (tx) => {
          kept = tx;
          throw new Error('rollback');
        }),
      );
      const afterRollback = await rejection(kept?.query('INSERT INTO rows VALUES ($1)', [51]) ?? Promise.resolve());
      expect(afterRollback).toBeInstanceOf(SqlUsageError);
      expect(afterRollback).toMatchObject({ kind: 'failed-precondition' });
      expect(await ids()).toEqual([1, 2]);
    });

    it('keeps working after failures: later transactions commit normally', async () => {
      await db.transaction((tx) => tx.query('INSERT INTO rows VALUES (3)'));
      expect(await ids()).toEqual([1, 2, 3]);
    });
  });

  describe('migrations', () => {
    const base: Migration[] = [
      { id: '001_a', sql: 'CREATE TABLE a (id int4 PRIMARY KEY); INSERT INTO a VALUES (1);' },
      { id: '002_b', sql: 'CREATE TABLE b (id int4 PRIMARY KEY)' },
    ];

    it('applies each migration once: a second run applies nothing', async () => {
      const db = await backend.open('mig_twice');
      expect(await migrate(db, base)).toEqual({ applied: ['001_a', '002_b'] });
      expect(await migrate(db, base)).toEqual({ applied: [] });
      expect(await recorded(db)).toEqual(['001_a', '002_b']);
      expect(await db.query('SELECT id FROM a')).toEqual([{ id: 1 }]);
      expect(await tables(db)).toEqual(['a', 'b', 'schema_migrations']);
    });

    it('finds earlier migrations recorded after a restart and applies only the new ones', async () => {
      const first = await backend.open('mig_restart');
      expect((await migrate(first, base.slice(0, 1))).applied).toEqual(['001_a']);
      await first.close();
      const second = await backend.open('mig_restart_again', first.schema);
      expect(await migrate(second, base)).toEqual({ applied: ['002_b'] });
      // A migration recorded but no longer listed (newer code rolled back) is left alone.
      expect(await migrate(second, base.slice(1))).toEqual({ applied: [] });
      expect(await recorded(second)).toEqual(['001_a', '002_b']);
    });

    it('leaves nothing of a failing migration behind and retries it next time', async () => {
      const db = await backend.open('mig_fail');
      const broken: Migration = {
        id: '002_b',
        // The first statement succeeds, the third fails: all of it must go.
        sql: 'CREATE TABLE b (id int4 PRIMARY KEY); INSERT INTO b VALUES (1); SELECT 1 / 0;',
      };
      const error = await rejection(migrate(db, [base[0] as Migration, broken, { id: '003_c', sql: 'CREATE TABLE c (id int4)' }]));
      expect(error).toBeInstanceOf(SqlError);
      expect(error).toMatchObject({ kind: 'invalid-argument', sqlState: '22012' });
      expect(await recorded(db)).toEqual(['001_a']);
      expect(await tables(db)).toEqual(['a', 'schema_migrations']);

      const fixed = [base[0] as Migration, base[1] as Migration, { id: '003_c', sql: 'CREATE TABLE c (id int4)' }];
      expect(await migrate(db, fixed)).toEqual({ applied: ['002_b', '003_c'] });
      expect(await tables(db)).toEqual(['a', 'b', 'c', 'schema_migrations']);
      expect(await db.query('SELECT count(*) AS n FROM b')).toEqual([{ n: 0 }]);
    });

    it('rejects duplicate or empty ids with ConfigError before touching the database', async () => {
      const db = await backend.open('mig_dupes');
      const duplicate = rejection(migrate(db, [...base, { id: '001_a', sql: 'CREATE TABLE z (id int4)' }]));
      expect(await duplicate).toBeInstanceOf(ConfigError);
      expect(((await duplicate) as Error).message).toContain('"001_a"');
      expect(await rejection(migrate(db, [{ id: '', sql: 'SELECT 1' }]))).toBeInstanceOf(ConfigError);
      expect(await tables(db)).toEqual([]);
    });

    it.each(personas)('applies the $name migrations to a fresh schema, idempotently', async ({ migrations }) => {
      expect(migrations.length).toBeGreaterThan(0);
      const db = await backend.open('persona');
      const ids = migrations.map((m) => m.id);
      expect(await migrate(db, migrations)).toEqual({ applied: ids });
      expect(await migrate(db, migrations)).toEqual({ applied: [] });
      expect(await recorded(db)).toEqual([...ids].sort());
      expect((await tables(db)).length).toBeGreaterThan(1);
    });
  });

  describe('schema isolation', () => {
    it('keeps two schemas with the same table names apart', async () => {
      const one = await backend.open('iso_one');
      const two = await backend.open('iso_two');
      expect(one.schema).not.toBe(two.schema);
      const setup: Migration[] = [{ id: '001', sql: 'CREATE TABLE items (name text PRIMARY KEY, data bytea)' }];
      expect((await migrate(one, setup)).applied).toEqual(['001']);
      expect((await migrate(two, setup)).applied).toEqual(['001']);

      await one.query('INSERT INTO items VALUES ($1, $2)', ['shared', new Uint8Array([1])]);
      await two.transaction((tx) => tx.query('INSERT INTO items VALUES ($1, $2)', ['shared', new Uint8Array([2])]));
      await two.query(`INSERT INTO items VALUES ('only-two', NULL)`);

      expect(await one.query('SELECT name, data FROM items ORDER BY name')).toStrictEqual([{ name: 'shared', data: new Uint8Array([1]) }]);
      expect(await two.query('SELECT name, data FROM items ORDER BY name')).toStrictEqual([
        { name: 'only-two', data: null },
        { name: 'shared', data: new Uint8Array([2]) },
      ]);
      // Interleaved, both ways, including from inside transactions.
      const [a, b] = await Promise.all([
        one.transaction((tx) => tx.query<{ n: number }>('SELECT count(*) AS n FROM items')),
        two.query<{ n: number }>('SELECT count(*) AS n FROM items'),
      ]);
      expect([a[0]?.n, b[0]?.n]).toEqual([1, 2]);
      expect(await one.query('SELECT current_schema() AS s')).toEqual([{ s: one.schema }]);
      expect(await two.transaction((tx) => tx.query('SELECT current_schema() AS s'))).toEqual([{ s: two.schema }]);
      // Many at once, alternating, with failing calls among them: each still runs in its own schema.
      const calls = Array.from({ length: 24 }, (_, i) => {
        const db = i % 2 === 0 ? one : two;
        if (i % 5 === 0)
          return db.query('SELECT * FROM no_such_table').then(
            () => 'ran',
            () => 'refused',
          );
        if (i % 3 === 0) return db.transaction(async (tx) => (await tx.query<{ s: string }>('SELECT current_schema() AS s'))[0]?.s);
        return db.query<{ s: string }>('SELECT current_schema() AS s').then((rows) => rows[0]?.s);
      });
      expect(await Promise.all(calls)).toEqual(
        Array.from({ length: 24 }, (_, i) => (i % 5 === 0 ? 'refused' : i % 2 === 0 ? one.schema : two.schema)),
      );
    });
  });

  describe('lifecycle', () => {
    it('refuses bad schema names with ConfigError', async () => {
      for (const bad of [
        'Upper',
        'has-dash',
        '1digit',
        'pg_catalog',
        'information_schema',
        '',
        'x'.repeat(64),
        'a"; DROP SCHEMA public; --',
      ]) {
        expect(await rejection(backend.openRaw(bad)), bad).toBeInstanceOf(ConfigError);
      }
    });

    it('closes idempotently; later use fails with UnavailableError', async () => {
      const db = await backend.open('closing');
      await db.query('SELECT 1');
      await db.close();
      await db.close();
      expect(await rejection(db.query('SELECT 1'))).toBeInstanceOf(UnavailableError);
      expect(await rejection(db.transaction(async () => 1))).toBeInstanceOf(UnavailableError);
    });
  });
});

describe('across backends', () => {
  it('decodes the same statements to equal values on PGlite and Postgres', () => {
    const pglite = observed.get('pglite');
    const postgres = observed.get('postgres');
    expect(pglite, 'the pglite half recorded nothing').toBeDefined();
    expect(postgres, 'the postgres half recorded nothing').toBeDefined();
    expect(postgres).toStrictEqual(pglite);
  });
});
