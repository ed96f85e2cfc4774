/**
 * The SQL port every persona uses. One implementation of a persona's queries runs unchanged on
 * PGlite (embedded testnet) and on Postgres (real stack); each replica owns one schema.
 *
 * Value mapping, identical on both backends:
 * - parameters are `$1..$n`;
 * - `bytea` goes in as `Uint8Array` (a `Buffer` is accepted too) and always comes out as a plain
 *   `Uint8Array` (never a `Buffer`), so results compare equal across backends; `bytea[]` likewise;
 * - `int8` (and `int8[]`) comes out as a JS `number`; a value beyond 2^53 is refused with a typed
 *   error rather than silently rounded. `sum(int8)` is `numeric`, which comes out as a string:
 *   cast it (`sum(x)::int8`) to get a number;
 * - `int2`/`int4`/`float8` are numbers, `timestamptz` a `Date`, `numeric` a string.
 *
 * Every error that leaves this package is a `SafeError` (see `errors.ts`).
 */
export interface SqlExecutor {
  /**
   * Runs one statement and returns its rows. With no parameters the text may hold several
   * statements (the simple protocol); the rows are then those of the last statement.
   */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface SqlDatabase extends SqlExecutor {
  /**
   * Runs fn in one transaction; rolls back on any error (and rethrows it typed). A transaction
   * whose statement failed can never commit: if fn swallows the error, the transaction still
   * rolls back and this rejects (Postgres would otherwise turn the COMMIT into a silent ROLLBACK).
   *
   * Inside fn use only `tx`. On PGlite every database of a host shares one connection, so awaiting
   * a query on any database of that host from inside fn waits for fn itself: a deadlock.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** The schema every unqualified name resolves to. */
  readonly schema: string;
  /** Idempotent. Later calls fail with `UnavailableError`. */
  close(): Promise<void>;
}

export interface Migration {
  /** Unique, stable forever once released: it is what `schema_migrations` records. */
  readonly id: string;
  /** May hold several statements; runs in one transaction with the migration's record row. */
  readonly sql: string;
}
