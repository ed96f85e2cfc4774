import { ChunkCopy, copyIndex } from '@safe/chunks';
import type { SqlDatabase } from '@safe/sql';

export interface PmidAccount {
  readonly offered: number;
  readonly stored: number;
  readonly lost: number;
}

/** The PmidManager's tables; every write that touches two rows is one transaction. */
export class PmidManagerStore {
  readonly db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.db = db;
  }

  async account(pmid: Uint8Array): Promise<PmidAccount | undefined> {
    const [row] = await this.db.query<PmidAccount>('SELECT offered, stored, lost FROM pmid_accounts WHERE pmid = $1', [pmid]);
    return row;
  }

  /** The accounts of nodes that lost data, lowest stored / (stored + lost) first, at most `limit`. */
  async lossyAccounts(limit: number): Promise<(PmidAccount & { readonly pmid: Uint8Array })[]> {
    return this.db.query<PmidAccount & { pmid: Uint8Array }>(
      `SELECT pmid, offered, stored, lost FROM pmid_accounts WHERE lost > 0
       ORDER BY CAST(stored AS DOUBLE PRECISION) / (stored + lost), pmid LIMIT $1`,
      [limit],
    );
  }

  /** Whether the copy is in the node's account. */
  async holds(pmid: Uint8Array, name: Uint8Array, copy: ChunkCopy): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM pmid_chunks WHERE pmid = $1 AND name = $2 AND copy = $3', [
      pmid,
      name,
      copyIndex(copy),
    ]);
    return rows.length > 0;
  }

  /** Bytes of sacrificial copies in the node's account: the room a must-store copy may take from them (SPEC.md 3.3). */
  async sacrificialBytes(pmid: Uint8Array): Promise<number> {
    const [row] = await this.db.query<{ bytes: number }>(
      'SELECT coalesce(sum(size), 0)::int8 AS bytes FROM pmid_chunks WHERE pmid = $1 AND copy = $2',
      [pmid, copyIndex(ChunkCopy.SACRIFICIAL)],
    );
    return Number(row?.bytes ?? 0);
  }

  /** The client accounts the vault's offer is shared by, in name order. */
  async clients(pmid: Uint8Array): Promise<Uint8Array[]> {
    const rows = await this.db.query<{ client: Uint8Array }>('SELECT client FROM pmid_clients WHERE pmid = $1 ORDER BY client', [pmid]);
    return rows.map((r) => r.client);
  }

  async addClient(pmid: Uint8Array, client: Uint8Array): Promise<void> {
    await this.db.query('INSERT INTO pmid_clients (pmid, client) VALUES ($1, $2) ON CONFLICT DO NOTHING', [pmid, client]);
  }

  async recordOffer(pmid: Uint8Array, capacity: number): Promise<void> {
    await this.db.query(
      `INSERT INTO pmid_accounts (pmid, offered) VALUES ($1, $2)
       ON CONFLICT (pmid) DO UPDATE SET offered = EXCLUDED.offered`,
      [pmid, capacity],
    );
  }

  /** Adds a chunk to the node's account; false when it was already recorded (nothing changes). */
  recordStored(pmid: Uint8Array, name: Uint8Array, copy: ChunkCopy, size: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO pmid_chunks (pmid, name, copy, size) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING RETURNING size`,
        [pmid, name, copyIndex(copy), size],
      );
      if (inserted.length === 0) return false;
      await tx.query(
        `INSERT INTO pmid_accounts (pmid, stored) VALUES ($1, $2)
         ON CONFLICT (pmid) DO UPDATE SET stored = pmid_accounts.stored + EXCLUDED.stored`,
        [pmid, size],
      );
      return true;
    });
  }

  /** Removes a chunk from the node's account; `lost` also adds it to the lost total. */
  removeChunk(pmid: Uint8Array, name: Uint8Array, copy: ChunkCopy, lost: boolean): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ size: number }>('DELETE FROM pmid_chunks WHERE pmid = $1 AND name = $2 AND copy = $3 RETURNING size', [
        pmid,
        name,
        copyIndex(copy),
      ]);
      if (row === undefined) return false;
      await tx.query('UPDATE pmid_accounts SET stored = stored - $2, lost = lost + $3 WHERE pmid = $1', [
        pmid,
        row.size,
        lost ? row.size : 0,
      ]);
      return true;
    });
  }
}
