import { randomBytes } from 'node:crypto';
import { ChunkCopy, copyGroupName } from '@safe/chunks';
import { type HandlerContext, InvalidNameError, type Name, nameOf, type RecordRef, RoutingTable, toHex } from '@safe/core';
import { HolderState } from '@safe/proto/data_manager';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataManagerConfig } from './config.js';
import { chunkRecordKey, chunkRecordValueCodec, dataManagerRecords as records } from './records.js';
import { type DataManagerState, openDataManagerState } from './state.js';

let host: PgliteHost;
let a: HandlerContext<DataManagerState>;
let b: HandlerContext<DataManagerState>;
/** PmidNodes on line, as the replica's routing view has them. */
const online: Name[] = [];
const ctx = (state: DataManagerState) =>
  ({
    state,
    now: () => 5_000,
    routing: () => new RoutingTable(online.map((name) => ({ persona: 'pmid-node' as const, name, publicKey: new Uint8Array(32) }))),
  }) as unknown as HandlerContext<DataManagerState>;
/** A PmidNode on line. */
const pmid = (): Name => {
  const name = nameOf(randomBytes(32));
  online.push(name);
  return name;
};

beforeAll(async () => {
  host = await openPglite();
  a = ctx(await openDataManagerState(host.database('dm_records_a'), loadDataManagerConfig({})));
  b = ctx(await openDataManagerState(host.database('dm_records_b'), loadDataManagerConfig({})));
}, 60_000);
afterAll(() => host.close());

async function list(c: HandlerContext<DataManagerState>): Promise<RecordRef[]> {
  const out: RecordRef[] = [];
  for await (const refs of records.list(c)) out.push(...refs);
  return out;
}

