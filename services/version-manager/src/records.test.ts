import { randomBytes } from 'node:crypto';
import { keyDataName, sdvName } from '@safe/chunks';
import { type HandlerContext, InvalidNameError, MalformedPayloadError, type Name, nameOf, type RecordRef } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { versionManagerRecords as records } from './records.js';
import { emptySdv, putVersion, tipsOf } from './sdv.js';
import { openVersionManagerState, type VersionManagerState } from './state.js';
import { encodeSdv, type StoredSdv } from './store.js';

let host: PgliteHost;
let a: HandlerContext<VersionManagerState>;
let b: HandlerContext<VersionManagerState>;
const NO_KEY = new Uint8Array(0);
const ctx = (state: VersionManagerState) => ({ state }) as HandlerContext<VersionManagerState>;

beforeAll(async () => {
  host = await openPglite();
  a = ctx(await openVersionManagerState(host.database('vm_records_a')));
  b = ctx(await openVersionManagerState(host.database('vm_records_b')));
}, 60_000);
afterAll(() => host.close());

/** An SDV of a new owner with a root, a child and a fork; uint64 indexes near the top of the range. */
function sdvOf(key: string): { name: Name; stored: StoredSdv } {
  const owner = nameOf(randomBytes(16));
  const dataName = keyDataName(key);
  const v = (index: bigint, label: string) => ({ index, id: nameOf(Buffer.from(label)) });
  let sdv = emptySdv(10, 4);
  sdv = putVersion(sdv, null, v(0n, 'root')).sdv;
  sdv = putVersion(sdv, v(0n, 'root'), v(2n ** 64n - 2n, 'big')).sdv;
  sdv = putVersion(sdv, v(0n, 'root'), v(7n, 'fork')).sdv;
  return { name: sdvName(dataName, 0, owner), stored: { dataName, type: 0, owner, sdv } };
}

async function list(c: HandlerContext<VersionManagerState>): Promise<RecordRef[]> {
  const out: RecordRef[] = [];
  for await (const refs of records.list(c)) out.push(...refs);
  return out;
}

describe('VersionManager records (account transfer)', () => {
  it('lists every SDV; a written copy reads back byte-identical, full uint64 indexes and all', async () => {
    const { name, stored } = sdvOf('doc');
    await a.state.store.write(name, stored);
    expect((await list(a)).map((r) => Buffer.from(r.nae).toString('hex'))).toContain(Buffer.from(name).toString('hex'));
    const value = (await records.read(a, name, NO_KEY)) as Uint8Array;
    expect(value).toEqual(encodeSdv(stored));
    await records.write(b, name, NO_KEY, value);
    expect(await records.read(b, name, NO_KEY)).toEqual(value);
    expect(tipsOf((await b.state.store.sdv(name))?.sdv ?? emptySdv(1, 1)).map((v) => v.index)).toEqual([2n ** 64n - 2n, 7n]);
    await records.drop(b, name, NO_KEY);
    expect(await records.read(b, name, NO_KEY)).toBeUndefined();
  });

  it('refuses a key, a malformed value or an SDV of another name, and keeps what it held', async () => {
    const { name, stored } = sdvOf('kept');
    const value = encodeSdv(stored);
    await records.write(b, name, NO_KEY, value);
    await expect(records.write(b, name, Uint8Array.of(1), value)).rejects.toBeInstanceOf(InvalidNameError);
    await expect(records.write(b, name, NO_KEY, Uint8Array.of(0xff, 0xff))).rejects.toBeInstanceOf(MalformedPayloadError);
    const other = sdvOf('other');
    await expect(records.write(b, name, NO_KEY, encodeSdv(other.stored))).rejects.toThrow('belongs to another name');
    const tooMany = { ...stored, sdv: { ...stored.sdv, maxVersions: 2 } };
    await expect(records.write(b, name, NO_KEY, encodeSdv(tooMany))).rejects.toBeInstanceOf(InvalidNameError);
    expect(await records.read(b, name, NO_KEY)).toEqual(value);
  });

  it('an SDV whose last version went is no record', async () => {
    const { name, stored } = sdvOf('emptied');
    await a.state.store.write(name, stored);
    await a.state.store.write(name, { ...stored, sdv: emptySdv(10, 4) });
    expect(await records.read(a, name, NO_KEY)).toBeUndefined();
  });
});
