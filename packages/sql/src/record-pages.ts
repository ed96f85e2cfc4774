import { NAME_BYTES, type Name, type RecordRef, recordPages } from '@safe/core';
import type { SqlExecutor } from './port.js';

/**
 * The records of a persona that keeps one per NAE (empty key) in a table keyed by the name
 * (`column`, bytea), page by page in name order: a PersonaRecords `list`. Table and column are
 * the persona's own constants, never input.
 */
export function recordsByName(db: SqlExecutor, table: string, column: string): AsyncGenerator<readonly RecordRef[]> {
  const noKey = new Uint8Array(0);
  const sql = `SELECT ${column} AS name FROM ${table} WHERE ${column} > $1 ORDER BY ${column} LIMIT $2`;
  return recordPages(
    noKey as Uint8Array,
    (after, limit) => db.query<{ name: Uint8Array }>(sql, [after, limit]),
    (row) => row.name,
    (row) => (row.name.length === NAME_BYTES ? { nae: row.name as Name, key: noKey } : undefined),
  );
}