describe('DataManager records (account transfer)', () => {
  it('one record per chunk copy at its copy group, holders in list order with state, byte-identical when written elsewhere', async () => {
    const name = nameOf(randomBytes(100));
    const [h1, h2, h3] = [pmid(), pmid(), pmid()];
    await a.state.store.createRecord(name, ChunkCopy.BACKUP, 100, [h1, h2], 8, 42);
    await a.state.store.markHolder(name, ChunkCopy.BACKUP, 100, h1, 'stored', 8);
    await a.state.store.markHolder(name, ChunkCopy.BACKUP, 100, h2, 'failed', 8);
    await a.state.store.addHolder(name, ChunkCopy.BACKUP, h3, 8);
    await a.state.store.addSubscriber(name, ChunkCopy.BACKUP);
    const nae = copyGroupName(name, ChunkCopy.BACKUP);
    const key = chunkRecordKey(name, ChunkCopy.BACKUP);
    const refs = await list(a);
    expect(refs.some((r) => toHex(r.nae) === toHex(nae) && toHex(r.key) === toHex(key))).toBe(true);
    const value = (await records.read(a, nae, key)) as Uint8Array;
    expect(chunkRecordValueCodec.decode(value)).toEqual({
      size: 100,
      subscribers: 2,
      createdBy: 42,
      deleted: false,
      holders: [
        // Live holders newest first, then the failed ones (by name): the store's list order.
        { pmid: h3, state: HolderState.PENDING },
        { pmid: h1, state: HolderState.STORED },
        { pmid: h2, state: HolderState.FAILED },
      ].map((h) => ({ ...h, pmid: Buffer.from(h.pmid) })),
    });
    // B already knows one of the PmidNodes under another id: the record still comes out the same.
    await b.state.store.createRecord(nameOf(randomBytes(5)), ChunkCopy.PRIMARY, 5, [h2], 8, 1);
    await records.write(b, nae, key, value);
    expect(await records.read(b, nae, key)).toEqual(value);
    expect(await b.state.store.holders(((await b.state.store.record(name, ChunkCopy.BACKUP)) as { id: number }).id)).toEqual(
      await a.state.store.holders(((await a.state.store.record(name, ChunkCopy.BACKUP)) as { id: number }).id),
    );
    await records.drop(b, nae, key);
    expect(await records.read(b, nae, key)).toBeUndefined();
  });

  it('a deleted copy travels as a tombstone: a member that missed the Delete drops its record; a new Put lifts it', async () => {
    const name = nameOf(randomBytes(120));
    const holder = pmid();
    const nae = copyGroupName(name, ChunkCopy.PRIMARY);
    const key = chunkRecordKey(name, ChunkCopy.PRIMARY);
    // Both members had the record; only `a` applied the Delete (b was away).
    for (const member of [a, b]) await member.state.store.createRecord(name, ChunkCopy.PRIMARY, 120, [holder], 8, 7);
    expect(await a.state.store.removeSubscriber(name, ChunkCopy.PRIMARY, 1_000)).toEqual([holder]);
    expect((await list(a)).some((r) => toHex(r.key) === toHex(key))).toBe(true);
    const tombstone = (await records.read(a, nae, key)) as Uint8Array;
    expect(chunkRecordValueCodec.decode(tombstone)).toMatchObject({ deleted: true, holders: [] });
    await records.write(b, nae, key, tombstone);
    expect(await b.state.store.record(name, ChunkCopy.PRIMARY)).toBeUndefined();
    expect(Buffer.from((await records.read(b, nae, key)) as Uint8Array).equals(tombstone)).toBe(true);
    // A Put of the chunk again: the record is live, and it is what transfer sends.
    await a.state.store.createRecord(name, ChunkCopy.PRIMARY, 120, [holder], 8, 9);
    expect(chunkRecordValueCodec.decode((await records.read(a, nae, key)) as Uint8Array)).toMatchObject({ deleted: false, subscribers: 1 });
    await records.drop(b, nae, key);
    expect(await records.read(b, nae, key)).toBeUndefined();
  });

  it('a record listing a holder that left before this member joined: the member repairs its copies like the others', async () => {
    const name = nameOf(randomBytes(100));
    const [live, left, failed] = [pmid(), nameOf(randomBytes(31)), nameOf(randomBytes(30))];
    await a.state.store.createRecord(name, ChunkCopy.PRIMARY, 100, [live, left, failed], 8, 1);
    await a.state.store.markHolder(name, ChunkCopy.PRIMARY, 100, failed, 'failed', 8);
    const key = chunkRecordKey(name, ChunkCopy.PRIMARY);
    await records.write(b, name, key, (await records.read(a, name, key)) as Uint8Array);
    // Only the holder that left counts: a failed one is not a copy to be repaired from anyone.
    expect(b.state.departed.has(toHex(left))).toBe(true);
    expect(b.state.departed.has(toHex(live))).toBe(false);
    expect(b.state.departed.has(toHex(failed))).toBe(false);
  });

  it('refuses a record that does not belong to the NAE, or lists a holder twice, and leaves the record as it was', async () => {
    const name = nameOf(randomBytes(100));
    const holder = pmid();
    await a.state.store.createRecord(name, ChunkCopy.PRIMARY, 100, [holder], 8, 1);
    const key = chunkRecordKey(name, ChunkCopy.PRIMARY);
    const value = (await records.read(a, name, key)) as Uint8Array;
    await expect(records.write(b, copyGroupName(name, ChunkCopy.BACKUP), key, value)).rejects.toBeInstanceOf(InvalidNameError);
    await expect(records.write(b, name, Uint8Array.of(1, 2), value)).rejects.toBeInstanceOf(InvalidNameError);
    await records.write(b, name, key, value);
    const twice = chunkRecordValueCodec.encode({
      size: 1,
      subscribers: 1,
      createdBy: 1,
      holders: [
        { pmid: holder, state: HolderState.STORED },
        { pmid: holder, state: HolderState.PENDING },
      ],
    });
    await expect(records.write(b, name, key, twice)).rejects.toBeInstanceOf(InvalidNameError);
    expect(await records.read(b, name, key)).toEqual(value);
  });
});
