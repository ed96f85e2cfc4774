import type { Migration } from '@safe/sql';

/**
 * SPEC.md 3.6 (seeds 002/003): key = data name + type + entity id, hashed into the SDV's 64-byte
 * name; value = the StructuredDataVersions object, serialised (proto SdvRecord, which is also what
 * account transfer hands over). At most SDV_LIMITS.maxVersions versions make one value small.
 */
export const migrations: readonly Migration[] = [
  {
    id: '001_sdvs',
    sql: `
      CREATE TABLE sdvs (
        name  bytea PRIMARY KEY,
        owner bytea NOT NULL,
        value bytea NOT NULL
      );`,
  },
];
