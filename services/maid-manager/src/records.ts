import { type Fields, InvalidNameError, NAME_BYTES, type Name, type PersonaRecords, protoCodec } from '@safe/core';
import { type AccountRecord as AccountRecordMessage, AccountRecordSchema } from '@safe/proto/maid_manager';
import { recordsByName, type SqlExecutor } from '@safe/sql';
import './messages.js';
import type { MaidManagerState } from './state.js';

/**
 * One client's account as it is handed over on churn (proto safe.v1.maid_manager.AccountRecord):
 * vaults sorted by pmid, entries by key (hash of the data name).
 */
export type AccountRecord = Fields<AccountRecordMessage>;
export const accountRecordCodec = protoCodec(AccountRecordSchema);

/** The whole account of `client`, undefined when there is none; repeated fields sorted, so equal accounts encode equally. */
export async function readAccountRecord(tx: SqlExecutor, client: Uint8Array): Promise<AccountRecord | undefined> {
  const [row] = await tx.query<{ stored: number }>('SELECT stored FROM accounts WHERE client = $1', [client]);
  if (row === undefined) return undefined;
  const vaults = await tx.query<{ pmid: Uint8Array; offered: number }>('SELECT pmid, offered FROM vaults WHERE client = $1 ORDER BY pmid', [
    client,
  ]);
  const entries = await tx.query<{ key: Uint8Array; copies: number; cost: number }>(
    'SELECT key, copies, cost FROM entries WHERE client = $1 ORDER BY key',
    [client],
  );
  return { stored: row.stored, vaults, entries };
}

function checkRecord(nae: Name, key: Uint8Array, account: AccountRecord): void {
  if (nae.length !== NAME_BYTES) throw new InvalidNameError('an account belongs to a 64-byte client name');
  if (key.length !== 0) throw new InvalidNameError('a MaidManager record has no key: one account per client');
  for (const vault of account.vaults) if (vault.pmid.length !== NAME_BYTES) throw new InvalidNameError('a vault is a 64-byte PMID name');
  for (const entry of account.entries) {
    if (entry.key.length !== NAME_BYTES) throw new InvalidNameError('an entry key is a 64-byte hash');
    if (entry.copies < 1) throw new InvalidNameError('an entry has at least one copy');
  }
}

/**
 * MaidManager records for account transfer: NAE = the client's name, one record per client (empty
 * key), value = the account (stored; vaults with what they offered; entries with copies and cost).
 * Puts still in flight (`pending_puts`) stay with the members that saw them.
 */
export const maidManagerRecords: PersonaRecords<MaidManagerState> = {
  list(ctx) {
    return recordsByName(ctx.state.store.db, 'accounts', 'client');
  },

  async read(ctx, nae, key) {
    if (key.length !== 0) return undefined;
    const account = await readAccountRecord(ctx.state.store.db, nae);
    return account === undefined ? undefined : accountRecordCodec.encode(account);
  },

  async write(ctx, nae, key, value) {
    const account = accountRecordCodec.decode(value);
    checkRecord(nae, key, account);
    await ctx.state.store.db.transaction(async (tx) => {
      // The account's vaults and entries go with it (ON DELETE CASCADE); then the agreed value, whole.
      await tx.query('DELETE FROM accounts WHERE client = $1', [nae]);
      await tx.query('INSERT INTO accounts (client, stored) VALUES ($1, $2)', [nae, account.stored]);
      if (account.vaults.length > 0) {
        await tx.query('INSERT INTO vaults (client, pmid, offered) SELECT $1, * FROM unnest($2::bytea[], $3::int8[])', [
          nae,
          account.vaults.map((v) => v.pmid),
          account.vaults.map((v) => v.offered),
        ]);
      }
      if (account.entries.length > 0) {
        await tx.query('INSERT INTO entries (client, key, copies, cost) SELECT $1, * FROM unnest($2::bytea[], $3::int4[], $4::int8[])', [
          nae,
          account.entries.map((e) => e.key),
          account.entries.map((e) => e.copies),
          account.entries.map((e) => e.cost),
        ]);
      }
    });
  },

  async drop(ctx, nae, key) {
    if (key.length !== 0) return;
    await ctx.state.store.db.transaction(async (tx) => {
      await tx.query('DELETE FROM accounts WHERE client = $1', [nae]);
      await tx.query('DELETE FROM pending_puts WHERE client = $1', [nae]);
    });
  },
};
