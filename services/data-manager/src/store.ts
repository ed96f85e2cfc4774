import { CHUNK_COPIES, ChunkCopy, copyIndex } from '@safe/chunks';
import type { Name } from '@safe/core';
import type { SqlDatabase, SqlExecutor } from '@safe/sql';
import { type FarmingPolicy, type FarmingRate, initialFarmingRate, nextFarmingRate, type SacrificialEvent } from './farming-rate.js';
import { bury, unbury } from './tombstones.js';

export type HolderState = 'pending' | 'stored' | 'failed';
const STATE_CODE: Record<HolderState, number> = { pending: 0, stored: 1, failed: 2 };
const STATE_OF_CODE: readonly HolderState[] = ['pending', 'stored', 'failed'];
/**
 * A record's holder list, top first: live holders newest first, then the failed ones by name. The
 * failed ones' order must not depend on the order their losses were applied in, which differs
 * between members (sync resolves at different times): every member lists and trims them alike.
 */
export const HOLDER_ORDER = `(h.state = 2) ASC, CASE WHEN h.state = 2 THEN 0 ELSE h.position END DESC, p.name`;

export interface ChunkRecord {
  readonly id: number;
  readonly size: number;
  readonly subscribers: number;
  readonly createdBy: number;
}

export interface Holder {
  readonly pmid: Name;
  readonly state: HolderState;
}

export interface HolderUpdate {
  /** Holders in state stored after the update. */
  readonly stored: number;
  /** The holder's state changed to the one asked for. */
  readonly changed: boolean;
}

/** A copy a PmidNode holds, as the churn lookups return it. */
export interface HeldCopy {
  readonly name: Name;
  readonly copy: ChunkCopy;
  readonly size: number;
}

// Every copy one PmidNode holds: one scan of holders_by_pmid, never of the whole table.
const HELD_BY = 'h.pmid = (SELECT id FROM pmid_nodes WHERE name = $1) AND c.id = h.chunk';
/** The churn lookup ($1 = the PmidNode's name); exported so a test can EXPLAIN it. */
export const COPIES_HELD_BY_SQL = `SELECT c.name, c.copy, c.size FROM holders h, chunks c WHERE ${HELD_BY} ORDER BY c.name, c.copy`;
/** Chosen holders not yet confirmed ($1 = how many): few at any time, read through the partial index holders_pending. */
export const PENDING_HOLDERS_SQL = `SELECT c.name, c.copy, c.size, p.name AS pmid FROM holders h, chunks c, pmid_nodes p
  WHERE h.state = 0 AND c.id = h.chunk AND p.id = h.pmid ORDER BY h.chunk LIMIT $1`;
const heldCopy = (r: { name: Uint8Array; copy: number; size: number }): HeldCopy => ({
  name: r.name as Name,
  copy: CHUNK_COPIES[r.copy] ?? ChunkCopy.SACRIFICIAL,
  size: r.size,
});

/** The chunk → holders table. Holders are listed top first: the newest on line at the top. */
export class DataManagerStore {
  readonly db: SqlDatabase;
  /** The farming rate as last read or written, for a synchronous scrape; undefined before either. */
  lastFarmingRate: FarmingRate | undefined;
  /**
   * Whether a sacrificial copy moved the rate: once one did, or when the rate was already stored
   * at the first read (what an earlier run kept is this replica's own). Until then the replica
   * takes its close peers' median (farming/refresh.ts). Undefined before the first read.
   */
  farmingRateMoved: boolean | undefined;

  /** PmidNode row ids by name (hex), from committed transactions only (see #pmidId). */
  readonly #pmidIds = new Map<string, number>();
  readonly #uncommittedIds = new WeakMap<SqlExecutor, Map<string, number>>();

  constructor(db: SqlDatabase) {
    this.db = db;
  }

  /** This replica's farming rate: the policy's starting value until a sacrificial copy moved it. */
  async farmingRate(policy: FarmingPolicy, tx: SqlExecutor = this.db): Promise<FarmingRate> {
    const [row] = await tx.query<{ rate: string | number; failed: number }>(
      'SELECT rate, failed_outstanding AS failed FROM farming_rate WHERE id = 1',
    );
    const current = row === undefined ? initialFarmingRate(policy) : { rate: Number(row.rate), failedOutstanding: row.failed };
    this.lastFarmingRate = current;
    this.farmingRateMoved ??= row !== undefined;
    return current;
  }

