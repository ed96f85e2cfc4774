import type { Migration } from '@safe/sql';

/**
 * SPEC.md 3.4: key = data name, value = size; header = stored, lost, offered. Names are bytea
 * (64 bytes, not 128 hex characters). One account per PmidNode this replica manages.
 */
export const migrations: readonly Migration[] = [
  {
    id: '001_pmid_accounts',
    sql: `
      CREATE TABLE pmid_accounts (
        pmid    bytea PRIMARY KEY,
        offered int8 NOT NULL DEFAULT 0,
        stored  int8 NOT NULL DEFAULT 0,
        lost    int8 NOT NULL DEFAULT 0
      );
      CREATE TABLE pmid_chunks (
        pmid bytea NOT NULL,
        name bytea NOT NULL,
        copy int2  NOT NULL,
        size int4  NOT NULL,
        PRIMARY KEY (pmid, name, copy)
      );`,
  },
  {
    id: '002_vault_clients',
    sql: `
      CREATE TABLE pmid_clients (
        pmid   bytea NOT NULL,
        client bytea NOT NULL,
        PRIMARY KEY (pmid, client)
      );`,
  },
];
