import { randomBytes } from 'node:crypto';
import { type HandlerContext, InvalidNameError, MalformedPayloadError, type Name, nameOf, type RecordRef } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountRecordCodec, maidManagerRecords as records } from './records.js';
import { type MaidManagerState, openMaidManagerState } from './state.js';

let host: PgliteHost;
let a: HandlerContext<MaidManagerState>;
let b: HandlerContext<MaidManagerState>;
const NO_KEY = new Uint8Array(0);
const ctx = (state: MaidManagerState) => ({ state }) as HandlerContext<MaidManagerState>;

beforeAll(async () => {
  host = await openPglite();
  a = ctx(await openMaidManagerState(host.database('mm_records_a')));
  b = ctx(await openMaidManagerState(host.database('mm_records_b')));
}, 60_000);
afterAll(() => host.close());

async function list(c: HandlerContext<MaidManagerState>): Promise<RecordRef[]> {
  const out: RecordRef[] = [];
  for await (const refs of records.list(c)) out.push(...refs);
  return out;
}

/** An account with two vaults and a few entries, built through the store's own operations. */
async function account(c: HandlerContext<MaidManagerState>): Promise<Name> {
  const store = c.state.store;
  const client = nameOf(randomBytes(32));
  await store.createAccount(client);
  for (const offered of [5000, 7000]) {
    const vault = nameOf(randomBytes(32));
    await store.registerVault(client, vault);
    await store.recordHealth(client, vault, offered);
  }
  for (const cost of [100, 200, 300]) await store.confirmPut(randomBytes(64), client, nameOf(randomBytes(8)), 0b11, 0b11, cost);
  return client;
}

describe('MaidManager records (account transfer)', () => {
  it('lists every account, and a written copy reads back byte-identical with the same account', async () => {
    const client = await account(a);
    expect((await list(a)).map((r) => Buffer.from(r.nae).toString('hex'))).toContain(Buffer.from(client).toString('hex'));
    const value = (await records.read(a, client, NO_KEY)) as Uint8Array;
    const decoded = accountRecordCodec.decode(value);
    expect(decoded.stored).toBe(600);
    expect(decoded.vaults).toHaveLength(2);
    expect(decoded.entries).toHaveLength(3);
    await records.write(b, client, NO_KEY, value);
    expect(await records.read(b, client, NO_KEY)).toEqual(value);
    expect(await b.state.store.account(client)).toEqual(await a.state.store.account(client));
    // Idempotent.
    await records.write(b, client, NO_KEY, value);
    expect(await records.read(b, client, NO_KEY)).toEqual(value);
  });

  it('write replaces the whole account; drop removes it', async () => {
    const client = await account(a);
    await records.write(b, client, NO_KEY, (await records.read(a, client, NO_KEY)) as Uint8Array);
    const smaller = accountRecordCodec.encode({ stored: 7, vaults: [], entries: [{ key: nameOf(randomBytes(4)), copies: 1, cost: 7 }] });
    await records.write(b, client, NO_KEY, smaller);
    expect(await b.state.store.account(client)).toEqual({ stored: 7, available: 0, vaults: [], chunks: 1 });
    await records.drop(b, client, NO_KEY);
    expect(await records.read(b, client, NO_KEY)).toBeUndefined();
    expect(await b.state.store.exists(client)).toBe(false);
  });

  it('refuses a key, a malformed value or a bad entry, and leaves the account as it was', async () => {
    const client = await account(a);
    const value = (await records.read(a, client, NO_KEY)) as Uint8Array;
    await records.write(b, client, NO_KEY, value);
    await expect(records.write(b, client, Uint8Array.of(1), value)).rejects.toBeInstanceOf(InvalidNameError);
    await expect(records.write(b, client, NO_KEY, Uint8Array.of(0xff, 0xff))).rejects.toBeInstanceOf(MalformedPayloadError);
    const bad = accountRecordCodec.encode({ stored: 1, vaults: [], entries: [{ key: Uint8Array.of(1), copies: 1, cost: 1 }] });
    await expect(records.write(b, client, NO_KEY, bad)).rejects.toBeInstanceOf(InvalidNameError);
    // A duplicate entry fails inside the transaction: nothing of it stays.
    const key = nameOf(randomBytes(4));
    const duplicate = accountRecordCodec.encode({
      stored: 1,
      vaults: [],
      entries: [
        { key, copies: 1, cost: 1 },
        { key, copies: 1, cost: 1 },
      ],
    });
    await expect(records.write(b, client, NO_KEY, duplicate)).rejects.toThrow();
    expect(await records.read(b, client, NO_KEY)).toEqual(value);
  });
});
