import { randomBytes } from 'node:crypto';
import { ChunkCopy } from '@safe/chunks';
import { type Name, nameOf, toHex } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataManagerConfig } from './config.js';
import { openDataManagerState } from './state.js';
import type { DataManagerStore } from './store.js';

let host: PgliteHost;
let store: DataManagerStore;

beforeAll(async () => {
  host = await openPglite();
  store = (await openDataManagerState(host.database('dm_store_integrity_test'), loadDataManagerConfig({}))).store;
});
afterAll(() => host.close());

describe('the page of copies an integrity check takes', () => {
  it('takes at most `limit` copies from the start name on in name order, wrapping round to the lowest names', async () => {
    const names = Array.from({ length: 12 }, (_, i) => nameOf(randomBytes(8 + i)));
    for (const name of names) await store.createRecord(name, ChunkCopy.PRIMARY, 1, [nameOf(randomBytes(4))], 8, 1);
    const sorted = names.map(toHex).sort();
    const start = Buffer.from(sorted[9] as string, 'hex') as unknown as Name;

    const page = (await store.copiesFrom(start, 5)).map((c) => toHex(c.name));
    expect(page).toEqual([...sorted.slice(9), ...sorted.slice(0, 2)]);
    expect((await store.copiesFrom(start, 2)).map((c) => toHex(c.name))).toEqual(sorted.slice(9, 11));
    // A page larger than the table holds every copy once.
    expect((await store.copiesFrom(start, 100)).map((c) => toHex(c.name)).sort()).toEqual(sorted);
  });
});
