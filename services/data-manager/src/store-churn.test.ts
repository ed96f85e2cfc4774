import { randomBytes } from 'node:crypto';
import { ChunkCopy, copyName } from '@safe/chunks';
import { type Name, nameOf } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataManagerConfig } from './config.js';
import { openDataManagerState } from './state.js';
import { COPIES_HELD_BY_SQL, type DataManagerStore, PENDING_HOLDERS_SQL } from './store.js';

let host: PgliteHost;
let store: DataManagerStore;
const pmid = (): Name => nameOf(randomBytes(32));

beforeAll(async () => {
  host = await openPglite();
  store = (await openDataManagerState(host.database('dm_store_churn_test'), loadDataManagerConfig({}))).store;
});
afterAll(() => host.close());

async function holderList(name: Name, copy: ChunkCopy): Promise<Name[]> {
  const record = await store.record(name, copy);
  return (await store.holders(record?.id ?? -1)).map((h) => h.pmid);
}

describe('the churn lookups of the chunk → holders table', () => {
  it('a departed holder drops to the bottom of every list it is on, a returning one goes to the top', async () => {
    const [a, b, c, d] = [pmid(), pmid(), pmid(), pmid()] as [Name, Name, Name, Name];
    const x = nameOf(randomBytes(10));
    const y = nameOf(randomBytes(11));
    const z = nameOf(randomBytes(12));
    await store.createRecord(x, ChunkCopy.PRIMARY, 10, [a, b, c], 8, 1); // list: c b a
    await store.createRecord(y, ChunkCopy.BACKUP, 11, [b, d], 8, 1); // list: d b
    await store.createRecord(z, ChunkCopy.PRIMARY, 12, [c, d], 8, 1); // b holds nothing here

    const held = await store.moveHolderToBottom(b);
    expect(held.map((h) => `${copyName(h.copy)}:${h.size}`).sort()).toEqual(['BACKUP:11', 'PRIMARY:10']);
    expect(await holderList(x, ChunkCopy.PRIMARY)).toEqual([c, a, b]);
    expect(await holderList(y, ChunkCopy.BACKUP)).toEqual([d, b]);
    expect(await holderList(z, ChunkCopy.PRIMARY)).toEqual([d, c]);
    // Moving it again changes nothing (it is alone at the bottom already).
    await store.moveHolderToBottom(b);
    expect(await holderList(x, ChunkCopy.PRIMARY)).toEqual([c, a, b]);

    // Two gone: the later one below the earlier one; the held copies are found again by name alone.
    await store.moveHolderToBottom(c);
    expect(await holderList(x, ChunkCopy.PRIMARY)).toEqual([a, b, c]);
    expect((await store.copiesHeldBy(c)).map((h) => h.size).sort()).toEqual([10, 12]);

    // b comes back: top of both its lists; a node that holds nothing is a no-op.
    expect((await store.moveHolderToTop(b)).length).toBe(2);
    expect(await holderList(x, ChunkCopy.PRIMARY)).toEqual([b, a, c]);
    expect(await holderList(y, ChunkCopy.BACKUP)).toEqual([b, d]);
    expect(await store.moveHolderToTop(pmid())).toEqual([]);
    expect(await store.copiesHeldBy(pmid())).toEqual([]);
  });

  it("finds a PmidNode's copies through holders_by_pmid, not by scanning the chunks table", async () => {
    const db = host.database('dm_store_churn_plan');
    await openDataManagerState(db, loadDataManagerConfig({}));
    // 20 000 copies on 2 000 PmidNodes, two holders each: one PmidNode holds about 20 of them.
    await db.query(`INSERT INTO pmid_nodes (name) SELECT decode(md5('p' || i), 'hex') FROM generate_series(1, 2000) i`);
    await db.query(
      `INSERT INTO chunks (name, copy, size, subscribers) SELECT decode(md5('c' || i), 'hex'), 0, i, 1 FROM generate_series(1, 20000) i`,
    );
    await db.query(`INSERT INTO holders (chunk, pmid, state, position)
      SELECT c.id, p.id, 1, k FROM chunks c, generate_series(0, 1) k, pmid_nodes p WHERE p.id = 1 + (c.id * 7 + k * 13) % 2000`);
    await db.query('ANALYZE');
    const [probe] = await db.query<{ id: number; name: Uint8Array }>(
      `SELECT id, name FROM pmid_nodes WHERE name = decode(md5('p5'), 'hex')`,
    );
    const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${COPIES_HELD_BY_SQL}`, [probe?.name]))
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    expect(plan).toContain('holders_by_pmid');
    expect(plan, plan).not.toMatch(/Seq Scan on (chunks|holders)/);
    const held = await db.query(COPIES_HELD_BY_SQL, [probe?.name]);
    const [count] = await db.query<{ n: number }>('SELECT count(*)::int4 AS n FROM holders WHERE pmid = $1', [probe?.id]);
    expect(held.length).toBe(count?.n);
    expect(held.length).toBeGreaterThan(0);

    // The stalled-store check: a handful of pending holders among 40 000 stored ones, read through holders_pending.
    await db.query('UPDATE holders SET state = 0 WHERE chunk % 5000 = 0 AND position = 0');
    await db.query('ANALYZE');
    const pendingPlan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${PENDING_HOLDERS_SQL}`, [128]))
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    expect(pendingPlan).toContain('holders_pending');
    expect(pendingPlan, pendingPlan).not.toMatch(/Seq Scan on (chunks|holders)/);
    expect(await db.query(PENDING_HOLDERS_SQL, [128])).toHaveLength(4);
  });

  it('lists the holders still pending, page by page, until they are confirmed or fail', async () => {
    const [a, b, c] = [pmid(), pmid(), pmid()] as [Name, Name, Name];
    const x = nameOf(randomBytes(13));
    await store.createRecord(x, ChunkCopy.PRIMARY, 13, [a, b], 8, 1);
    await store.markHolder(x, ChunkCopy.PRIMARY, 13, a, 'stored', 8);
    const mine = async () => (await store.pendingHolders(1000)).filter((h) => Buffer.from(h.name).equals(x));
    expect((await mine()).map((h) => [h.copy, h.size, Buffer.from(h.pmid).equals(b)])).toEqual([[ChunkCopy.PRIMARY, 13, true]]);
    await store.addHolder(x, ChunkCopy.PRIMARY, c, 8);
    expect(await mine()).toHaveLength(2);
    await store.markHolder(x, ChunkCopy.PRIMARY, 13, b, 'failed', 8);
    await store.markHolder(x, ChunkCopy.PRIMARY, 13, c, 'stored', 8);
    expect(await mine()).toEqual([]);
    expect(await store.pendingHolders(0)).toEqual([]);
  });
});
