import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { checkChunk, MAX_CHUNK_BYTES } from '@safe/chunks';
import { asSafeError, ContentMismatchError, InvalidNameError, NAME_BYTES, type Name, nameOf, SafeError, toHex } from '@safe/core';
import type { ChunkStore } from './chunk-store.js';

/**
 * Content-addressed files. A file is cut into chunks of at most MAX_CHUNK_BYTES, each stored as an
 * immutable chunk, and a data map listing the chunks (names and sizes, in order) is stored as one
 * more chunk: the data map's name IS the file's name.
 *
 * Data map (UTF-8 JSON, one chunk):
 *   {"format":"safe.data-map","version":1,"level":0,"size":<bytes>,"chunks":[{"name":"<128 hex>","size":<bytes>},…]}
 * At level 0 the chunks, in order, are the file's bytes and `size` is the file's size. A map that
 * does not fit in one chunk is itself stored as a file: the level n+1 map lists the chunks of the
 * serialised level n map (and `size` is that map's length), until one map fits in a chunk. The
 * empty file's map lists no chunks: no chunk is ever empty.
 *
 * Within one file a chunk is stored (and on removal deleted) once, however often it occurs.
 */
export const DATA_MAP_FORMAT = 'safe.data-map';
export const DATA_MAP_VERSION = 1;
/** Chunks in flight at once, by default. */
export const DEFAULT_CONCURRENCY = 4;
/** Smallest chunk size a caller may choose: a map with one entry must fit in a chunk, or nesting never ends. */
export const MIN_CHUNK_BYTES = 1024;
/** Deepest nesting a reader follows: 8 levels of 1 MiB maps name more bytes than exist. */
const MAX_LEVELS = 8;

export interface ChunkRef {
  readonly name: Name;
  readonly size: number;
}

export interface DataMap {
  readonly level: number;
  readonly size: number;
  readonly chunks: readonly ChunkRef[];
}

/** A file's name given as text: 128 hex characters. */
export function parseFileName(text: string): Name {
  const trimmed = text.trim();
  if (trimmed.length !== NAME_BYTES * 2 || !/^[0-9a-fA-F]+$/.test(trimmed)) {
    const shown = trimmed.length > 20 ? `${trimmed.slice(0, 20)}…` : trimmed;
    throw new InvalidNameError(`invalid name: must be ${NAME_BYTES * 2} hex characters, got ${trimmed.length} (${JSON.stringify(shown)})`);
  }
  return new Uint8Array(Buffer.from(trimmed, 'hex')) as Name;
}

/** The name is a chunk, but not a data map: it names no file. */
export class NotAFileError extends SafeError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}

export function encodeDataMap(map: DataMap): Uint8Array {
  const json = {
    format: DATA_MAP_FORMAT,
    version: DATA_MAP_VERSION,
    level: map.level,
    size: map.size,
    chunks: map.chunks.map((c) => ({ name: toHex(c.name), size: c.size })),
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses and checks a data map; `what` names it in errors. */
export function decodeDataMap(bytes: Uint8Array, what = 'chunk'): DataMap {
  const notAMap = (why: string) => new NotAFileError(`not a file: ${what} is not a data map (${why})`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw notAMap('not JSON');
  }
  if (typeof value !== 'object' || value === null) throw notAMap('not a JSON object');
  const o = value as Record<string, unknown>;
  if (o.format !== DATA_MAP_FORMAT) throw notAMap('no data-map format tag');
  if (o.version !== DATA_MAP_VERSION) throw notAMap(`version ${JSON.stringify(o.version)}, this client reads version ${DATA_MAP_VERSION}`);
  if (!isCount(o.level) || o.level > MAX_LEVELS) throw notAMap('bad level');
  if (!isCount(o.size)) throw notAMap('bad size');
  if (!Array.isArray(o.chunks)) throw notAMap('no chunk list');
  const chunks: ChunkRef[] = [];
  let total = 0;
  for (const entry of o.chunks as unknown[]) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || !isCount(e.size) || e.size === 0 || e.size > MAX_CHUNK_BYTES) {
      throw notAMap(`bad chunk entry ${chunks.length}`);
    }
    let name: Name;
    try {
      name = parseFileName(e.name);
    } catch {
      throw notAMap(`bad chunk name in entry ${chunks.length}`);
    }
    chunks.push({ name, size: e.size });
    total += e.size;
  }
  if (total !== o.size) throw notAMap(`its chunks add up to ${total} bytes, it says ${o.size}`);
  if (o.level > 0 && chunks.length === 0) throw notAMap('an upper level lists no chunks');
  return { level: o.level, size: o.size, chunks };
}

