import { randomBytes } from 'node:crypto';
import { ChunkCopy } from '@safe/chunks';
import { type HandlerContext, type Name, nameOf, type RecordRef, toHex } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pmidAccountRecordCodec, pmidManagerRecords as records } from './records.js';
import { openPmidManagerState, type PmidManagerState } from './state.js';

let host: PgliteHost;
let a: HandlerContext<PmidManagerState>;
let b: HandlerContext<PmidManagerState>;
const NO_KEY = new Uint8Array(0);
const ctx = (state: PmidManagerState) => ({ state }) as HandlerContext<PmidManagerState>;

beforeAll(async () => {
  host = await openPglite();
  a = ctx(await openPmidManagerState(host.database('pm_records_a')));
  b = ctx(await openPmidManagerState(host.database('pm_records_b')));
}, 60_000);
afterAll(() => host.close());

async function list(c: HandlerContext<PmidManagerState>): Promise<RecordRef[]> {
  const out: RecordRef[] = [];
  for await (const refs of records.list(c)) out.push(...refs);
  return out;
}

async function account(c: HandlerContext<PmidManagerState>): Promise<Name> {
  const store = c.state.store;
  const pmid = nameOf(randomBytes(32));
  await store.recordOffer(pmid, 1_000_000);
  const names = Array.from({ length: 4 }, () => nameOf(randomBytes(16)));
  for (const [i, name] of names.entries())
    await store.recordStored(pmid, name, i % 2 ? ChunkCopy.BACKUP : ChunkCopy.PRIMARY, 100 * (i + 1));
  await store.removeChunk(pmid, names[0] as Name, ChunkCopy.PRIMARY, true);
  for (const client of Array.from({ length: 3 }, () => nameOf(randomBytes(8)))) await store.addClient(pmid, client);
  return pmid;
}

describe('PmidManager records (account transfer)', () => {
  it('hands a PmidNode account over whole: totals and sorted chunks, byte-identical', async () => {
    const pmid = await account(a);
    expect((await list(a)).map((r) => toHex(r.nae))).toContain(toHex(pmid));
    const value = (await records.read(a, pmid, NO_KEY)) as Uint8Array;
    const decoded = pmidAccountRecordCodec.decode(value);
    expect(decoded).toMatchObject({ offered: 1_000_000, stored: 900, lost: 100 });
    expect(decoded.chunks.map((c) => toHex(c.name))).toEqual(decoded.chunks.map((c) => toHex(c.name)).sort());
    // The accounts sharing the vault's offer go with it, sorted.
    expect(decoded.clients.map(toHex)).toEqual((await a.state.store.clients(pmid)).map(toHex));
    expect(decoded.clients).toHaveLength(3);
    await records.write(b, pmid, NO_KEY, value);
    expect(await records.read(b, pmid, NO_KEY)).toEqual(value);
    expect(await b.state.store.account(pmid)).toEqual(await a.state.store.account(pmid));
    expect((await b.state.store.clients(pmid)).map(toHex)).toEqual((await a.state.store.clients(pmid)).map(toHex));
    await records.write(b, pmid, NO_KEY, pmidAccountRecordCodec.encode({ offered: 1, stored: 0, lost: 0, chunks: [], clients: [] }));
    expect(pmidAccountRecordCodec.decode((await records.read(b, pmid, NO_KEY)) as Uint8Array)).toMatchObject({ chunks: [], clients: [] });
    await expect(
      records.write(
        b,
        pmid,
        NO_KEY,
        pmidAccountRecordCodec.encode({ offered: 1, stored: 0, lost: 0, chunks: [], clients: [new Uint8Array(3)] }),
      ),
    ).rejects.toThrow(/a client is a 64-byte name/);
    await records.drop(b, pmid, NO_KEY);
    expect(await records.read(b, pmid, NO_KEY)).toBeUndefined();
  });
});
