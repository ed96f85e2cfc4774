import { randomBytes } from 'node:crypto';
import { nameOf } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMaidManagerState } from './state.js';
import type { MaidManagerStore } from './store.js';

let host: PgliteHost;
let store: MaidManagerStore;
const BOTH = 0b11;

beforeAll(async () => {
  host = await openPglite();
  store = (await openMaidManagerState(host.database('mm_store_test'))).store;
});
afterAll(() => host.close());

async function newClient(offered: number) {
  const client = nameOf(randomBytes(32));
  const vault = nameOf(randomBytes(32));
  await store.createAccount(client);
  await store.registerVault(client, vault);
  await store.recordHealth(client, vault, offered);
  return client;
}

describe('a client account', () => {
  it('charges a Put once, when both must-store copy groups confirmed, however often they repeat', async () => {
    const client = await newClient(10_000);
    const request = randomBytes(64);
    const name = nameOf(randomBytes(16));
    expect(await store.confirmPut(request, client, name, 0b01, BOTH, 300)).toBe(false);
    expect(await store.confirmPut(request, client, name, 0b01, BOTH, 300)).toBe(false);
    expect(await store.confirmPut(request, client, name, 0b10, BOTH, 300)).toBe(true);
    expect(await store.confirmPut(request, client, name, 0b10, BOTH, 300)).toBe(false);
    expect(await store.account(client)).toMatchObject({ stored: 300, available: 9700, chunks: 1 });
  });

  it('charges nothing for a failed Put, and a failure after the charge changes nothing', async () => {
    const client = await newClient(10_000);
    const failed = randomBytes(64);
    expect(await store.failPut(failed, client)).toBe(true);
    expect(await store.confirmPut(failed, client, nameOf(randomBytes(4)), BOTH, BOTH, 50)).toBe(false);
    expect(await store.failPut(failed, client)).toBe(false);
    expect((await store.account(client))?.stored).toBe(0);
  });

  it('on Delete takes one copy off and reduces the cost by the average cost of that key', async () => {
    const client = await newClient(10_000);
    const name = nameOf(randomBytes(16));
    await store.confirmPut(randomBytes(64), client, name, BOTH, BOTH, 100);
    await store.confirmPut(randomBytes(64), client, name, BOTH, BOTH, 200);
    expect((await store.account(client))?.stored).toBe(300);
    expect(await store.deleteEntry(client, name)).toBe(true);
    expect((await store.account(client))?.stored).toBe(150);
    expect(await store.deleteEntry(client, name)).toBe(true);
    expect(await store.account(client)).toMatchObject({ stored: 0, chunks: 0 });
    expect(await store.deleteEntry(client, name)).toBe(false);
  });

  it('keeps only hash(name) as the entry key, never the data name', async () => {
    const client = await newClient(1000);
    const name = nameOf(randomBytes(16));
    await store.confirmPut(randomBytes(64), client, name, BOTH, BOTH, 10);
    const keys = await store.db.query<{ key: Uint8Array }>('SELECT key FROM entries WHERE client = $1', [client]);
    expect(keys.map((k) => Buffer.from(k.key).toString('hex'))).toEqual([Buffer.from(nameOf(name)).toString('hex')]);
  });

  it('forgets finished Puts once late confirmations can no longer arrive, and keeps those in flight', async () => {
    const client = await newClient(10_000);
    const finished = randomBytes(64);
    const inFlight = randomBytes(64);
    await store.confirmPut(finished, client, nameOf(randomBytes(4)), BOTH, BOTH, 10);
    await store.confirmPut(inFlight, client, nameOf(randomBytes(4)), 0b01, BOTH, 10);
    await store.db.query(`UPDATE pending_puts SET finished_at = now() - interval '1 hour' WHERE request = $1`, [finished]);
    expect(await store.pruneFinishedPuts(60_000)).toBe(1);
    const left = await store.db.query<{ request: Uint8Array }>('SELECT request FROM pending_puts WHERE request = ANY($1::bytea[])', [
      [finished, inFlight],
    ]);
    expect(left.map((r) => Buffer.from(r.request).toString('hex'))).toEqual([inFlight.toString('hex')]);
  });

  it('a health answer applied before the registration it answers still records what the vault offers', async () => {
    const client = nameOf(randomBytes(32));
    const vault = nameOf(randomBytes(32));
    await store.createAccount(client);
    await store.recordHealth(client, vault, 4096);
    await store.registerVault(client, vault);
    expect(await store.account(client)).toMatchObject({ available: 4096, vaults: [vault] });
    // No account, no vault.
    const stranger = nameOf(randomBytes(32));
    await store.recordHealth(stranger, vault, 4096);
    expect(await store.account(stranger)).toBeUndefined();
  });
});