export type Progress = (done: number, total: number | undefined) => void;

export interface PutOptions {
  /** Chunk size (default and most MAX_CHUNK_BYTES; at least MIN_CHUNK_BYTES). */
  readonly chunkBytes?: number;
  /** Chunks stored at once (default 4). */
  readonly concurrency?: number;
  /** Called as chunks are stored with the file's bytes done so far and its size (if known). */
  readonly onProgress?: Progress;
  /** The size of the source, when known (for progress). */
  readonly totalBytes?: number;
  /**
   * Stops the put: no further chunk is sent, those in flight are waited for, and every claim the
   * put made is given back before it rejects with the signal's reason (an interrupted put leaves
   * nothing charged, so putting the file again does not pay twice).
   */
  readonly signal?: AbortSignal;
}

export interface StoredFile {
  /** The file's name: the name of its top data map. */
  readonly name: Name;
  readonly size: number;
  /** Content chunks of the file, occurrences counted (a repeated chunk is still stored once). */
  readonly chunks: number;
  /** Distinct chunks stored, data maps included. */
  readonly stored: number;
}

/** Cuts a byte stream into pieces of exactly `size` bytes, the last one shorter; never yields an empty piece. */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      const n = Math.min(size - filled, piece.length - offset);
      buffer.set(piece.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}