  /**
   * A newcomer takes its close peers' median as its rate, unless a sacrificial copy moved it (that
   * one wins). Returns the rate as it is afterwards.
   */
  async adoptFarmingRate(policy: FarmingPolicy, rate: number): Promise<FarmingRate> {
    return this.db.transaction(async (tx) => {
      const current = await this.farmingRate(policy, tx);
      if (this.farmingRateMoved) return current;
      await tx.query(
        `INSERT INTO farming_rate (id, rate, failed_outstanding) VALUES (1, $1, 0)
         ON CONFLICT (id) DO UPDATE SET rate = EXCLUDED.rate, failed_outstanding = 0`,
        [rate],
      );
      this.lastFarmingRate = { rate, failedOutstanding: 0 };
      return this.lastFarmingRate;
    });
  }

  /** Moves the farming rate by one sacrificial copy's outcome, in one transaction; returns the new rate. */
  async recordSacrificial(policy: FarmingPolicy, event: SacrificialEvent): Promise<FarmingRate> {
    return this.db.transaction(async (tx) => {
      const next = nextFarmingRate(policy, await this.farmingRate(policy, tx), event);
      await tx.query(
        `INSERT INTO farming_rate (id, rate, failed_outstanding) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET rate = EXCLUDED.rate, failed_outstanding = EXCLUDED.failed_outstanding`,
        [next.rate, next.failedOutstanding],
      );
      this.lastFarmingRate = next;
      this.farmingRateMoved = true;
      return next;
    });
  }

  async record(name: Uint8Array, copy: ChunkCopy, tx: SqlExecutor = this.db): Promise<ChunkRecord | undefined> {
    const [row] = await tx.query<ChunkRecord>(
      'SELECT id, size, subscribers, created_by AS "createdBy" FROM chunks WHERE name = $1 AND copy = $2',
      [name, copyIndex(copy)],
    );
    return row;
  }

  async holders(chunkId: number, tx: SqlExecutor = this.db): Promise<Holder[]> {
    const rows = await tx.query<{ name: Uint8Array; state: number }>(
      `SELECT p.name, h.state FROM holders h JOIN pmid_nodes p ON p.id = h.pmid
       WHERE h.chunk = $1 ORDER BY ${HOLDER_ORDER}`,
      [chunkId],
    );
    return rows.map((r) => ({ pmid: r.name as Name, state: STATE_OF_CODE[r.state] ?? 'failed' }));
  }

