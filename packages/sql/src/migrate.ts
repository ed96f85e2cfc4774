import { ConfigError } from '@safe/core';
import type { Migration, SqlDatabase, SqlExecutor } from './port.js';
import { quoteSchema } from './schema.js';

/**
 * Brings `db.schema` up to date: creates it and `schema_migrations` if needed, then applies, in
 * order, each migration not yet recorded, each in its own transaction together with its record row
 * (so a failed migration leaves nothing behind and is retried next start). Migrations recorded in
 * the database but absent from the list (newer code rolled back) are left alone.
 *
 * Each step holds a transaction-scoped advisory lock on the schema, so processes that start
 * together against one Postgres apply every migration exactly once; a second caller waits, then
 * finds it recorded. On PGlite the lock is trivially granted.
 */
export async function migrate(db: SqlDatabase, migrations: readonly Migration[]): Promise<{ applied: string[] }> {
  const seen = new Set<string>();
  for (const m of migrations) {
    if (m.id === '') throw new ConfigError('migration id must not be empty');
    if (seen.has(m.id)) throw new ConfigError(`migration id ${JSON.stringify(m.id)} appears twice`);
    seen.add(m.id);
  }
  const table = `${quoteSchema(db.schema)}.schema_migrations`;
  const lock = (tx: SqlExecutor) => tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [db.schema]);

  await db.transaction(async (tx) => {
    await lock(tx);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteSchema(db.schema)}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${table} (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  });

  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      await lock(tx);
      const recorded = await tx.query(`SELECT 1 FROM ${table} WHERE id = $1`, [m.id]);
      if (recorded.length > 0) return false;
      // No parameters: the simple protocol, so a migration may hold several statements.
      await tx.query(m.sql);
      await tx.query(`INSERT INTO ${table} (id) VALUES ($1)`, [m.id]);
      return true;
    });
    if (done) applied.push(m.id);
  }
  return { applied };
}
