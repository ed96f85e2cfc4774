import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { ContentMismatchError, InvalidNameError, type Name, nameOf, SafeError, toHex } from '@safe/core';
import { describe, expect, it } from 'vitest';
import type { ChunkStore } from './chunk-store.js';
import {
  decodeDataMap,
  encodeDataMap,
  getBytes,
  getFile,
  NotAFileError,
  parseFileName,
  putBytes,
  putFile,
  putStream,
  removeFile,
  resolveFile,
} from './files.js';

/** The ChunkStore port over a Map, counting claims like an account does. */
class MemoryChunkStore implements ChunkStore {
  readonly chunks = new Map<string, Uint8Array>();
  readonly claims = new Map<string, number>();
  inFlight = 0;
  maxInFlight = 0;
  puts = 0;

  async put(content: Uint8Array): Promise<Name> {
    expect(content.length).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    expect(content.length).toBeGreaterThan(0);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    this.inFlight--;
    this.puts++;
    const name = nameOf(content);
    const key = toHex(name);
    this.chunks.set(key, new Uint8Array(content));
    this.claims.set(key, (this.claims.get(key) ?? 0) + 1);
    return name;
  }

  async get(name: Name): Promise<Uint8Array> {
    const content = this.chunks.get(toHex(name));
    if (content === undefined) throw new SafeError('not-found', `no chunk ${toHex(name).slice(0, 16)}… on the network`);
    return new Uint8Array(content);
  }

  async delete(name: Name): Promise<boolean> {
    const key = toHex(name);
    const had = this.claims.get(key) ?? 0;
    if (had === 0) return false;
    if (had === 1) {
      this.claims.delete(key);
      this.chunks.delete(key);
    } else this.claims.set(key, had - 1);
    return true;
  }

  /** Another account on the same network: the same chunks, none of the claims. */
  otherAccount(): ChunkStore {
    return { put: (content) => this.put(content), get: (name) => this.get(name), delete: async () => false };
  }
}

const MIB = 1024 * 1024;

async function collect(store: ChunkStore, name: Name): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await getFile(store, name, out);
  out.end();
  return Buffer.concat(parts);
}

