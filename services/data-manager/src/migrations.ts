import type { Migration } from '@safe/sql';

/**
 * The DataManager's table (seeds 000/001): ChunkName | Version/type | PmidNodes | subscribers.
 * Keys are kept short, the drafts' whole point: a chunk's 64-byte name is stored once, in
 * `chunks`; holder rows carry two 4-byte integers (chunk id, PmidNode id) instead of two 64-byte
 * names. Online state is not stored: it is in the routing view. `holders_by_pmid` makes "every
 * chunk the departed node held" one index scan, never a scan of the whole table.
 */
export const migrations: readonly Migration[] = [
  {
    id: '001_chunks_and_holders',
    sql: `
      CREATE TABLE pmid_nodes (
        id   int4 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name bytea NOT NULL UNIQUE
      );
      CREATE TABLE chunks (
        id          int4 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name        bytea NOT NULL,
        copy        int2  NOT NULL,
        size        int4  NOT NULL,
        subscribers int4  NOT NULL,
        created_by  int4  NOT NULL DEFAULT 0, -- tag of the Put that created it (see handlers/put.ts)
        UNIQUE (name, copy)
      );
      -- state: 0 pending, 1 stored, 2 failed; position: larger = nearer the top (newest on line)
      CREATE TABLE holders (
        chunk    int4 NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
        pmid     int4 NOT NULL REFERENCES pmid_nodes (id),
        state    int2 NOT NULL,
        position int4 NOT NULL,
        PRIMARY KEY (chunk, pmid)
      );
      CREATE INDEX holders_by_pmid ON holders (pmid);`,
  },
  {
    // One row: this replica's farming rate (SPEC.md 3.3), kept across restarts like its table.
    id: '002_farming_rate',
    sql: `
      CREATE TABLE farming_rate (
        id                 int2 PRIMARY KEY CHECK (id = 1),
        rate               int8 NOT NULL,
        failed_outstanding int4 NOT NULL
      );`,
  },
  {
    // Chosen holders that have not confirmed yet: few at any time (the Puts in flight), so the
    // stalled-store check reads a small partial index, never the whole holders table.
    id: '003_pending_holders',
    sql: 'CREATE INDEX holders_pending ON holders (chunk) WHERE state = 0;',
  },
  {
    // Deleted copies, remembered for account transfer (tombstones.ts): few, and pruned by age.
    id: '004_tombstones',
    sql: `
      CREATE TABLE tombstones (
        name bytea NOT NULL,
        copy int2  NOT NULL,
        at   int8  NOT NULL,
        PRIMARY KEY (name, copy)
      );
      CREATE INDEX tombstones_by_age ON tombstones (at);`,
  },
];
