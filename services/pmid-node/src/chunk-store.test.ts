import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkCopy, copyName } from '@safe/chunks';
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
    await store.put(name, ChunkCopy.PRIMARY, content);
    await store.put(name, ChunkCopy.PRIMARY, content);
    await store.put(name, ChunkCopy.BACKUP, content);
    expect(store.used).toBe(600);
    expect(Buffer.from(await store.get(name, ChunkCopy.BACKUP)).equals(content)).toBe(true);
    expect((await ChunkStore.open(dir, 1000)).used).toBe(600);
    expect(await store.delete(name, ChunkCopy.PRIMARY)).toBe(true);
    expect(await store.delete(name, ChunkCopy.PRIMARY)).toBe(false);
    expect(store.used).toBe(300);
    await expect(store.get(name, ChunkCopy.PRIMARY)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a chunk that does not hash to its name, or that does not fit, and writes nothing', async () => {
    const store = await ChunkStore.open(dir, 500);
    const content = randomBytes(400);
    await expect(store.put(nameOf(randomBytes(4)), ChunkCopy.PRIMARY, content)).rejects.toBeInstanceOf(ContentMismatchError);
    await expect(store.put(new Uint8Array(10), ChunkCopy.PRIMARY, content)).rejects.toBeInstanceOf(InvalidNameError);
    await store.put(nameOf(content), ChunkCopy.PRIMARY, content);
    const other = randomBytes(200);
    await expect(store.put(nameOf(other), ChunkCopy.PRIMARY, other)).rejects.toBeInstanceOf(OutOfSpaceError);
    expect(store.used).toBe(400);
    const files = (await Promise.all((await readdir(dir)).map((fan) => readdir(join(dir, fan))))).flat();
    expect(files).toEqual([`${toHex(nameOf(content))}.0`]);
  });

  it('reports a copy corrupted on disk instead of returning it', async () => {
    const store = await ChunkStore.open(dir, 1000);
    const content = randomBytes(100);
    const name = nameOf(content);
    await store.put(name, ChunkCopy.PRIMARY, content);
    const hex = toHex(name);
    await writeFile(join(dir, hex.slice(0, 2), `${hex}.0`), randomBytes(100));
    await expect(store.get(name, ChunkCopy.PRIMARY)).rejects.toBeInstanceOf(ContentMismatchError);
  });

  it('makes room for a must-store copy by deleting sacrificial copies, the longest on the disk first', async () => {
    const store = await ChunkStore.open(dir, 1000);
    const chunk = (size: number) => {
      const content = randomBytes(size);
      return { name: nameOf(content), content };
    };
    const id = (c: { name: Uint8Array; copy: ChunkCopy }) => `${toHex(c.name)}.${copyName(c.copy)}`;
    const [first, second, third] = [chunk(200), chunk(200), chunk(300)] as const;
    for (const s of [first, second, third]) expect(await store.put(s.name, ChunkCopy.SACRIFICIAL, s.content)).toEqual([]);
    const backup = chunk(250);
    expect(await store.put(backup.name, ChunkCopy.BACKUP, backup.content)).toEqual([]);
    expect(store.used).toBe(950);

    // 400 bytes more need 350 freed: the two stored first, in the order they were stored.
    const primary = chunk(400);
    expect((await store.put(primary.name, ChunkCopy.PRIMARY, primary.content)).map(id)).toEqual([
      `${toHex(first.name)}.SACRIFICIAL`,
      `${toHex(second.name)}.SACRIFICIAL`,
    ]);
    expect(store.used).toBe(950);
    expect(await store.has(primary.name, ChunkCopy.PRIMARY)).toBe(true);
    expect(await store.has(third.name, ChunkCopy.SACRIFICIAL)).toBe(true);
    expect(await store.has(first.name, ChunkCopy.SACRIFICIAL)).toBe(false);

    // After a restart the files' modification times give the order: the later copy is older here.
    const later = chunk(50);
    await store.put(later.name, ChunkCopy.SACRIFICIAL, later.content);
    const file = (name: Uint8Array) => join(dir, toHex(name).slice(0, 2), `${toHex(name)}.2`);
    await utimes(file(later.name), 1000, 1000);
    await utimes(file(third.name), 2000, 2000);
    const reopened = await ChunkStore.open(dir, 1000);
    expect(reopened.used).toBe(1000);
    const more = chunk(200);
    expect((await reopened.put(more.name, ChunkCopy.BACKUP, more.content)).map(id)).toEqual([
      `${toHex(later.name)}.SACRIFICIAL`,
      `${toHex(third.name)}.SACRIFICIAL`,
    ]);
    expect(reopened.used).toBe(850);
  });

  it('deletes nothing when even every sacrificial copy would not make room, and never for a sacrificial copy', async () => {
    const store = await ChunkStore.open(dir, 1000);
    const sacrificial = randomBytes(300);
    await store.put(nameOf(sacrificial), ChunkCopy.SACRIFICIAL, sacrificial);
    const primary = randomBytes(600);
    await store.put(nameOf(primary), ChunkCopy.PRIMARY, primary);
    const before = (await store.list()).map((c) => `${toHex(c.name)}.${copyName(c.copy)}`).sort();

    const tooBig = randomBytes(450);
    await expect(store.put(nameOf(tooBig), ChunkCopy.BACKUP, tooBig)).rejects.toBeInstanceOf(OutOfSpaceError);
    const third = randomBytes(200);
    await expect(store.put(nameOf(third), ChunkCopy.SACRIFICIAL, third)).rejects.toBeInstanceOf(OutOfSpaceError);
    expect((await store.list()).map((c) => `${toHex(c.name)}.${copyName(c.copy)}`).sort()).toEqual(before);
    expect(store.used).toBe(900);

    // 300 freed is just enough for 400 more.
    const fits = randomBytes(400);
    expect((await store.put(nameOf(fits), ChunkCopy.BACKUP, fits)).map((c) => c.copy)).toEqual([ChunkCopy.SACRIFICIAL]);
    expect(store.used).toBe(1000);
  });
});
