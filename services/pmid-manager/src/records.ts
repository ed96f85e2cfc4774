import { CHUNK_COPIES, ChunkCopy, copyIndex, copyName } from '@safe/chunks';
import { type Fields, InvalidNameError, NAME_BYTES, type Name, type PersonaRecords, protoCodec, toHex } from '@safe/core';
import { type PmidAccountRecord as PmidAccountRecordMessage, PmidAccountRecordSchema } from '@safe/proto/pmid_manager';
import { recordsByName, type SqlExecutor } from '@safe/sql';
import './messages.js';
import type { PmidManagerState } from './state.js';

/**
 * One PmidNode's account as it is handed over on churn (proto safe.v1.pmid_manager.PmidAccountRecord):
 * chunks sorted by (name, copy), the client accounts sharing the vault's offer sorted.
 */
export type PmidAccountRecord = Fields<PmidAccountRecordMessage>;
export const pmidAccountRecordCodec = protoCodec(PmidAccountRecordSchema);

const INT4_MAX = 2 ** 31 - 1;

/** The account of `pmid` with its chunks, undefined when there is none. */
export async function readPmidAccountRecord(tx: SqlExecutor, pmid: Uint8Array): Promise<PmidAccountRecord | undefined> {
  const [row] = await tx.query<{ offered: number; stored: number; lost: number }>(
    'SELECT offered, stored, lost FROM pmid_accounts WHERE pmid = $1',
    [pmid],
  );
  if (row === undefined) return undefined;
  const chunks = await tx.query<{ name: Uint8Array; copy: number; size: number }>(
    'SELECT name, copy, size FROM pmid_chunks WHERE pmid = $1 ORDER BY name, copy',
    [pmid],
  );
  const clients = await tx.query<{ client: Uint8Array }>('SELECT client FROM pmid_clients WHERE pmid = $1 ORDER BY client', [pmid]);
  return {
    ...row,
    chunks: chunks.map((c) => ({ name: c.name, copy: CHUNK_COPIES[c.copy] ?? ChunkCopy.PRIMARY, size: c.size })),
    clients: clients.map((c) => c.client),
  };
}

function checkRecord(nae: Name, key: Uint8Array, account: PmidAccountRecord): void {
  if (nae.length !== NAME_BYTES) throw new InvalidNameError('a PmidNode account belongs to a 64-byte name');
  if (key.length !== 0) throw new InvalidNameError('a PmidManager record has no key: one account per PmidNode');
  const seen = new Set<string>();
  for (const chunk of account.chunks) {
    if (chunk.name.length !== NAME_BYTES) throw new InvalidNameError('a chunk name is 64 bytes');
    if (chunk.size > INT4_MAX) throw new InvalidNameError('chunk size out of range');
    const id = `${toHex(chunk.name)}:${copyName(chunk.copy)}`;
    if (seen.has(id)) throw new InvalidNameError('a chunk is listed twice');
    seen.add(id);
  }
  for (const client of account.clients) if (client.length !== NAME_BYTES) throw new InvalidNameError('a client is a 64-byte name');
}

/**
 * PmidManager records for account transfer: NAE = the PmidNode's name, one record per PmidNode
 * (empty key), value = offered, stored and lost totals and the chunks it holds.
 */
export const pmidManagerRecords: PersonaRecords<PmidManagerState> = {
  list(ctx) {
    return recordsByName(ctx.state.store.db, 'pmid_accounts', 'pmid');
  },

  async read(ctx, nae, key) {
    if (key.length !== 0) return undefined;
    const account = await readPmidAccountRecord(ctx.state.store.db, nae);
    return account === undefined ? undefined : pmidAccountRecordCodec.encode(account);
  },

  async write(ctx, nae, key, value) {
    const account = pmidAccountRecordCodec.decode(value);
    checkRecord(nae, key, account);
    await ctx.state.store.db.transaction(async (tx) => {
      await tx.query('DELETE FROM pmid_chunks WHERE pmid = $1', [nae]);
      await tx.query('DELETE FROM pmid_clients WHERE pmid = $1', [nae]);
      await tx.query('DELETE FROM pmid_accounts WHERE pmid = $1', [nae]);
      await tx.query('INSERT INTO pmid_clients (pmid, client) SELECT $1, unnest($2::bytea[]) ON CONFLICT DO NOTHING', [
        nae,
        account.clients,
      ]);
      await tx.query('INSERT INTO pmid_accounts (pmid, offered, stored, lost) VALUES ($1, $2, $3, $4)', [
        nae,
        account.offered,
        account.stored,
        account.lost,
      ]);
      if (account.chunks.length === 0) return;
      await tx.query('INSERT INTO pmid_chunks (pmid, name, copy, size) SELECT $1, * FROM unnest($2::bytea[], $3::int2[], $4::int4[])', [
        nae,
        account.chunks.map((c) => c.name),
        account.chunks.map((c) => copyIndex(c.copy)),
        account.chunks.map((c) => c.size),
      ]);
    });
  },

  async drop(ctx, nae, key) {
    if (key.length !== 0) return;
    await ctx.state.store.db.transaction(async (tx) => {
      await tx.query('DELETE FROM pmid_chunks WHERE pmid = $1', [nae]);
      await tx.query('DELETE FROM pmid_clients WHERE pmid = $1', [nae]);
      await tx.query('DELETE FROM pmid_accounts WHERE pmid = $1', [nae]);
    });
  },
};
