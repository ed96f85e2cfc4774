import { randomBytes } from 'node:crypto';
import { ChunkCopy } from '@safe/chunks';
import { nameOf, toHex } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPmidManagerConfig } from './config.js';
import { rankReports } from './rank.js';
import { openPmidManagerState } from './state.js';

let host: PgliteHost;
let schemas = 0;
beforeAll(async () => {
  host = await openPglite();
});
afterAll(() => host.close());

async function stateWith(limit: number) {
  return openPmidManagerState(host.database(`pm_rank_${schemas++}`), { ...loadPmidManagerConfig({}), rankReports: limit });
}

/** A node that was given `stored + lost` bytes in 10-byte chunks and lost `lost` of them. */
async function account(state: Awaited<ReturnType<typeof stateWith>>, stored: number, lost: number) {
  const pmid = nameOf(randomBytes(32));
  for (let i = 0; i < (stored + lost) / 10; i++) {
    const chunk = nameOf(randomBytes(8));
    await state.store.recordStored(pmid, chunk, ChunkCopy.PRIMARY, 10);
    if (i < lost / 10) await state.store.removeChunk(pmid, chunk, ChunkCopy.PRIMARY, true);
  }
  return pmid;
}

describe('rank reports (SPEC.md 3.4 Ranking)', () => {
  it('is announced for the nodes that lost data, lowest first, to hundredths, at most SAFE_PM_RANK_REPORTS', async () => {
    const state = await stateWith(2);
    await account(state, 50, 0);
    const third = await account(state, 20, 10);
    const half = await account(state, 10, 10);
    await account(state, 60, 10);
    expect((await rankReports(state)).map((r) => [toHex(r.pmid), r.rank])).toEqual([
      [toHex(half), 0.5],
      [toHex(third), 0.66],
    ]);
  });

  it('is not announced at all with SAFE_PM_RANK_REPORTS=0', async () => {
    const state = await stateWith(0);
    await account(state, 0, 10);
    expect(await rankReports(state)).toEqual([]);
  });
});