  /**
   * A PmidNode's row id. Rows of pmid_nodes are never deleted or renumbered, so an id is kept once
   * the transaction that read or made it committed (a rolled-back insert leaves no row): a holder
   * added or answered is then no upsert of its PmidNode.
   */
  async #pmidId(tx: SqlExecutor, pmid: Uint8Array): Promise<number> {
    const key = Buffer.from(pmid).toString('hex');
    const known = this.#pmidIds.get(key) ?? this.#uncommittedIds.get(tx)?.get(key);
    if (known !== undefined) return known;
    const [row] = await tx.query<{ id: number }>(
      `INSERT INTO pmid_nodes (name) VALUES ($1)
       ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
      [pmid],
    );
    if (row === undefined) throw new Error('pmid_nodes upsert returned no row');
    const uncommitted = this.#uncommittedIds.get(tx) ?? new Map<string, number>();
    uncommitted.set(key, row.id);
    this.#uncommittedIds.set(tx, uncommitted);
    return row.id;
  }

  /** A transaction that may learn PmidNode ids: they are kept once it committed. */
  async #holderTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    let last: SqlExecutor | undefined;
    const result = await this.db.transaction((tx) => {
      last = tx;
      return fn(tx);
    });
    const learned = last === undefined ? undefined : this.#uncommittedIds.get(last);
    if (learned !== undefined) for (const [key, id] of learned) this.#pmidIds.set(key, id);
    return result;
  }

  async #ensureChunk(
    tx: SqlExecutor,
    name: Uint8Array,
    copy: ChunkCopy,
    size: number,
    subscribersToAdd: number,
    createdBy = 0,
  ): Promise<number> {
    const [row] = await tx.query<{ id: number }>(
      `INSERT INTO chunks (name, copy, size, subscribers, created_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name, copy) DO UPDATE SET subscribers = chunks.subscribers + EXCLUDED.subscribers,
         created_by = CASE WHEN chunks.created_by = 0 THEN EXCLUDED.created_by WHEN EXCLUDED.created_by = 0 THEN chunks.created_by
                           ELSE LEAST(chunks.created_by, EXCLUDED.created_by) END
       RETURNING id`,
      [name, copyIndex(copy), size, subscribersToAdd, createdBy],
    );
    if (row === undefined) throw new Error('chunks upsert returned no row');
    return row.id;
  }

  /** Adds a holder at the top of the list (or moves it there); returns the holders below `maxHolders` that fall off. */
  async #addHolder(tx: SqlExecutor, chunkId: number, pmid: Uint8Array, state: HolderState, maxHolders: number): Promise<Name[]> {
    const pmidId = await this.#pmidId(tx, pmid);
    // RETURNING's subquery sees the list as it was before this row: one more, and no trim is due.
    const [added] = await tx.query<{ before: number }>(
      `INSERT INTO holders (chunk, pmid, state, position)
       VALUES ($1, $2, $3, (SELECT coalesce(max(position), 0) + 1 FROM holders WHERE chunk = $1))
       ON CONFLICT (chunk, pmid) DO NOTHING
       RETURNING (SELECT count(*)::int4 FROM holders WHERE chunk = $1) AS before`,
      [chunkId, pmidId, STATE_CODE[state]],
    );
    if (added !== undefined && added.before + 1 <= maxHolders) return [];
    const trimmed = await tx.query<{ name: Uint8Array }>(
      `DELETE FROM holders h USING pmid_nodes p
       WHERE h.chunk = $1 AND p.id = h.pmid AND h.pmid IN (
         SELECT h.pmid FROM holders h JOIN pmid_nodes p ON p.id = h.pmid WHERE h.chunk = $1 ORDER BY ${HOLDER_ORDER} OFFSET $2)
       RETURNING p.name`,
      [chunkId, maxHolders],
    );
    return trimmed.map((r) => r.name as Name);
  }

  /** A new record with its first holders (pending); a record that exists gains a subscriber instead. */
  createRecord(
    name: Uint8Array,
    copy: ChunkCopy,
    size: number,
    holders: readonly Uint8Array[],
    maxHolders: number,
    createdBy: number,
  ): Promise<void> {
    return this.#holderTransaction(async (tx) => {
      const [before] = await tx.query<{ createdBy: number }>('SELECT created_by AS "createdBy" FROM chunks WHERE name = $1 AND copy = $2', [
        name,
        copyIndex(copy),
      ]);
      const chunkId = await this.#ensureChunk(tx, name, copy, size, 1, createdBy);
      await unbury(tx, name, copy);
      for (const pmid of holders) await this.#addHolder(tx, chunkId, pmid, 'pending', maxHolders);
      if (before?.createdBy === 0 && holders.length > 0) {
        // Holders' answers overtook the agreed record here (markHolder made it, in the order the
        // answers came). Every member must list the holders alike (SPEC.md 5a), so the created
        // holders take the positions they have where the record came first: 1..n in agreed order.
        const pmids = await tx.query<{ id: number; name: Uint8Array }>('SELECT id, name FROM pmid_nodes WHERE name = ANY($1::bytea[])', [
          holders,
        ]);
        for (const [index, pmid] of holders.entries()) {
          const id = pmids.find((p) => Buffer.from(p.name).equals(Buffer.from(pmid)))?.id;
          if (id !== undefined) await tx.query('UPDATE holders SET position = $3 WHERE chunk = $1 AND pmid = $2', [chunkId, id, index + 1]);
        }
      }
    });
  }

  /** Put of an existing chunk: one more subscriber. Undefined when there is no record. */
  async addSubscriber(name: Uint8Array, copy: ChunkCopy): Promise<{ size: number; stored: number } | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ id: number; size: number }>(
        'UPDATE chunks SET subscribers = subscribers + 1 WHERE name = $1 AND copy = $2 RETURNING id, size',
        [name, copyIndex(copy)],
      );
      if (row === undefined) return undefined;
      await unbury(tx, name, copy);
      const [count] = await tx.query<{ n: number }>('SELECT count(*)::int4 AS n FROM holders WHERE chunk = $1 AND state = 1', [row.id]);
      return { size: row.size, stored: count?.n ?? 0 };
    });
  }

  /** Delete: one subscriber fewer; at zero the record goes (buried at `at`) and its holders are returned (to delete the copies). */
  removeSubscriber(name: Uint8Array, copy: ChunkCopy, at: number): Promise<Name[] | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ id: number; subscribers: number }>(
        'UPDATE chunks SET subscribers = subscribers - 1 WHERE name = $1 AND copy = $2 RETURNING id, subscribers',
        [name, copyIndex(copy)],
      );
      if (row === undefined || row.subscribers > 0) return undefined;
      const holders = await this.holders(row.id, tx);
      await tx.query('DELETE FROM chunks WHERE id = $1', [row.id]);
      await bury(tx, name, copy, at);
      return holders.map((h) => h.pmid);
    });
  }

  /**
   * Records a holder's answer. A holder not yet in the record (its answer overtook the agreed
   * record) is added; a record not yet there is created with no subscriber (the record's own
   * action adds it).
   */
  markHolder(
    name: Uint8Array,
    copy: ChunkCopy,
    size: number,
    pmid: Uint8Array,
    state: HolderState,
    maxHolders: number,
  ): Promise<HolderUpdate & { trimmed: Name[] }> {
    return this.#holderTransaction(async (tx) => {
      const chunkId = await this.#ensureChunk(tx, name, copy, size, 0);
      const pmidId = await this.#pmidId(tx, pmid);
      const code = STATE_CODE[state];
      // One statement reads the holder's state and the stored count as they were, and changes the state.
      const [row] = await tx.query<{ before: number | null; stored: number }>(
        `WITH before AS (SELECT state FROM holders WHERE chunk = $1 AND pmid = $2),
           changed AS (UPDATE holders SET state = $3 WHERE chunk = $1 AND pmid = $2 AND state <> $3 RETURNING 1)
         SELECT (SELECT state FROM before) AS before, (SELECT count(*)::int4 FROM holders WHERE chunk = $1 AND state = 1) AS stored`,
        [chunkId, pmidId, code],
      );
      const before = row?.before ?? undefined;
      const storedBefore = row?.stored ?? 0;
      const changed = before !== code;
      if (before === undefined) {
        const trimmed = await this.#addHolder(tx, chunkId, pmid, state, maxHolders);
        if (trimmed.length === 0) return { stored: storedBefore + (code === STATE_CODE.stored ? 1 : 0), changed, trimmed };
        const [count] = await tx.query<{ n: number }>('SELECT count(*)::int4 AS n FROM holders WHERE chunk = $1 AND state = 1', [chunkId]);
        return { stored: count?.n ?? 0, changed, trimmed };
      }
      const delta = !changed ? 0 : code === STATE_CODE.stored ? 1 : before === STATE_CODE.stored ? -1 : 0;
      return { stored: storedBefore + delta, changed, trimmed: [] };
    });
  }

  /**
   * `pmid` no longer has the copy (it lost it or held it corrupt): it stays in the list as failed,
   * so it counts as no live holder and is not chosen for the copy again, and goes to the bottom, so
   * it is the first one trimmed. Undefined when the record does not list it or has it failed already.
   */
  async markHolderLost(name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array): Promise<HeldCopy | undefined> {
    const [row] = await this.db.query<{ name: Uint8Array; copy: number; size: number }>(
      `UPDATE holders h SET state = ${STATE_CODE.failed},
         position = (SELECT min(position) FROM holders WHERE chunk = h.chunk) - 1
       FROM chunks c, pmid_nodes p
       WHERE c.name = $1 AND c.copy = $2 AND h.chunk = c.id AND p.name = $3 AND h.pmid = p.id AND h.state <> ${STATE_CODE.failed}
       RETURNING c.name, c.copy, c.size`,
      [name, copyIndex(copy), pmid],
    );
    return row && heldCopy(row);
  }

  /** Every copy `pmid` holds (in any state), in name order. */
  async copiesHeldBy(pmid: Uint8Array): Promise<HeldCopy[]> {
    const rows = await this.db.query<{ name: Uint8Array; copy: number; size: number }>(COPIES_HELD_BY_SQL, [pmid]);
    return rows.map(heldCopy);
  }

  /** Up to `limit` holders still pending (chosen, not yet confirmed), oldest record first: one scan of holders_pending. */
  async pendingHolders(limit: number): Promise<(HeldCopy & { pmid: Name })[]> {
    const rows = await this.db.query<{ name: Uint8Array; copy: number; size: number; pmid: Uint8Array }>(PENDING_HOLDERS_SQL, [limit]);
    return rows.map((r) => ({ ...heldCopy(r), pmid: r.pmid as Name }));
  }

  /**
   * Up to `limit` copies from `start` on in name order, wrapping round to the lowest names: one page
   * of integrity checks, two index range scans on `UNIQUE (name, copy)`, never the whole table.
   */
  async copiesFrom(start: Uint8Array, limit: number): Promise<HeldCopy[]> {
    const page = (op: string, n: number) =>
      this.db.query<{ name: Uint8Array; copy: number; size: number }>(
        `SELECT name, copy, size FROM chunks WHERE name ${op} $1 ORDER BY name, copy LIMIT $2`,
        [start, n],
      );
    const first = await page('>=', limit);
    const rest = first.length < limit ? await page('<', limit - first.length) : [];
    return [...first, ...rest].map(heldCopy);
  }

  /**
   * `pmid` went off line: it stays a holder (it keeps its chunks and may come back) but moves to
   * the bottom of each of its lists, below every holder still on line, so it is the first one
   * trimmed. Returns the copies it holds.
   */
  async moveHolderToBottom(pmid: Uint8Array): Promise<HeldCopy[]> {
    return this.#moveHolder(pmid, 'min', -1);
  }

  /** The same move in one record: a holder that had left before this replica recorded the copy. */
  async moveHolderToBottomOf(name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array): Promise<void> {
    await this.#moveHolder(pmid, 'min', -1, { name, copy });
  }

  /** `pmid` came back on line: it goes to the top of each of its lists (SPEC.md 3.3). Returns the copies it holds. */
  async moveHolderToTop(pmid: Uint8Array): Promise<HeldCopy[]> {
    return this.#moveHolder(pmid, 'max', 1);
  }

  async #moveHolder(pmid: Uint8Array, end: 'min' | 'max', step: 1 | -1, only?: { name: Uint8Array; copy: ChunkCopy }): Promise<HeldCopy[]> {
    // Already alone at that end: left where it is, so repeating the move changes nothing.
    const rows = await this.db.query<{ name: Uint8Array; copy: number; size: number }>(
      `WITH moved AS (
         UPDATE holders h SET position = CASE
             WHEN h.position = e.pos AND NOT EXISTS (
               SELECT 1 FROM holders o WHERE o.chunk = h.chunk AND o.pmid <> h.pmid AND o.position = h.position)
             THEN h.position ELSE e.pos + $2 END
           FROM chunks c, LATERAL (SELECT ${end}(position) AS pos FROM holders WHERE chunk = c.id) e
           WHERE ${HELD_BY}${only ? ' AND c.name = $3 AND c.copy = $4' : ''}
           RETURNING c.name, c.copy, c.size)
       SELECT * FROM moved ORDER BY name, copy`,
      only ? [pmid, step, only.name, copyIndex(only.copy)] : [pmid, step],
    );
    return rows.map(heldCopy);
  }

  /** Adds a new holder (pending) at the top; returns holders trimmed off the bottom. */
  addHolder(name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array, maxHolders: number): Promise<Name[]> {
    return this.#holderTransaction(async (tx) => {
      const record = await this.record(name, copy, tx);
      if (record === undefined) return [];
      return this.#addHolder(tx, record.id, pmid, 'pending', maxHolders);
    });
  }
}
