import { randomBytes } from 'node:crypto';
import { ChunkCopy } from '@safe/chunks';
import { type Name, nameOf } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataManagerConfig } from './config.js';
import { openDataManagerState } from './state.js';
import type { DataManagerStore, HolderState } from './store.js';

let host: PgliteHost;
let store: DataManagerStore;
const pmid = (): Name => nameOf(randomBytes(32));

beforeAll(async () => {
  host = await openPglite();
  store = (await openDataManagerState(host.database('dm_store_test'), loadDataManagerConfig({}))).store;
});
afterAll(() => host.close());

describe('the chunk → holders table', () => {
  it('lists holders newest first and trims the one below the maximum', async () => {
    const name = nameOf(randomBytes(100));
    const first = [pmid(), pmid()];
    await store.createRecord(name, ChunkCopy.PRIMARY, 100, first, 8, 1);
    const later = Array.from({ length: 7 }, pmid);
    const trimmed: Name[][] = [];
    for (const node of later) trimmed.push(await store.addHolder(name, ChunkCopy.PRIMARY, node, 8));

    // Eight holders fit; the ninth pushes the bottom one (the oldest) off the list.
    expect(trimmed.slice(0, 6).every((t) => t.length === 0)).toBe(true);
    expect(trimmed[6]).toEqual([first[0]]);
    const record = await store.record(name, ChunkCopy.PRIMARY);
    const holders = (await store.holders(record?.id ?? -1)).map((h) => h.pmid);
    expect(holders).toEqual([...later].reverse().concat([first[1] as Name]));
  });

  it('a PmidNode first seen in a transaction that rolled back is no known row: a later record lists it', async () => {
    const name = nameOf(randomBytes(100));
    const node = pmid();
    // The holder's NOT NULL state fails the insert after its PmidNode's row was made, in the same transaction.
    await expect(store.markHolder(name, ChunkCopy.PRIMARY, 100, node, 'unknown' as HolderState, 8)).rejects.toThrow();
    await store.createRecord(name, ChunkCopy.PRIMARY, 100, [node], 8, 1);
    await store.markHolder(name, ChunkCopy.PRIMARY, 100, node, 'stored', 8);
    const record = await store.record(name, ChunkCopy.PRIMARY);
    expect(await store.holders(record?.id ?? -1)).toEqual([{ pmid: node, state: 'stored' }]);
  });

  it("two concurrent Puts' CreateRecords make one record whatever their order: two subscribers, the same creator tag", async () => {
    const holders = [pmid(), pmid()];
    const ends = [];
    for (const tags of [
      [9, -4],
      [-4, 9],
    ]) {
      const name = nameOf(randomBytes(40));
      for (const tag of tags) await store.createRecord(name, ChunkCopy.PRIMARY, 10, holders, 8, tag as number);
      const record = await store.record(name, ChunkCopy.PRIMARY);
      ends.push([record?.subscribers, record?.createdBy]);
    }
    expect(ends).toEqual([
      [2, -4],
      [2, -4],
    ]);
  });

  it('counts subscribers and returns every holder when the last one deletes', async () => {
    const name = nameOf(randomBytes(50));
    const holders = [pmid(), pmid()];
    await store.createRecord(name, ChunkCopy.BACKUP, 50, holders, 8, 1);
    expect(await store.addSubscriber(name, ChunkCopy.BACKUP)).toEqual({ size: 50, stored: 0 });
    expect(await store.removeSubscriber(name, ChunkCopy.BACKUP, 0)).toBeUndefined();
    expect(new Set((await store.removeSubscriber(name, ChunkCopy.BACKUP, 0))?.map((n) => Buffer.from(n).toString('hex')))).toEqual(
      new Set(holders.map((n) => Buffer.from(n).toString('hex'))),
    );
    expect(await store.record(name, ChunkCopy.BACKUP)).toBeUndefined();
  });

  it('reports the stored count and trims as the table has them, whatever order holders are marked in', async () => {
    const nodes = Array.from({ length: 5 }, pmid);
    const states = ['pending', 'stored', 'failed'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.constantFrom(...states)), { minLength: 1, maxLength: 12 }),
        async (marks) => {
          const name = nameOf(randomBytes(24));
          for (const [index, state] of marks) {
            const node = nodes[index] as Name;
            const record = await store.record(name, ChunkCopy.PRIMARY);
            const before = record === undefined ? [] : await store.holders(record.id);
            const update = await store.markHolder(name, ChunkCopy.PRIMARY, 10, node, state, 3);
            const after = await store.holders((await store.record(name, ChunkCopy.PRIMARY))?.id ?? -1);
            expect(update.stored).toBe(after.filter((h) => h.state === 'stored').length);
            expect(update.changed).toBe(before.find((h) => Buffer.from(h.pmid).equals(node))?.state !== state);
            expect(after.length).toBeLessThanOrEqual(3);
            // A holder added below the last place is trimmed at once.
            const listed = before.some((h) => Buffer.from(h.pmid).equals(node))
              ? before.map((h) => h.pmid)
              : [...before.map((h) => h.pmid), node];
            const gone = listed.filter((p) => !after.some((a) => Buffer.from(a.pmid).equals(p)));
            expect(new Set(update.trimmed.map((t) => Buffer.from(t).toString('hex')))).toEqual(
              new Set(gone.map((t) => Buffer.from(t).toString('hex'))),
            );
          }
        },
      ),
      { numRuns: 40, seed: 15 },
    );
  });

  it('marks a holder stored once and counts stored holders', async () => {
    const name = nameOf(randomBytes(10));
    const [a, b] = [pmid(), pmid()];
    await store.createRecord(name, ChunkCopy.PRIMARY, 10, [a, b], 8, 1);
    expect(await store.markHolder(name, ChunkCopy.PRIMARY, 10, a, 'stored', 8)).toEqual({ stored: 1, changed: true, trimmed: [] });
    expect(await store.markHolder(name, ChunkCopy.PRIMARY, 10, a, 'stored', 8)).toEqual({ stored: 1, changed: false, trimmed: [] });
    expect(await store.markHolder(name, ChunkCopy.PRIMARY, 10, b, 'failed', 8)).toEqual({ stored: 1, changed: true, trimmed: [] });
  });

  it('lists holders alike whether their answers came before or after the agreed record (SPEC.md 5a)', async () => {
    const [a, b] = [pmid(), pmid()];
    const first = nameOf(randomBytes(11));
    await store.createRecord(first, ChunkCopy.PRIMARY, 11, [a, b], 8, 5);
    await store.markHolder(first, ChunkCopy.PRIMARY, 11, b, 'stored', 8);
    await store.markHolder(first, ChunkCopy.PRIMARY, 11, a, 'stored', 8);
    const overtaken = nameOf(randomBytes(12));
    await store.markHolder(overtaken, ChunkCopy.PRIMARY, 12, b, 'stored', 8);
    await store.markHolder(overtaken, ChunkCopy.PRIMARY, 12, a, 'stored', 8);
    await store.createRecord(overtaken, ChunkCopy.PRIMARY, 12, [a, b], 8, 5);
    const listOf = async (name: Uint8Array) =>
      (await store.holders((await store.record(name, ChunkCopy.PRIMARY))?.id ?? -1)).map(
        (h) => `${Buffer.from(h.pmid).toString('hex')}:${h.state}`,
      );
    expect(await listOf(overtaken)).toEqual(await listOf(first));
  });

  it('keeps holder rows small: integer ids, the 64-byte names stored once', async () => {
    const [row] = await store.db.query<{ bytes: number }>(
      `SELECT (pg_column_size(chunk) + pg_column_size(pmid) + pg_column_size(state) + pg_column_size(position))::int4 AS bytes
       FROM holders LIMIT 1`,
    );
    // Two int4 ids, an int2 state and an int4 position: 14 bytes of data, against 128 for two names.
    expect(row?.bytes).toBe(14);
  });
});
