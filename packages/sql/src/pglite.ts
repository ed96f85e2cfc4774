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
  const session = new Session(pg);
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

/**
 * The one connection's session, shared by every database of a host: the schema its search_path
 * is set to now, and a queue that runs one call at a time (PGlite runs one anyway), so nothing
 * runs between setting the search_path and the statements meant for it.
 */
class Session {
  readonly pg: PGlite;
  /** The schema the session's search_path is set to; undefined when unknown. */
  searchPath: string | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(pg: PGlite) {
    this.pg = pg;
  }

  /** Runs `fn` once every call queued before it is done. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
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
  readonly #session: Session;
  readonly #hostClosed: () => boolean;
  #closed = false;
  // The schema is created by the first call that succeeds; after that only search_path is set.
  #schemaReady = false;

  constructor(session: Session, schema: string, hostClosed: () => boolean) {
    this.#session = session;
    this.schema = schema;
    this.#hostClosed = hostClosed;
  }

  /**
   * One statement (or several in one text, the simple protocol) runs in a transaction of its own,
   * as Postgres runs any statement outside BEGIN: no BEGIN, SET LOCAL and COMMIT around it.
   */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#exclusive(`query ${statementHead(text)}`, async () => {
      const { pg } = this.#session;
      await this.#enter();
      try {
        if (isSimple(params)) return ((await pg.exec(text)).at(-1)?.rows ?? []) as R[];
        return (await pg.query(text, params as unknown[])).rows as R[];
      } finally {
        this.#leaving(text);
      }
    });
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#exclusive('transaction', async () => {
      await this.#enter();
      return this.#session.pg.transaction(async (raw) => {
        const { tx, end } = transactionExecutor(async (text, params) => {
          try {
            return await run(raw, text, params);
          } catch (error) {
            throw toSqlError(error, `pglite[${this.schema}] ${statementHead(text)}`);
          } finally {
            this.#leaving(text);
          }
        });
        try {
          return await fn(tx);
        } finally {
          end();
        }
      });
    });
  }

  /**
   * Sets the session's search_path to this schema (creating it on first use), unless it already
   * is: a replica's calls come in runs, so most calls skip it.
   */
  async #enter(): Promise<void> {
    const session = this.#session;
    if (session.searchPath === this.schema && this.#schemaReady) return;
    const schema = quoteSchema(this.schema);
    session.searchPath = undefined;
    await session.pg.exec(
      this.#schemaReady ? `SET search_path TO ${schema}` : `CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`,
    );
    session.searchPath = this.schema;
    this.#schemaReady = true;
  }

  /** After a statement that names search_path (it may have moved it), the session's is unknown. */
  #leaving(text: string): void {
    if (/search_path/i.test(text)) this.#session.searchPath = undefined;
  }

  async close(): Promise<void> {
    // The connection belongs to the host; a replica closing only stops using it.
    this.#closed = true;
  }

  /**
   * Every call runs alone on the host's one connection (the session's queue; PGlite runs one
   * transaction at a time anyway): no other replica's statement runs under this search_path.
   */
  async #exclusive<T>(what: string, body: () => Promise<T>): Promise<T> {
    if (this.#closed || this.#hostClosed()) {
      throw new UnavailableError(`pglite[${this.schema}] ${what}: database closed`);
    }
    try {
      return await this.#session.exclusive(body);
    } catch (error) {
      throw toSqlError(error, `pglite[${this.schema}] ${what}`);
    }
  }
}