describe('files over a ChunkStore', () => {
  it.each([
    ['0 B', 0, 0],
    ['1 B', 1, 1],
    ['exactly 1 MiB', MIB, 1],
    ['1 MiB + 1', MIB + 1, 2],
    ['several MiB', 5 * MIB + 12345, 6],
  ])('round-trips %s byte-identical', async (_label, size, chunks) => {
    const store = new MemoryChunkStore();
    const bytes = new Uint8Array(randomBytes(size));
    const stored = await putBytes(store, bytes);
    expect(toHex(stored.name)).toMatch(/^[0-9a-f]{128}$/);
    expect(stored.size).toBe(size);
    expect(stored.chunks).toBe(chunks);
    expect(store.chunks.size).toBe(chunks + 1); // the chunks and the data map
    const back = await collect(store, stored.name);
    expect(back.equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(await getBytes(store, stored.name)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('the empty file has a data map listing no chunks, and the same name each time', async () => {
    const store = new MemoryChunkStore();
    const a = await putBytes(store, new Uint8Array(0));
    const b = await putBytes(store, new Uint8Array(0));
    expect(toHex(a.name)).toBe(toHex(b.name));
    const { map } = await resolveFile(store, a.name);
    expect(map).toEqual({ level: 0, size: 0, chunks: [] });
  });

  it('the same content always gets the same name (content-addressed)', async () => {
    const bytes = new Uint8Array(randomBytes(MIB + 7));
    const a = await putBytes(new MemoryChunkStore(), bytes);
    const b = await putBytes(new MemoryChunkStore(), bytes);
    expect(toHex(a.name)).toBe(toHex(b.name));
  });

  it('streams a file from disk and back, with progress reaching the total', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safe-files-'));
    try {
      const path = join(dir, 'in.bin');
      const bytes = randomBytes(3 * MIB + 5);
      await writeFile(path, bytes);
      const store = new MemoryChunkStore();
      const progress: [number, number | undefined][] = [];
      const stored = await putFile(store, path, { onProgress: (done, total) => progress.push([done, total]) });
      expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);
      expect(progress.every(([done], i) => i === 0 || done >= (progress[i - 1]?.[0] ?? 0))).toBe(true);
      expect((await collect(store, stored.name)).equals(bytes)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing local file is a clear error', async () => {
    await expect(putFile(new MemoryChunkStore(), '/no/such/file')).rejects.toThrow('no such file: /no/such/file');
  });

  it('keeps at most `concurrency` chunks in flight', async () => {
    const store = new MemoryChunkStore();
    await putBytes(store, new Uint8Array(randomBytes(64 * 1024)), { chunkBytes: 1024, concurrency: 3 });
    expect(store.maxInFlight).toBeLessThanOrEqual(3);
    expect(store.maxInFlight).toBeGreaterThan(1);
  });

  it('stores a repeated chunk once and removes it once', async () => {
    const store = new MemoryChunkStore();
    const stored = await putBytes(store, new Uint8Array(3 * MIB)); // three identical zero chunks
    expect(stored.chunks).toBe(3);
    expect(store.puts).toBe(2); // one zero chunk and the data map
    expect((await collect(store, stored.name)).equals(Buffer.alloc(3 * MIB))).toBe(true);
    await removeFile(store, stored.name);
    expect(store.chunks.size).toBe(0);
  });

  it('nests a data map that does not fit in one chunk, and reads it back', async () => {
    const store = new MemoryChunkStore();
    const bytes = new Uint8Array(randomBytes(200 * 1024));
    const stored = await putBytes(store, bytes, { chunkBytes: 1024 });
    expect(stored.chunks).toBe(200);
    const top = decodeDataMap((await store.get(stored.name)) as Uint8Array);
    expect(top.level).toBeGreaterThanOrEqual(2);
    for (const chunk of store.chunks.values()) expect(chunk.length).toBeLessThanOrEqual(1024);
    const resolved = await resolveFile(store, stored.name);
    expect(resolved.map.level).toBe(0);
    expect(resolved.map.chunks).toHaveLength(200);
    expect(Buffer.from(await getBytes(store, stored.name)).equals(Buffer.from(bytes))).toBe(true);
    await removeFile(store, stored.name);
    expect(store.chunks.size).toBe(0);
  });

  it('removeFile deletes the chunks and the data map; the name is then not found', async () => {
    const store = new MemoryChunkStore();
    const stored = await putBytes(store, new Uint8Array(randomBytes(2 * MIB + 1)));
    const { chunks, held } = await removeFile(store, stored.name);
    expect(chunks).toBe(4);
    expect(held).toBe(4);
    expect(store.chunks.size).toBe(0);
    await expect(getBytes(store, stored.name)).rejects.toMatchObject({ kind: 'not-found' });
  });

  it("removeFile of another account's file holds none of its chunks and changes nothing", async () => {
    const store = new MemoryChunkStore();
    const bytes = new Uint8Array(randomBytes(MIB + 1));
    const stored = await putBytes(store, bytes);
    expect(await removeFile(store.otherAccount(), stored.name)).toEqual({ chunks: 3, held: 0 });
    expect(Buffer.from(await getBytes(store, stored.name)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('a file shared with another file keeps its chunks when the other is removed', async () => {
    const store = new MemoryChunkStore();
    const bytes = new Uint8Array(randomBytes(MIB + 1));
    const a = await putBytes(store, bytes);
    const b = await putBytes(store, bytes);
    await removeFile(store, a.name);
    expect(Buffer.from(await getBytes(store, b.name)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('detects a corrupted chunk and writes none of it', async () => {
    const store = new MemoryChunkStore();
    const stored = await putBytes(store, new Uint8Array(randomBytes(2 * MIB + 3)));
    const { map } = await resolveFile(store, stored.name);
    const second = toHex((map.chunks[1] as { name: Name }).name);
    const content = store.chunks.get(second) as Uint8Array;
    content[100] = (content[100] as number) ^ 0xff;
    const out = new PassThrough();
    let written = 0;
    out.on('data', (b: Buffer) => {
      written += b.length;
    });
    const error = await getFile(store, stored.name, out).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContentMismatchError);
    expect((error as Error).message).toMatch(/chunk 1 of the file .* does not match its name/);
    expect(written).toBe(MIB); // only the first, verified chunk
  });

  it('detects a corrupted data map', async () => {
    const store = new MemoryChunkStore();
    const stored = await putBytes(store, new Uint8Array(randomBytes(10)));
    const map = store.chunks.get(toHex(stored.name)) as Uint8Array;
    map[5] = (map[5] as number) ^ 1;
    await expect(getBytes(store, stored.name)).rejects.toBeInstanceOf(ContentMismatchError);
  });

  it('a chunk that is not a data map is not a file', async () => {
    const store = new MemoryChunkStore();
    const name = await store.put(new TextEncoder().encode('just some bytes'));
    await expect(getBytes(store, name)).rejects.toBeInstanceOf(NotAFileError);
    const lying = encodeDataMap({ level: 0, size: 5, chunks: [{ name, size: 15 }] });
    await expect(getBytes(store, await store.put(lying))).rejects.toThrow(/add up to 15 bytes, it says 5/);
  });

  it('a failed put fails the file, stops reading and gives back the chunks it stored', async () => {
    const store = new MemoryChunkStore();
    let calls = 0;
    const failing: ChunkStore = {
      put: (content) => (++calls === 3 ? Promise.reject(new SafeError('resource-exhausted', 'out of space: no room')) : store.put(content)),
      get: (name) => store.get(name),
      delete: (name) => store.delete(name),
    };
    let read = 0;
    async function* source() {
      for (let i = 0; i < 100; i++) {
        read++;
        yield new Uint8Array(randomBytes(1024));
      }
    }
    await expect(putStream(failing, source(), { chunkBytes: 1024, concurrency: 2 })).rejects.toMatchObject({ kind: 'resource-exhausted' });
    expect(read).toBeLessThan(10);
    expect(store.puts).toBeGreaterThan(0);
    expect(store.chunks.size).toBe(0);
  });

  it('a failed put leaves the claims of another file on the same chunks alone', async () => {
    const store = new MemoryChunkStore();
    const bytes = new Uint8Array(randomBytes(4 * 1024));
    const kept = await putBytes(store, bytes, { chunkBytes: 1024 });
    let calls = 0;
    const failing: ChunkStore = {
      put: (content) => (++calls === 6 ? Promise.reject(new SafeError('unavailable', 'gone')) : store.put(content)),
      get: (name) => store.get(name),
      delete: (name) => store.delete(name),
    };
    const more = new Uint8Array([...bytes, ...randomBytes(4 * 1024)]);
    await expect(putBytes(failing, more, { chunkBytes: 1024, concurrency: 1 })).rejects.toMatchObject({ kind: 'unavailable' });
    expect(Buffer.from(await getBytes(store, kept.name)).equals(Buffer.from(bytes))).toBe(true);
    expect(store.chunks.size).toBe(5);
  });

  it('an interrupted put stops sending, waits for what is in flight and gives back every claim it made', async () => {
    const store = new MemoryChunkStore();
    const bytes = new Uint8Array(randomBytes(4 * 1024));
    const kept = await putBytes(store, bytes, { chunkBytes: 1024 });
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    let calls = 0;
    const interrupted: ChunkStore = {
      put: (content) => {
        if (++calls === 3) interrupt.abort(reason);
        return store.put(content);
      },
      get: (name) => store.get(name),
      delete: (name) => store.delete(name),
    };
    const more = new Uint8Array([...bytes, ...randomBytes(8 * 1024)]);
    await expect(putBytes(interrupted, more, { chunkBytes: 1024, concurrency: 2, signal: interrupt.signal })).rejects.toBe(reason);
    expect(calls).toBeLessThan(6);
    // Only the first file's claims are left: its 4 chunks and its map, each claimed once.
    expect(store.chunks.size).toBe(5);
    expect([...store.claims.values()]).toEqual([1, 1, 1, 1, 1]);
    expect(Buffer.from(await getBytes(store, kept.name)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('rejects chunk sizes that could not hold a data map', async () => {
    await expect(putBytes(new MemoryChunkStore(), new Uint8Array(1), { chunkBytes: 100 })).rejects.toMatchObject({
      kind: 'invalid-argument',
    });
  });
});

describe('file names', () => {
  const good = 'ab'.repeat(64);

  it('accepts 128 hex characters, either case, and round-trips them', () => {
    expect(toHex(parseFileName(good))).toBe(good);
    expect(toHex(parseFileName(good.toUpperCase()))).toBe(good);
  });

  it.each([['nothex'], [''], ['ab'.repeat(63)], [`${'ab'.repeat(64)}a`], [`${'ab'.repeat(63)}zz`]])('rejects %j', (text) => {
    expect(() => parseFileName(text)).toThrow(InvalidNameError);
    expect(() => parseFileName(text)).toThrow(/^invalid name: must be 128 hex characters/);
  });
});

describe('data maps', () => {
  const name = nameOf(new Uint8Array([1]));

  it('encode and decode are inverse', () => {
    const map = { level: 0, size: 3, chunks: [{ name, size: 3 }] };
    expect(decodeDataMap(encodeDataMap(map))).toEqual(map);
  });

  it.each([
    ['not JSON', '{'],
    ['another format', JSON.stringify({ format: 'x', version: 1, level: 0, size: 0, chunks: [] })],
    ['a newer version', JSON.stringify({ format: 'safe.data-map', version: 2, level: 0, size: 0, chunks: [] })],
    [
      'an empty chunk',
      JSON.stringify({ format: 'safe.data-map', version: 1, level: 0, size: 0, chunks: [{ name: 'ab'.repeat(64), size: 0 }] }),
    ],
    ['a bad chunk name', JSON.stringify({ format: 'safe.data-map', version: 1, level: 0, size: 1, chunks: [{ name: 'xy', size: 1 }] })],
  ])('rejects %s', (_label, text) => {
    expect(() => decodeDataMap(new TextEncoder().encode(text))).toThrow(NotAFileError);
  });
});
