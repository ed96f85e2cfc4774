import { CHUNK_COPIES, type ChunkCopy, copyGroupName, copyIndex } from '@safe/chunks';
import {
  type Codec,
  type Fields,
  InvalidNameError,
  NAME_BYTES,
  type Name,
  nameEquals,
  type PersonaRecords,
  protoCodec,
  recordPages,
  toHex,
} from '@safe/core';
import { type ChunkRecordValue as ChunkRecordValueMessage, ChunkRecordValueSchema, HolderState } from '@safe/proto/data_manager';
import type { SqlExecutor } from '@safe/sql';
import './messages.js';
import { isLive } from './rules.js';
import { copyKey, type DataManagerState } from './state.js';
import { HOLDER_ORDER } from './store.js';
import { bury, isBuried, unbury } from './tombstones.js';

/**
 * One chunk record as it is handed over on churn (proto safe.v1.data_manager.ChunkRecordValue),
 * holders in list order: top (newest on line) first. A holder's state is the store's code
 * (holders.state: 0 pending, 1 stored, 2 failed), which is the HolderState enum's number.
 */
export type ChunkRecordValue = Omit<Fields<ChunkRecordValueMessage>, 'deleted'> & { deleted?: boolean };
/** `deleted` stays off the wire unless set: a live record's bytes are what builds before tombstones sent. */
export const chunkRecordValueCodec: Codec<ChunkRecordValue> = protoCodec(ChunkRecordValueSchema);
const HOLDER_STATES: ReadonlySet<number> = new Set([HolderState.PENDING, HolderState.STORED, HolderState.FAILED]);
/** A tombstone's value: the copy was deleted, the receiver drops its record (the other fields are empty). */
const DELETED: ChunkRecordValue = { size: 0, subscribers: 0, createdBy: 0, holders: [], deleted: true };

const INT4_MAX = 2 ** 31 - 1;

/** The record key of a chunk's copy: its 64-byte name, then the copy's index (one byte). */
export function chunkRecordKey(name: Uint8Array, copy: ChunkCopy): Uint8Array {
  const key = new Uint8Array(NAME_BYTES + 1);
  key.set(name);
  key[NAME_BYTES] = copyIndex(copy);
  return key;
}

/** The chunk and copy a record key names, or undefined for a key that is not one. */
export function parseChunkRecordKey(key: Uint8Array): { name: Name; copy: ChunkCopy } | undefined {
  if (key.length !== NAME_BYTES + 1) return undefined;
  const copy = CHUNK_COPIES[key[NAME_BYTES] as number];
  if (copy === undefined) return undefined;
  return { name: key.slice(0, NAME_BYTES) as Name, copy };
}

/** The record of one chunk copy with its holders in list order, undefined when there is none. */
export async function readChunkRecord(tx: SqlExecutor, name: Uint8Array, copy: ChunkCopy): Promise<ChunkRecordValue | undefined> {
  const [row] = await tx.query<{ id: number; size: number; subscribers: number; createdBy: number }>(
    'SELECT id, size, subscribers, created_by AS "createdBy" FROM chunks WHERE name = $1 AND copy = $2',
    [name, copyIndex(copy)],
  );
  if (row === undefined) return undefined;
  const holders = await tx.query<{ pmid: Uint8Array; state: number }>(
    `SELECT p.name AS pmid, h.state FROM holders h JOIN pmid_nodes p ON p.id = h.pmid
     WHERE h.chunk = $1 ORDER BY ${HOLDER_ORDER}`,
    [row.id],
  );
  return {
    size: row.size,
    subscribers: row.subscribers,
    createdBy: row.createdBy,
    holders: holders.map((h) => ({ pmid: h.pmid, state: HOLDER_STATES.has(h.state) ? (h.state as HolderState) : HolderState.FAILED })),
  };
}

function checkRecord(nae: Name, key: Uint8Array, value: ChunkRecordValue): { name: Name; copy: ChunkCopy } {
  const chunk = parseChunkRecordKey(key);
  if (chunk === undefined) throw new InvalidNameError('a DataManager record key is a chunk name and a copy');
  if (!nameEquals(copyGroupName(chunk.name, chunk.copy), nae)) throw new InvalidNameError('the record belongs to another copy group');
  if (value.size > INT4_MAX || value.subscribers > INT4_MAX) throw new InvalidNameError('size or subscribers out of range');
  const seen = new Set<string>();
  for (const holder of value.holders) {
    if (holder.pmid.length !== NAME_BYTES) throw new InvalidNameError('a holder is a 64-byte PmidNode name');
    if (!HOLDER_STATES.has(holder.state)) throw new InvalidNameError('unknown holder state');
    const hex = toHex(holder.pmid);
    if (seen.has(hex)) throw new InvalidNameError('a holder is listed twice');
    seen.add(hex);
  }
  return chunk;
}

