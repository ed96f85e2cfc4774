import { migrate, openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPONENTIAL_START } from './farming-rate.js';
import { migrations } from './migrations.js';
import { DataManagerStore } from './store.js';

let host: PgliteHost;

beforeAll(async () => {
  host = await openPglite();
});
afterAll(() => host.close());

async function freshStore(schema: string): Promise<DataManagerStore> {
  const db = host.database(schema);
  await migrate(db, migrations);
  return new DataManagerStore(db);
}

describe("the replica's farming rate in SQL", () => {
  it('starts at the policy value, moves with each sacrificial outcome, and is read back after a restart', async () => {
    const store = await freshStore('dm_farming_linear');
    expect(await store.farmingRate('linear')).toEqual({ rate: 1, failedOutstanding: 0 });
    for (const event of ['stored', 'stored', 'stored', 'failed'] as const) await store.recordSacrificial('linear', event);
    expect(store.lastFarmingRate?.rate).toBe(3);
    // A new store object on the same schema: what a restarted process sees.
    const again = new DataManagerStore(store.db);
    expect(again.lastFarmingRate).toBeUndefined();
    expect(await again.farmingRate('linear')).toEqual({ rate: 3, failedOutstanding: 0 });
  });

  it('keeps the exponential policy exact in a 64-bit column', async () => {
    const store = await freshStore('dm_farming_exponential');
    expect((await store.farmingRate('exponential')).rate).toBe(EXPONENTIAL_START);
    await store.recordSacrificial('exponential', 'failed');
    await store.recordSacrificial('exponential', 'deleted');
    expect(await store.farmingRate('exponential')).toEqual({ rate: EXPONENTIAL_START / 4, failedOutstanding: 2 });
    await store.recordSacrificial('exponential', 'stored');
    await store.recordSacrificial('exponential', 'stored');
    expect(await store.farmingRate('exponential')).toEqual({ rate: EXPONENTIAL_START / 2, failedOutstanding: 0 });
  });
});
