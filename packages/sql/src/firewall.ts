import { type Clock, type FirewallRecord, type FirewallStore, systemClock } from '@safe/core';
import { migrate } from './migrate.js';
import type { Migration, SqlDatabase } from './port.js';

/** The firewall's tables, in the replica's own schema beside its persona's. */
export const FIREWALL_MIGRATIONS: readonly Migration[] = [
  {
    id: 'firewall-001',
    sql: `
      -- state 0: syncing (still deciding), 1: done; a done reply is its type and payload, or none
      CREATE TABLE firewall (
        id            text  PRIMARY KEY,
        state         int2  NOT NULL,
        reply_type    text,
        reply_payload bytea,
        expires_at    int8  NOT NULL
      );
      CREATE INDEX firewall_expiry ON firewall (expires_at);`,
  },
];

/** Expired rows are swept once per this many admissions, so the table stays about one memory long. */
const SWEEP_EVERY = 256;

/**
 * The firewall (Fw / Uf) in the replica's SQL database: it survives a restart, so a repeat of a
 * request the replica handled before is still answered from it, never handled again (the
 * embedded testnet keeps its state in PGlite on disk). Each replica owns its schema: one writer.
 */
export class SqlFirewallStore implements FirewallStore {
  readonly #db: SqlDatabase;
  readonly #clock: Clock;
  #admissions = 0;

  private constructor(db: SqlDatabase, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Creates the table if need be. */
  static async open(db: SqlDatabase, clock: Clock = systemClock): Promise<SqlFirewallStore> {
    await migrate(db, FIREWALL_MIGRATIONS);
    return new SqlFirewallStore(db, clock);
  }

  async admit(id: string, ttlMs: number): Promise<FirewallRecord | null> {
    const now = this.#clock.now();
    if (++this.#admissions % SWEEP_EVERY === 0) await this.#db.query('DELETE FROM firewall WHERE expires_at <= $1', [now]);
    // One statement: the insert takes an unknown (or expired) id; otherwise the row as it was.
    const [row] = await this.#db.query<{
      inserted: number;
      state: number | null;
      replyType: string | null;
      replyPayload: Uint8Array | null;
    }>(
      `WITH taken AS (
         INSERT INTO firewall (id, state, expires_at) VALUES ($1, 0, $2)
         ON CONFLICT (id) DO UPDATE SET state = 0, reply_type = NULL, reply_payload = NULL, expires_at = EXCLUDED.expires_at
           WHERE firewall.expires_at <= $3
         RETURNING 1)
       SELECT (SELECT count(*) FROM taken)::int4 AS inserted, f.state, f.reply_type AS "replyType", f.reply_payload AS "replyPayload"
         FROM (SELECT 1) one LEFT JOIN firewall f ON f.id = $1`,
      [id, now + ttlMs, now],
    );
    if (row === undefined || row.inserted > 0) return null;
    return recordOf(row.state, row.replyType, row.replyPayload);
  }

  async lookup(id: string): Promise<FirewallRecord | null> {
    const [row] = await this.#db.query<{ state: number; replyType: string | null; replyPayload: Uint8Array | null }>(
      'SELECT state, reply_type AS "replyType", reply_payload AS "replyPayload" FROM firewall WHERE id = $1 AND expires_at > $2',
      [id, this.#clock.now()],
    );
    return row === undefined ? null : recordOf(row.state, row.replyType, row.replyPayload);
  }

  async record(id: string, record: FirewallRecord, ttlMs: number): Promise<void> {
    const done = record.state === 'done';
    const reply = done ? record.reply : null;
    await this.#db.query(
      `INSERT INTO firewall (id, state, reply_type, reply_payload, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, reply_type = EXCLUDED.reply_type,
         reply_payload = EXCLUDED.reply_payload, expires_at = EXCLUDED.expires_at`,
      [id, done ? 1 : 0, reply?.type ?? null, reply?.payload ?? null, this.#clock.now() + ttlMs],
    );
  }
}

function recordOf(state: number | null, replyType: string | null, replyPayload: Uint8Array | null): FirewallRecord | null {
  if (state === null) return null;
  if (state === 0) return { state: 'syncing' };
  return { state: 'done', reply: replyType === null ? null : { type: replyType, payload: replyPayload ?? new Uint8Array(0) } };
}
