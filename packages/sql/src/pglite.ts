import { PGlite, type Transaction } from '@electric-sql/pglite';
import { UnavailableError } from '@safe/core';
import { OID, parseByteaHex, parseInt8, serializeBytea } from './codec.js';
import { toSqlError } from './errors.js';
import { isSimple, transactionExecutor } from './executor.js';
import type { SqlDatabase, SqlExecutor } from './port.js';
import { checkSchemaName, quoteSchema, statementHead } from './schema.js';

export interface PgliteOptions {
  /** Where the cluster lives on disk; undefined keeps it in memory (gone when the process ends). */
  readonly dataDir?: string;
}

/** One PGlite (one Postgres backend) per process, shared by every replica through its own schema. */
export interface PgliteHost {
  /** A database scoped to `schema` (created on first use). Throws ConfigError for a bad name. */
  database(schema: string): SqlDatabase;
  readonly dataDir: string | undefined;
  /** Closes PGlite; every database of this host fails with UnavailableError afterwards. */
  close(): Promise<void>;
}

export async function openPglite(options: PgliteOptions = {}): Promise<PgliteHost> {
  const where = options.dataDir ?? 'memory';
  let pg: PGlite;
  try {
    pg = await PGlite.create({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      parsers: { [OID.int8]: parseInt8, [OID.bytea]: parseByteaHex },
      serializers: { [OID.bytea]: serializeBytea },
    });
  } catch (error) {
    throw new UnavailableError(`pglite at ${where} could not open: ${toSqlError(error, 'open').message}`, { cause: error });
  }
  let closed = false;
  const session = new SchemaSession(pg);
  return {
    dataDir: options.dataDir,
    database: (schema) => new PgliteDatabase(session, checkSchemaName(schema), () => closed),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await pg.close();
      } catch (error) {
        throw toSqlError(error, `pglite at ${where}: close`);
      }
    },
  };
}

type Runner = Pick<Transaction, 'exec' | 'query'>;

/**
 * PGlite's one connection, shared by every replica of the process, each in a schema of its own.
 * Calls run one at a time with search_path set to their schema, and the path is set only when the
 * schema changes: a statement costs one round trip into PGlite, not four (BEGIN, SET LOCAL, the
 * statement, COMMIT), which was most of the embedded testnet's SQL time.
 */
class SchemaSession {
  readonly pg: PGlite;
  #current: string | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(pg: PGlite) {
    this.pg = pg;
  }

  run<T>(schema: string, create: boolean, body: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(async () => {
      if (create || this.#current !== schema) {
        this.#current = undefined;
        const quoted = quoteSchema(schema);
        await this.pg.exec(`${create ? `CREATE SCHEMA IF NOT EXISTS ${quoted}; ` : ''}SET search_path TO ${quoted}`);
        this.#current = schema;
      }
      return body();
    });
    this.#tail = result.catch(() => {});
    return result;
  }
}

async function run(tx: Runner, text: string, params: readonly unknown[] | undefined): Promise<unknown[]> {
  if (isSimple(params)) {
    const results = await tx.exec(text);
    return results.at(-1)?.rows ?? [];
  }
  return (await tx.query(text, params as unknown[])).rows;
}

class PgliteDatabase implements SqlDatabase {
  readonly schema: string;
  readonly #session: SchemaSession;
  readonly #hostClosed: () => boolean;
  #closed = false;
  // Until the first call succeeds, each call creates the schema if it is missing.
  #schemaReady = false;

  constructor(session: SchemaSession, schema: string, hostClosed: () => boolean) {
    this.#session = session;
    this.schema = schema;
    this.#hostClosed = hostClosed;
  }

  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#scoped(`query ${statementHead(text)}`, () => run(this.#session.pg, text, params) as Promise<R[]>);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#scoped('transaction', () =>
      this.#session.pg.transaction(async (raw) => {
        const { tx, end } = transactionExecutor(async (text, params) => {
          try {
            return await run(raw, text, params);
          } catch (error) {
            throw toSqlError(error, `pglite[${this.schema}] ${statementHead(text)}`);
          }
        });
        try {
          return await fn(tx);
        } finally {
          end();
        }
      }),
    );
  }

  async close(): Promise<void> {
    // The connection belongs to the host; a replica closing only stops using it.
    this.#closed = true;
  }

  async #scoped<T>(what: string, body: () => Promise<T>): Promise<T> {
    if (this.#closed || this.#hostClosed()) {
      throw new UnavailableError(`pglite[${this.schema}] ${what}: database closed`);
    }
    try {
      const result = await this.#session.run(this.schema, !this.#schemaReady, body);
      this.#schemaReady = true;
      return result;
    } catch (error) {
      throw toSqlError(error, `pglite[${this.schema}] ${what}`);
    }
  }
}
