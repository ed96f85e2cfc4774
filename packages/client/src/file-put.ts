import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { asSafeError, ContentMismatchError, type Name, nameOf, SafeError, toHex } from '@safe/core';
import { type ChunkStore, DEFAULT_CONCURRENCY, deleteAll } from './chunk-store.js';
import { type ChunkRef, type DataMap, encodeDataMap } from './data-map.js';

/** Smallest chunk size a caller may choose: a map with one entry must fit in a chunk, or nesting never ends. */
export const MIN_CHUNK_BYTES = 1024;

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

/** Stores bytes held in memory as a file. */
export function putBytes(store: ChunkStore, bytes: Uint8Array, options: PutOptions = {}): Promise<StoredFile> {
  return putStream(store, fromBytes(bytes), { totalBytes: bytes.length, ...options });
}