async function* fromBytes(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Stores chunks with at most `concurrency` in flight, each distinct name once. */
class Uploader {
  readonly #store: ChunkStore;
  readonly #concurrency: number;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #seen = new Set<string>();
  readonly #succeeded: Name[] = [];
  #failure: { error: unknown } | undefined;

  constructor(store: ChunkStore, concurrency: number) {
    this.#store = store;
    this.#concurrency = concurrency;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  get stored(): number {
    return this.#seen.size;
  }

  /** Starts storing `content` (named `name`); waits while the window is full. `done` runs once it is stored. */
  async add(name: Name, content: Uint8Array, done: () => void): Promise<void> {
    const key = toHex(name);
    if (this.#seen.has(key)) {
      done();
      return;
    }
    this.#seen.add(key);
    const task: Promise<void> = this.#store.put(content).then(
      (stored) => {
        if (toHex(stored) !== key)
          this.#failure ??= { error: new ContentMismatchError(`the store named chunk ${key.slice(0, 16)}… differently`) };
        else {
          this.#succeeded.push(name);
          done();
        }
      },
      (error: unknown) => {
        this.#failure ??= { error };
      },
    );
    const tracked = task.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    while (this.#inFlight.size >= this.#concurrency) await Promise.race(this.#inFlight);
  }

  /** Waits for everything in flight; throws the first failure. */
  async finish(): Promise<void> {
    await Promise.all(this.#inFlight);
    if (this.#failure !== undefined) throw asSafeError(this.#failure.error, 'storing a chunk');
  }

  /**
   * After a failure: waits for what is in flight, then gives up (best effort) the claims this
   * upload made, so a failed put leaves nothing charged. Only chunks whose put succeeded are
   * deleted: a delete of one whose put failed could take away the claim of another file.
   */
  async rollback(): Promise<void> {
    await Promise.allSettled(this.#inFlight);
    await deleteAll(this.#store, this.#succeeded.splice(0), this.#concurrency, true);
  }
}

function checkPutOptions(options: PutOptions): { chunkBytes: number; concurrency: number } {
  const chunkBytes = options.chunkBytes ?? MAX_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) {
    throw new SafeError('invalid-argument', `chunk size must be ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES} bytes, got ${chunkBytes}`);
  }
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw new SafeError('invalid-argument', `concurrency must be at least 1, got ${concurrency}`);
  return { chunkBytes, concurrency };
}

/** Stores a file read from `source` (streamed: at most `concurrency` + 1 chunks in memory) and returns its name. */
export async function putStream(store: ChunkStore, source: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<StoredFile> {
  const { chunkBytes, concurrency } = checkPutOptions(options);
  const uploader = new Uploader(store, concurrency);
  try {
    const chunks: ChunkRef[] = [];
    let size = 0;
    let done = 0;
    options.onProgress?.(0, options.totalBytes);
    for await (const content of rechunk(source, chunkBytes)) {
      options.signal?.throwIfAborted();
      if (uploader.failed) break;
      const name = nameOf(content);
      chunks.push({ name, size: content.length });
      size += content.length;
      await uploader.add(name, content, () => {
        done += content.length;
        options.onProgress?.(done, options.totalBytes);
      });
    }
    await uploader.finish();

    // The maps, innermost first; each level that does not fit in a chunk is stored like a file.
    let map: DataMap = { level: 0, size, chunks };
    let bytes = encodeDataMap(map);
    while (bytes.length > chunkBytes) {
      const pieces: ChunkRef[] = [];
      for await (const piece of rechunk(fromBytes(bytes), chunkBytes)) {
        const name = nameOf(piece);
        pieces.push({ name, size: piece.length });
        await uploader.add(name, piece, () => {});
      }
      options.signal?.throwIfAborted();
      map = { level: map.level + 1, size: bytes.length, chunks: pieces };
      bytes = encodeDataMap(map);
    }
    await uploader.finish(); // the top map last: a file whose name was returned is complete
    options.signal?.throwIfAborted();
    const name = nameOf(bytes);
    await uploader.add(name, bytes, () => {});
    await uploader.finish();
    return { name, size, chunks: chunks.length, stored: uploader.stored };
  } catch (error) {
    await uploader.rollback();
    throw error;
  }
}

/** Stores the file at `path`, streamed. A missing path fails with 'invalid-argument' ("no such file: …"). */
export async function putFile(store: ChunkStore, path: string, options: PutOptions = {}): Promise<StoredFile> {
  const info = await statLocalFile(path);
  const source = createReadStream(path, { highWaterMark: options.chunkBytes ?? MAX_CHUNK_BYTES });
  try {
    return await putStream(store, source, { totalBytes: info.size, ...options });
  } catch (error) {
    throw error instanceof SafeError || error === options.signal?.reason ? error : localFileError(error, path);
  } finally {
    source.destroy();
  }
}

/** Checks a local path names a readable regular file before anything goes to the network. */
export async function statLocalFile(path: string): Promise<{ size: number }> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw localFileError(error, path);
  }
  if (!info.isFile()) throw new SafeError('invalid-argument', `not a regular file: ${path}`);
  return { size: info.size };
}

function localFileError(error: unknown, path: string): SafeError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new SafeError('invalid-argument', `no such file: ${path}`, { cause: error });
  if (code === 'EACCES' || code === 'EPERM') return new SafeError('invalid-argument', `permission denied: ${path}`, { cause: error });
  if (code === 'EISDIR') return new SafeError('invalid-argument', `not a regular file: ${path}`, { cause: error });
  return asSafeError(error, path);
}

/** A resolved file: its level-0 map and every chunk holding a map on the way there (top first). */
export interface ResolvedFile {
  readonly name: Name;
  readonly map: DataMap;
  readonly mapChunks: readonly Name[];
}

function verified(ref: ChunkRef, content: Uint8Array, what: string): Uint8Array {
  if (content.length !== ref.size) {
    throw new ContentMismatchError(`${what} (${toHex(ref.name).slice(0, 16)}…) is ${content.length} bytes, the data map says ${ref.size}`);
  }
  try {
    checkChunk(ref.name, content);
  } catch {
    throw new ContentMismatchError(`${what} (${toHex(ref.name).slice(0, 16)}…) does not match its name: the data is corrupt`);
  }
  return content;
}

/** Fetches chunks in order with up to `concurrency` in flight; calls `each` in order. */
async function fetchInOrder(
  store: ChunkStore,
  refs: readonly ChunkRef[],
  concurrency: number,
  what: (index: number) => string,
  each: (content: Uint8Array, index: number) => Promise<void> | void,
): Promise<void> {
  const window: Promise<Uint8Array>[] = [];
  let next = 0;
  for (let i = 0; i < refs.length; i++) {
    while (window.length < concurrency && next < refs.length) {
      const index = next++;
      const ref = refs[index] as ChunkRef;
      const fetching = store.get(ref.name).then((content) => verified(ref, content, what(index)));
      fetching.catch(() => {}); // awaited below in order; a failure ahead of it must not go unhandled
      window.push(fetching);
    }
    const content = await (window.shift() as Promise<Uint8Array>);
    await each(content, i);
  }
}

/** Fetches a file's data map, following the nesting down to level 0. */
export async function resolveFile(store: ChunkStore, name: Name, concurrency = DEFAULT_CONCURRENCY): Promise<ResolvedFile> {
  const top = await store.get(name);
  try {
    checkChunk(name, top);
  } catch {
    throw new ContentMismatchError(`the data map (${toHex(name).slice(0, 16)}…) does not match its name: the data is corrupt`);
  }
  let map = decodeDataMap(top, `chunk ${toHex(name).slice(0, 16)}…`);
  const mapChunks: Name[] = [name];
  while (map.level > 0) {
    const bytes = new Uint8Array(map.size);
    let offset = 0;
    await fetchInOrder(
      store,
      map.chunks,
      concurrency,
      (i) => `chunk ${i} of the level ${map.level} data map`,
      (content) => {
        bytes.set(content, offset);
        offset += content.length;
      },
    );
    mapChunks.push(...map.chunks.map((c) => c.name));
    const inner = decodeDataMap(bytes, `the level ${map.level - 1} data map`);
    if (inner.level !== map.level - 1) throw new NotAFileError(`not a file: data map level ${inner.level} under level ${map.level}`);
    map = inner;
  }
  return { name, map, mapChunks };
}

export interface GetOptions {
  readonly concurrency?: number;
  readonly onProgress?: Progress;
}

/**
 * Fetches the file `name` and writes it to `out` in order (streamed; `out` is not ended). Every
 * chunk is checked against its name and size before a byte of it is written. The data map is
 * resolved first, so a missing or wrong name fails before anything is written.
 */
export async function getFile(
  store: ChunkStore,
  name: Name,
  out: Writable,
  options: GetOptions = {},
): Promise<{ size: number; chunks: number }> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const { map } = await resolveFile(store, name, concurrency);
  let done = 0;
  options.onProgress?.(0, map.size);
  await fetchInOrder(
    store,
    map.chunks,
    concurrency,
    (i) => `chunk ${i} of the file`,
    async (content) => {
      await write(out, content);
      done += content.length;
      options.onProgress?.(done, map.size);
    },
  );
  return { size: map.size, chunks: map.chunks.length };
}

function write(out: Writable, content: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(content, (error) => (error ? reject(asSafeError(error, 'writing the file')) : resolve()));
  });
}

