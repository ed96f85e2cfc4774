import type { Migration } from '@safe/sql';

/**
 * SPEC.md 3.2: key = hash(data name) (hashed to protect the client's data), value = copies and
 * cost; header = stored and available space. `pending_puts` tracks a Put between the client's
 * request and the DataManagers' confirmation of its must-store copies: the charge waits for it.
 */
export const migrations: readonly Migration[] = [
  {
    id: '001_accounts',
    sql: `
      CREATE TABLE accounts (
        client bytea PRIMARY KEY,
        stored int8 NOT NULL DEFAULT 0
      );
      CREATE TABLE vaults (
        client  bytea NOT NULL REFERENCES accounts (client) ON DELETE CASCADE,
        pmid    bytea NOT NULL,
        offered int8  NOT NULL DEFAULT 0,
        PRIMARY KEY (client, pmid)
      );
      CREATE TABLE entries (
        client bytea NOT NULL REFERENCES accounts (client) ON DELETE CASCADE,
        key    bytea NOT NULL,
        copies int4  NOT NULL,
        cost   int8  NOT NULL,
        PRIMARY KEY (client, key)
      );
      -- confirmed: bit i set when copy group i (0 primary, 1 backup) confirmed; done once charged or failed
      CREATE TABLE pending_puts (
        request   bytea PRIMARY KEY,
        client    bytea NOT NULL,
        confirmed int2  NOT NULL DEFAULT 0,
        done      bool  NOT NULL DEFAULT false
      );`,
  },
  {
    // A finished Put's row only has to outlive late confirmations from the other copy groups; it
    // is pruned after that, so the table holds Puts in flight, not every Put ever made.
    id: '002_pending_puts_finished_at',
    sql: `
      ALTER TABLE pending_puts ADD COLUMN finished_at timestamptz;
      UPDATE pending_puts SET finished_at = now() WHERE done;
      CREATE INDEX pending_puts_finished ON pending_puts (finished_at) WHERE finished_at IS NOT NULL;`,
  },
];