/**
 * DataManager records for account transfer: NAE = the copy group's name (copyGroupName), one
 * record per chunk copy (key = chunk name ‖ copy), value = size, subscribers, the creating Put's
 * tag and the holders in list order with their state; or, for a copy deleted within TOMBSTONE_MS,
 * "deleted", so a member that missed the Delete drops its record. In-memory Put state (content
 * kept for retries, waiting Puts) stays with the members that had it.
 */
export const dataManagerRecords: PersonaRecords<DataManagerState> = {
  list(ctx) {
    return recordPages(
      { name: new Uint8Array(0) as Uint8Array, copy: -1 },
      (after, limit) =>
        ctx.state.store.db.query<{ name: Uint8Array; copy: number }>(
          `SELECT name, copy FROM (SELECT name, copy FROM chunks UNION SELECT name, copy FROM tombstones) AS r
            WHERE (name, copy) > ($1, $2) ORDER BY name, copy LIMIT $3`,
          [after.name, after.copy, limit],
        ),
      (row) => row,
      (row) => {
        const copy = CHUNK_COPIES[row.copy];
        if (copy === undefined || row.name.length !== NAME_BYTES) return undefined;
        return { nae: copyGroupName(row.name as Name, copy), key: chunkRecordKey(row.name, copy) };
      },
    );
  },

  async read(ctx, _nae, key) {
    const chunk = parseChunkRecordKey(key);
    if (chunk === undefined) return undefined;
    const { db } = ctx.state.store;
    const record = await readChunkRecord(db, chunk.name, chunk.copy);
    // A late answer's record on a tombstone (no subscriber) is the deletion still.
    if ((record === undefined || record.subscribers === 0) && (await isBuried(db, chunk.name, chunk.copy)))
      return chunkRecordValueCodec.encode(DELETED);
    return record === undefined ? undefined : chunkRecordValueCodec.encode(record);
  },

  async write(ctx, nae, key, value) {
    const record = chunkRecordValueCodec.decode(value);
    const { name, copy } = checkRecord(nae, key, record);
    // The agreed record counts every subscriber its senders applied: none waits for it here.
    ctx.state.subscribersAhead.delete(copyKey(name, copy));
    await ctx.state.store.db.transaction(async (tx) => {
      // The record's holders go with it (ON DELETE CASCADE); then the agreed value, whole.
      await tx.query('DELETE FROM chunks WHERE name = $1 AND copy = $2', [name, copyIndex(copy)]);
      if (record.deleted) return bury(tx, name, copy, ctx.now());
      await unbury(tx, name, copy);
      const [row] = await tx.query<{ id: number }>(
        'INSERT INTO chunks (name, copy, size, subscribers, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [name, copyIndex(copy), record.size, record.subscribers, record.createdBy],
      );
      if (row === undefined) throw new Error('chunks insert returned no row');
      if (record.holders.length === 0) return;
      const pmids = record.holders.map((h) => h.pmid);
      await tx.query('INSERT INTO pmid_nodes (name) SELECT unnest($1::bytea[]) ON CONFLICT (name) DO NOTHING', [pmids]);
      // Top of the list = largest position.
      await tx.query(
        `INSERT INTO holders (chunk, pmid, state, position)
         SELECT $1, p.id, h.state, h.position FROM unnest($2::bytea[], $3::int2[], $4::int4[]) AS h(name, state, position)
         JOIN pmid_nodes p ON p.name = h.name`,
        [row.id, pmids, record.holders.map((h) => h.state), record.holders.map((_, i) => record.holders.length - i)],
      );
    });
    // A holder that left before this member joined never reached it as a matrix change: without
    // this it would sit out the repair the others start, and the group would stay short of K − 1.
    for (const { pmid, state } of record.deleted ? [] : record.holders) {
      if (state !== HolderState.FAILED && !isLive(ctx, pmid as Name)) ctx.state.departed.add(toHex(pmid));
    }
  },

  async drop(ctx, _nae, key) {
    const chunk = parseChunkRecordKey(key);
    if (chunk === undefined) return;
    await ctx.state.store.db.transaction(async (tx) => {
      await tx.query('DELETE FROM chunks WHERE name = $1 AND copy = $2', [chunk.name, copyIndex(chunk.copy)]);
      await unbury(tx, chunk.name, chunk.copy);
    });
  },
};