/** Fetches the whole file into memory (for small files and tests). */
export async function getBytes(store: ChunkStore, name: Name, options: GetOptions = {}): Promise<Uint8Array> {
  const { map } = await resolveFile(store, name, options.concurrency);
  const bytes = new Uint8Array(map.size);
  let offset = 0;
  await fetchInOrder(
    store,
    map.chunks,
    options.concurrency ?? DEFAULT_CONCURRENCY,
    (i) => `chunk ${i} of the file`,
    (content) => {
      bytes.set(content, offset);
      offset += content.length;
      options.onProgress?.(offset, map.size);
    },
  );
  return bytes;
}

/** Stores bytes held in memory as a file. */
export function putBytes(store: ChunkStore, bytes: Uint8Array, options: PutOptions = {}): Promise<StoredFile> {
  return putStream(store, fromBytes(bytes), { totalBytes: bytes.length, ...options });
}

/**
 * Removes a file: deletes each distinct content chunk once (as putFile stored it once), then the
 * data maps, the top one last, so an interrupted removal can be run again. `held`: how many of
 * the `chunks` this client had a claim on (0: the file is not this client's, nothing changed).
 */
export async function removeFile(
  store: ChunkStore,
  name: Name,
  options: { concurrency?: number } = {},
): Promise<{ chunks: number; held: number }> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const { map, mapChunks } = await resolveFile(store, name, concurrency);
  const seen = new Set<string>();
  const content = map.chunks.map((c) => c.name).filter((n) => !seen.has(toHex(n)) && seen.add(toHex(n)));
  const maps = [...mapChunks].reverse().filter((n) => !seen.has(toHex(n)) && seen.add(toHex(n)));
  let held = await deleteAll(store, content, concurrency);
  held += await deleteAll(store, maps.slice(0, -1), concurrency);
  const top = maps[maps.length - 1];
  if (top !== undefined && (await store.delete(top))) held++;
  return { chunks: seen.size, held };
}

/** Deletes each name; how many of them this client held a claim on. */
async function deleteAll(store: ChunkStore, names: readonly Name[], concurrency: number, bestEffort = false): Promise<number> {
  let next = 0;
  let held = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++] as Name;
      const had = bestEffort ? await store.delete(name).catch(() => false) : await store.delete(name);
      if (had) held++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  return held;
}
