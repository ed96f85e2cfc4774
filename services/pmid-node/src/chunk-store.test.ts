import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentMismatchError, InvalidNameError, NotFoundError, nameOf, OutOfSpaceError, toHex } from '@safe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkStore } from './chunk-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pmid-node-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('chunks on a PmidNode disk', () => {
  it('stores, reads and deletes copies, counting the space used across restarts', async () => {
    const store = await ChunkStore.open(dir, 1000);
    const content = randomBytes(300);
    const name = nameOf(content);
    await store.put(name, 'PRIMARY', content);
    await store.put(name, 'PRIMARY', content);
    await store.put(name, 'BACKUP', content);
    expect(store.used).toBe(600);
    expect(Buffer.from(await store.get(name, 'BACKUP')).equals(content)).toBe(true);
    expect((await ChunkStore.open(dir, 1000)).used).toBe(600);
    expect(await store.delete(name, 'PRIMARY')).toBe(true);
    expect(await store.delete(name, 'PRIMARY')).toBe(false);
    expect(store.used).toBe(300);
    await expect(store.get(name, 'PRIMARY')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a chunk that does not hash to its name, or that does not fit, and writes nothing', async () => {
    const store = await ChunkStore.open(dir, 500);
    const content = randomBytes(400);
    await expect(store.put(nameOf(randomBytes(4)), 'PRIMARY', content)).rejects.toBeInstanceOf(ContentMismatchError);
    await expect(store.put(new Uint8Array(10), 'PRIMARY', content)).rejects.toBeInstanceOf(InvalidNameError);
    await store.put(nameOf(content), 'PRIMARY', content);
    const other = randomBytes(200);
    await expect(store.put(nameOf(other), 'PRIMARY', other)).rejects.toBeInstanceOf(OutOfSpaceError);
    expect(store.used).toBe(400);
    const files = (await Promise.all((await readdir(dir)).map((fan) => readdir(join(dir, fan))))).flat();
    expect(files).toEqual([`${toHex(nameOf(content))}.0`]);
  });

  it('reports a copy corrupted on disk instead of returning it', async () => {
    const store = await ChunkStore.open(dir, 1000);
    const content = randomBytes(100);
    const name = nameOf(content);
    await store.put(name, 'PRIMARY', content);
    const hex = toHex(name);
    await writeFile(join(dir, hex.slice(0, 2), `${hex}.0`), randomBytes(100));
    await expect(store.get(name, 'PRIMARY')).rejects.toBeInstanceOf(ContentMismatchError);
  });
});
