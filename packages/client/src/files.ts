import type { Writable } from 'node:stream';
import { checkChunk } from '@safe/chunks';
import { asSafeError, ContentMismatchError, type Name, toHex } from '@safe/core';
import { type ChunkStore, DEFAULT_CONCURRENCY, deleteAll } from './chunk-store.js';
import { type ChunkRef, type DataMap, decodeDataMap, NotAFileError } from './data-map.js';
import type { Progress } from './file-put.js';

/**
 * Content-addressed files. A file is cut into chunks of at most MAX_CHUNK_BYTES, each stored as an
 * immutable chunk, and a data map listing the chunks (data-map.ts) is stored as one more chunk:
 * the data map's name IS the file's name. Storing is in file-put.ts; fetching and removing here.
 *
 * Within one file a chunk is stored (and on removal deleted) once, however often it occurs.
 */
export { DEFAULT_CONCURRENCY } from './chunk-store.js';
export {
  type ChunkRef,
  DATA_MAP_FORMAT,
  DATA_MAP_VERSION,
  type DataMap,
  decodeDataMap,
  encodeDataMap,
  NotAFileError,
  parseFileName,
} from './data-map.js';
export {
  MIN_CHUNK_BYTES,
  type Progress,
  type PutOptions,
  putBytes,
  putFile,
  putStream,
  rechunk,
  type StoredFile,
  statLocalFile,
} from './file-put.js';

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
