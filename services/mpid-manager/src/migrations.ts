import type { Migration } from '@safe/sql';

/**
 * SPEC.md 3.7 (seeds 002/003): the header of each MPID (its owner, key, whitelist and blacklist,
 * serialised as proto MpidAccount, which is also what account transfer hands over), and the
 * messages held while its node is offline, key = recipient MPID + sender MPID + message id.
 * `acknowledged` remembers what the node took, so a copy that reaches a member late is not held again.
 */
export const migrations: readonly Migration[] = [
  {
    id: '001_mpids',
    sql: `
      CREATE TABLE mpids (
        name  bytea PRIMARY KEY,
        owner bytea NOT NULL,
        value bytea NOT NULL
      );
      CREATE TABLE held (
        mpid    bytea  NOT NULL,
        sender  bytea  NOT NULL,
        id      bytea  NOT NULL,
        sent_at bigint NOT NULL,
        size    integer NOT NULL,
        value   bytea  NOT NULL,
        PRIMARY KEY (mpid, sender, id)
      );
      CREATE INDEX held_order ON held (mpid, sent_at, sender, id);
      CREATE TABLE acknowledged (
        mpid   bytea  NOT NULL,
        sender bytea  NOT NULL,
        id     bytea  NOT NULL,
        at     bigint NOT NULL,
        PRIMARY KEY (mpid, sender, id)
      );`,
  },
];
