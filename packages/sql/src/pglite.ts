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
  return {
    dataDir: options.dataDir,
    database: (schema) => new PgliteDatabase(pg, checkSchemaName(schema), () => closed),
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

async function run(tx: Transaction, text: string, params: readonly unknown[] | undefined): Promise<unknown[]> {
  if (isSimple(params)) {
    const results = await tx.exec(text);
    return results.at(-1)?.rows ?? [];
  }
  return (await tx.query(text, params as unknown[])).rows;
}

class PgliteDatabase implements SqlDatabase {
  readonly schema: string;
  readonly #pg: PGlite;
  readonly #hostClosed: () => boolean;
  #closed = false;
  // The schema is created by the first transaction that commits; after that only search_path is set.
  #schemaReady = false;

  constructor(pg: PGlite, schema: string, hostClosed: () => boolean) {
    this.#pg = pg;
    this.schema = schema;
    this.#hostClosed = hostClosed;
  }

  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#scoped(`query ${statementHead(text)}`, (tx) => run(tx, text, params) as Promise<R[]>);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#scoped('transaction', async (raw) => {
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
    });
  }

  async close(): Promise<void> {
    // The connection belongs to the host; a replica closing only stops using it.
    this.#closed = true;
  }

  /**
   * Every call is its own PGlite transaction whose first statement sets the schema with SET LOCAL:
   * PGlite runs transactions one at a time on its single connection, so no other replica's
   * statement can run under this search_path, and it is gone at COMMIT/ROLLBACK.
   */
  async #scoped<T>(what: string, body: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.#closed || this.#hostClosed()) {
      throw new UnavailableError(`pglite[${this.schema}] ${what}: database closed`);
    }
    const schema = quoteSchema(this.schema);
    const ready = this.#schemaReady;
    try {
      const result = await this.#pg.transaction(async (tx) => {
        await tx.exec(
          ready ? `SET LOCAL search_path TO ${schema}` : `CREATE SCHEMA IF NOT EXISTS ${schema}; SET LOCAL search_path TO ${schema}`,
        );
        return body(tx);
      });
      this.#schemaReady = true;
      return result;
    } catch (error) {
      throw toSqlError(error, `pglite[${this.schema}] ${what}`);
    }
  }
}
