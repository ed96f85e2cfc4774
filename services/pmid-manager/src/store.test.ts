import { randomBytes } from 'node:crypto';
import { ChunkCopy } from '@safe/chunks';
import { nameOf } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPmidManagerState } from './state.js';
import type { PmidManagerStore } from './store.js';

let host: PgliteHost;
let store: PmidManagerStore;

beforeAll(async () => {
  host = await openPglite();
  store = (await openPmidManagerState(host.database('pm_store_test'))).store;
});
afterAll(() => host.close());

describe('a PmidNode account', () => {
  it('adds stored chunks once, subtracts deletes, and counts losses as lost', async () => {
    const pmid = nameOf(randomBytes(32));
    const [a, b] = [nameOf(randomBytes(8)), nameOf(randomBytes(8))];
    await store.recordOffer(pmid, 1000);
    expect(await store.recordStored(pmid, a, ChunkCopy.PRIMARY, 100)).toBe(true);
    expect(await store.recordStored(pmid, a, ChunkCopy.PRIMARY, 100)).toBe(false);
    expect(await store.recordStored(pmid, b, ChunkCopy.BACKUP, 40)).toBe(true);
    expect(await store.account(pmid)).toEqual({ offered: 1000, stored: 140, lost: 0 });

    expect(await store.removeChunk(pmid, a, ChunkCopy.PRIMARY, false)).toBe(true);
    expect(await store.account(pmid)).toEqual({ offered: 1000, stored: 40, lost: 0 });
    expect(await store.removeChunk(pmid, b, ChunkCopy.BACKUP, true)).toBe(true);
    expect(await store.account(pmid)).toEqual({ offered: 1000, stored: 0, lost: 40 });
    // A chunk the node does not hold changes nothing.
    expect(await store.removeChunk(pmid, b, ChunkCopy.BACKUP, true)).toBe(false);
    expect(await store.account(pmid)).toEqual({ offered: 1000, stored: 0, lost: 40 });
  });
});
