import { ConfigError, UnavailableError } from '@safe/core';
import pg from 'pg';
import { OID, parseByteaHex, parseInt8, toPlainBytes } from './codec.js';
import { SqlError, toSqlError } from './errors.js';
import { isSimple, transactionExecutor } from './executor.js';
import type { SqlDatabase, SqlExecutor } from './port.js';
import { checkSchemaName, quoteSchema, statementHead } from './schema.js';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database`; must not set `options` (search_path is ours). */
  readonly url: string;
  /** This replica's schema, created if absent. */
  readonly schema: string;
  /** Connections in this replica's pool (default 4: many replicas share one server's max_connections). */
  readonly poolSize?: number;
  /** Bound on establishing a connection, handshake included (default 5000). */
  readonly connectTimeoutMs?: number;
}

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

type Parser = (text: string) => unknown;

function deepMap(value: unknown, fn: (element: never) => unknown): unknown {
  if (value === null) return null;
  return Array.isArray(value) ? value.map((v) => deepMap(v, fn)) : fn(value as never);
}

// pg-types' typings list only the OIDs it parses itself; any OID is accepted at run time.
const builtinParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => Parser;

// Per pool, not pg.types.setTypeParser: a process-wide override would change other pg users too.
const getTypeParser = ((oid: number, format?: 'text' | 'binary') => {
  if (format === 'binary') return builtinParser(oid, format);
  switch (oid) {
    case OID.int8:
      return parseInt8;
    case OID.bytea:
      return parseByteaHex;
    case OID.int8Array: {
      const elements = builtinParser(oid, 'text');
      return (text: string) => deepMap(elements(text), parseInt8);
    }
    case OID.byteaArray: {
      // pg decodes elements to pooled Buffers; copy each into a plain, standalone Uint8Array.
      const elements = builtinParser(oid, 'text');
      return (text: string) => deepMap(elements(text), toPlainBytes);
    }
    default:
      return builtinParser(oid, format);
  }
}) as typeof pg.types.getTypeParser;

/** `host:port` for messages; never the credentials. */
function endpointOf(url: URL): string {
  const host = url.hostname || url.searchParams.get('host') || 'localhost';
  return `${host}:${url.port || '5432'}`;
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // No cause: Node's ERR_INVALID_URL carries the whole input, password included, as `input`.
    throw new ConfigError('postgres url is not a URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`postgres url must start with postgres://, not ${url.protocol}//`);
  }
  if (url.searchParams.has('options')) {
    // pg lets the URL override the pool's `options`, which would drop the replica's search_path.
    throw new ConfigError('postgres url must not set options: search_path is set from the schema');
  }
  return url;
}

function rowsOf(result: pg.QueryResult | pg.QueryResult[]): unknown[] {
  // Several statements in one simple-protocol query yield one result each; the port returns the last.
  if (Array.isArray(result)) return result.at(-1)?.rows ?? [];
  return result.rows;
}

/**
 * A pg Pool whose every connection starts with search_path = the schema (the `options` startup
 * parameter, so no extra round trip and no window where a connection has the wrong path).
 */
export async function openPostgres(options: PostgresOptions): Promise<SqlDatabase> {
  const schema = checkSchemaName(options.schema);
  const url = parseUrl(options.url);
  const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new ConfigError(`poolSize must be a positive integer, got ${poolSize}`);
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
    throw new ConfigError(`connectTimeoutMs must be a positive integer, got ${connectTimeoutMs}`);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
    options: `-c search_path=${schema}`,
    application_name: `safe:${schema}`,
    keepAlive: true,
    types: { getTypeParser },
  });
  // An idle connection the server drops emits 'error' on the pool; unhandled, that would crash the
  // process. The pool discards that connection itself, and the next query reports the outage typed.
  pool.on('error', () => {});
  const db = new PostgresDatabase(pool, schema, endpointOf(url));
  try {
    await db.transaction(async (tx) => {
      // Serialised with migrate(): concurrent CREATE SCHEMA IF NOT EXISTS can still collide in Postgres.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [schema]);
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteSchema(schema)}`);
    });
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  return db;
}

class PostgresDatabase implements SqlDatabase {
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #where: string;
  #closed = false;

  constructor(pool: pg.Pool, schema: string, endpoint: string) {
    this.#pool = pool;
    this.schema = schema;
    this.#where = `postgres at ${endpoint} [${schema}]`;
  }

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    this.#checkOpen();
    try {
      const result = await this.#pool.query(text, isSimple(params) ? undefined : (params as unknown[]));
      return rowsOf(result) as R[];
    } catch (error) {
      throw toSqlError(error, `${this.#where} ${statementHead(text)}`);
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    this.#checkOpen();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toSqlError(error, `${this.#where} connect`);
    }
    // A checked-out client has no pool listener; a dropped connection must reject the pending
    // query (it does) rather than crash the process with an unhandled 'error' event.
    const onError = () => {};
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const { tx, end } = transactionExecutor(async (text, params) => {
        try {
          return rowsOf(await client.query(text, isSimple(params) ? undefined : (params as unknown[])));
        } catch (error) {
          throw toSqlError(error, `${this.#where} ${statementHead(text)}`);
        }
      });
      let result: T;
      try {
        result = await fn(tx);
      } finally {
        end();
      }
      const commit = await client.query('COMMIT');
      if (commit.command === 'ROLLBACK') {
        // Postgres answers COMMIT of a failed transaction with ROLLBACK, not an error; PGlite throws.
        throw new SqlError(
          'failed-precondition',
          `${this.#where} transaction: rolled back instead of committed (a statement in it failed)`,
          '25P02',
        );
      }
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable; release(error) destroys it instead of pooling it.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw toSqlError(error, `${this.#where} transaction`);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#pool.end();
    } catch (error) {
      throw toSqlError(error, `${this.#where} close`);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new UnavailableError(`${this.#where}: database closed`);
  }
}
