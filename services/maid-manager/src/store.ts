import { sha512 } from '@safe/core';
import type { SqlDatabase, SqlExecutor } from '@safe/sql';

export interface Account {
  readonly stored: number;
  readonly available: number;
  readonly vaults: Uint8Array[];
  readonly chunks: number;
}

/** The MaidManager's tables. The entry key is hash(data name), never the name itself. */
export class MaidManagerStore {
  readonly db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.db = db;
  }

  async exists(client: Uint8Array): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM accounts WHERE client = $1', [client])).length > 0;
  }

  async account(client: Uint8Array, tx: SqlExecutor = this.db): Promise<Account | undefined> {
    const [row] = await tx.query<{ stored: number }>('SELECT stored FROM accounts WHERE client = $1', [client]);
    if (row === undefined) return undefined;
    const vaults = await tx.query<{ pmid: Uint8Array; offered: number }>(
      'SELECT pmid, offered FROM vaults WHERE client = $1 ORDER BY pmid',
      [client],
    );
    const [count] = await tx.query<{ n: number }>('SELECT count(*)::int4 AS n FROM entries WHERE client = $1', [client]);
    const offered = vaults.reduce((sum, v) => sum + v.offered, 0);
    return { stored: row.stored, available: Math.max(0, offered - row.stored), vaults: vaults.map((v) => v.pmid), chunks: count?.n ?? 0 };
  }

  async createAccount(client: Uint8Array): Promise<void> {
    await this.db.query('INSERT INTO accounts (client) VALUES ($1) ON CONFLICT DO NOTHING', [client]);
  }

  async registerVault(client: Uint8Array, pmid: Uint8Array): Promise<void> {
    await this.db.query(
      'INSERT INTO vaults (client, pmid) SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM accounts WHERE client = $1) ON CONFLICT DO NOTHING',
      [client, pmid],
    );
  }

  /**
   * The vault's PmidManagers answered GetPMIDHealth, which is asked only once the group agreed the
   * registration. A member can apply the answer before its own copy of that registration (the
   * answer to another member's question overtakes it), so the vault is created here if need be:
   * otherwise that member would keep offered = 0 while the rest of its group has the real value.
   */
  async recordHealth(client: Uint8Array, pmid: Uint8Array, offered: number): Promise<void> {
    await this.db.query(
      `INSERT INTO vaults (client, pmid, offered) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM accounts WHERE client = $1)
       ON CONFLICT (client, pmid) DO UPDATE SET offered = EXCLUDED.offered`,
      [client, pmid, offered],
    );
  }

  /**
   * Notes that copy group `copyBit` confirmed the Put `request`. Returns true exactly once: when
   * every bit of `allBits` has been confirmed, at which point the entry is charged.
   */
  confirmPut(request: Uint8Array, client: Uint8Array, name: Uint8Array, copyBit: number, allBits: number, cost: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ confirmed: number; done: boolean }>(
        `INSERT INTO pending_puts (request, client, confirmed) VALUES ($1, $2, $3)
         ON CONFLICT (request) DO UPDATE SET confirmed = pending_puts.confirmed | EXCLUDED.confirmed
         RETURNING confirmed, done`,
        [request, client, copyBit],
      );
      if (row === undefined || row.done || (row.confirmed & allBits) !== allBits) return false;
      await tx.query('UPDATE pending_puts SET done = true, finished_at = now() WHERE request = $1', [request]);
      await tx.query(
        `INSERT INTO entries (client, key, copies, cost) VALUES ($1, $2, 1, $3)
         ON CONFLICT (client, key) DO UPDATE SET copies = entries.copies + 1, cost = entries.cost + EXCLUDED.cost`,
        [client, sha512(name), cost],
      );
      await tx.query('UPDATE accounts SET stored = stored + $2 WHERE client = $1', [client, cost]);
      return true;
    });
  }

  /** Forgets finished Puts older than `keepMs` (late confirmations can no longer arrive). Returns how many. */
  async pruneFinishedPuts(keepMs: number): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM pending_puts WHERE finished_at < now() - make_interval(secs => $1::float8 / 1000) RETURNING request`,
      [keepMs],
    );
    return rows.length;
  }

  /** A must-store copy failed: the Put is over, nothing is charged. False if it was already over. */
  async failPut(request: Uint8Array, client: Uint8Array): Promise<boolean> {
    const changed = await this.db.query(
      `INSERT INTO pending_puts (request, client, done, finished_at) VALUES ($1, $2, true, now())
       ON CONFLICT (request) DO UPDATE SET done = true, finished_at = now() WHERE pending_puts.done = false
       RETURNING request`,
      [request, client],
    );
    return changed.length > 0;
  }

  /**
   * Delete: the client's matching Put loses one copy; the cost falls by the average cost for that
   * key. Returns true when the client had stored the name (so the DataManagers are told).
   */
  deleteEntry(client: Uint8Array, name: Uint8Array): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const key = sha512(name);
      const [row] = await tx.query<{ copies: number; cost: number }>(
        'SELECT copies, cost FROM entries WHERE client = $1 AND key = $2 FOR UPDATE',
        [client, key],
      );
      if (row === undefined) return false;
      const average = Math.floor(row.cost / row.copies);
      if (row.copies <= 1) await tx.query('DELETE FROM entries WHERE client = $1 AND key = $2', [client, key]);
      else
        await tx.query('UPDATE entries SET copies = copies - 1, cost = cost - $3 WHERE client = $1 AND key = $2', [client, key, average]);
      await tx.query('UPDATE accounts SET stored = greatest(0, stored - $2) WHERE client = $1', [
        client,
        row.copies <= 1 ? row.cost : average,
      ]);
      return true;
    });
  }
}
