import type { Name } from '@safe/core';

/**
 * Where a file's chunks go: the port files.ts is written against. SafeClient implements it over
 * the network's Gateway; tests implement it over a Map.
 */
export interface ChunkStore {
  /** Stores one immutable chunk (at most MAX_CHUNK_BYTES) and returns its name, SHA-512 of the content. */
  put(content: Uint8Array): Promise<Name>;
  /** The content of the chunk `name`; throws a SafeError of kind 'not-found' if there is none. */
  get(name: Name): Promise<Uint8Array>;
  /** Gives up this client's claim on the chunk `name`; false if it had none (nothing changed). */
  delete(name: Name): Promise<boolean>;
}

/** Chunks in flight at once, by default. */
export const DEFAULT_CONCURRENCY = 4;

/** Deletes each name; how many of them this client held a claim on. */
export async function deleteAll(store: ChunkStore, names: readonly Name[], concurrency: number, bestEffort = false): Promise<number> {
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
