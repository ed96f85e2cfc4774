import { CHUNK_COPIES, type ChunkCopy, copyIndex } from '@safe/chunks';
import type { Name } from '@safe/core';
import type { SqlExecutor } from '@safe/sql';

/**
 * A deleted copy's tombstone (SPEC.md 4, account transfer of a deletion). A member that was away
 * while the group deleted a copy (down, restarting) still has its record, and account transfer of
 * the records alone would never tell it: the tombstone travels as a record ("deleted") and takes
 * the stale one away. It also tells a late holder's answer for a deleted copy, which makes a
 * record with no subscriber (actions/holder-result.ts), from one that overtook a new Put's record.
 */

/** How long a member remembers a deletion: a member away longer keeps what it had (a later integrity check or Delete finds it). */
export const TOMBSTONE_MS = 6 * 60 * 60_000;
/** How long a record with no subscriber on a tombstone waits for a new Put's CreateRecord before it goes as a late answer's leftover. */
export const LEFTOVER_MS = 60_000;
/** How often a tick sweeps: a leftover waits LEFTOVER_MS anyway, and each sweep is a transaction of four round trips. */
export const SWEEP_EVERY_MS = 10_000;

export async function bury(tx: SqlExecutor, name: Uint8Array, copy: ChunkCopy, at: number): Promise<void> {
  await tx.query('INSERT INTO tombstones (name, copy, at) VALUES ($1, $2, $3) ON CONFLICT (name, copy) DO UPDATE SET at = EXCLUDED.at', [
    name,
    copyIndex(copy),
    at,
  ]);
}

export async function unbury(tx: SqlExecutor, name: Uint8Array, copy: ChunkCopy): Promise<void> {
  await tx.query('DELETE FROM tombstones WHERE name = $1 AND copy = $2', [name, copyIndex(copy)]);
}

export async function isBuried(tx: SqlExecutor, name: Uint8Array, copy: ChunkCopy): Promise<boolean> {
  const rows = await tx.query('SELECT 1 FROM tombstones WHERE name = $1 AND copy = $2', [name, copyIndex(copy)]);
  return rows.length > 0;
}

/** A record of a deleted copy that a late answer made again, with its holders to delete the copy from. */
export interface Leftover {
  readonly name: Name;
  readonly copy: ChunkCopy;
  readonly holders: Name[];
}

/**
 * Removes the records late answers made for deleted copies (no subscriber, buried more than
 * LEFTOVER_MS ago) and forgets tombstones older than TOMBSTONE_MS; returns the removed records.
 */
export async function sweepTombstones(tx: SqlExecutor, now: number): Promise<Leftover[]> {
  const rows = await tx.query<{ id: number; name: Uint8Array; copy: number; holders: Uint8Array[] | null }>(
    `SELECT c.id, c.name, c.copy,
            (SELECT array_agg(p.name) FROM holders h JOIN pmid_nodes p ON p.id = h.pmid WHERE h.chunk = c.id AND h.state <> 2) AS holders
       FROM chunks c JOIN tombstones t ON t.name = c.name AND t.copy = c.copy
      WHERE c.subscribers = 0 AND t.at < $1`,
    [now - LEFTOVER_MS],
  );
  if (rows.length > 0) await tx.query('DELETE FROM chunks WHERE id = ANY($1::int4[])', [rows.map((r) => r.id)]);
  await tx.query(
    'DELETE FROM tombstones t WHERE t.at < $1 AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.name = t.name AND c.copy = t.copy)',
    [now - TOMBSTONE_MS],
  );
  return rows.flatMap((row) => {
    const copy = CHUNK_COPIES[row.copy];
    return copy === undefined ? [] : [{ name: row.name as Name, copy, holders: (row.holders ?? []) as Name[] }];
  });
}
