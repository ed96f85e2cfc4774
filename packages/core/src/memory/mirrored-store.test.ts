import { describe, expect, it } from 'vitest';
import type { EntryStore } from '../ports.js';
import { MirroredEntryStore } from './mirrored-store.js';
import { MemoryEntryStore } from './stores.js';

/** A backing store that counts its reads and can be made to fail its writes. */
function backing(): { store: EntryStore<number>; reads: () => number; failWrites: (fail: boolean) => void } {
  const inner = new MemoryEntryStore<number>();
  let reads = 0;
  let failing = false;
  const write =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      if (failing) throw new Error('backing store unreachable');
      await fn(...args);
    };
  return {
    store: {
      get: (key) => {
        reads += 1;
        return inner.get(key);
      },
      keys: () => {
        reads += 1;
        return inner.keys();
      },
      entries: () => {
        reads += 1;
        return inner.entries();
      },
      set: write((key: string, value: number) => inner.set(key, value)),
      delete: write((key: string) => inner.delete(key)),
    },
    reads: () => reads,
    failWrites: (fail) => {
      failing = fail;
    },
  };
}

describe('MirroredEntryStore', () => {
  it('reads the backing store once, then answers from memory what it wrote through', async () => {
    const b = backing();
    await b.store.set('old', 1);
    const mirrored = new MirroredEntryStore(b.store);
    expect(await mirrored.get('old')).toBe(1);
    await mirrored.set('a', 2);
    await mirrored.delete('old');
    expect(await mirrored.get('a')).toBe(2);
    expect(await mirrored.get('old')).toBeUndefined();
    expect(await mirrored.keys()).toEqual(['a']);
    expect(await mirrored.entries()).toEqual([['a', 2]]);
    expect(b.reads()).toBe(1);
    // Written through: a new mirror (a restarted replica) reads the same.
    expect(await new MirroredEntryStore(b.store).entries()).toEqual([['a', 2]]);
  });

  it('changes nothing when the backing store refuses a write', async () => {
    const b = backing();
    const mirrored = new MirroredEntryStore(b.store);
    await mirrored.set('a', 1);
    b.failWrites(true);
    await expect(mirrored.set('a', 2)).rejects.toThrow('unreachable');
    await expect(mirrored.delete('a')).rejects.toThrow('unreachable');
    expect(await mirrored.get('a')).toBe(1);
    b.failWrites(false);
    expect(await new MirroredEntryStore(b.store).get('a')).toBe(1);
  });

  it('tries the load again after it failed', async () => {
    let fail = true;
    const inner = new MemoryEntryStore<number>();
    await inner.set('k', 7);
    const flaky: EntryStore<number> = {
      ...inner,
      get: (key) => inner.get(key),
      keys: () => inner.keys(),
      set: (key, value) => inner.set(key, value),
      delete: (key) => inner.delete(key),
      entries: async () => {
        if (fail) throw new Error('not yet');
        return inner.entries();
      },
    };
    const mirrored = new MirroredEntryStore(flaky);
    await expect(mirrored.get('k')).rejects.toThrow('not yet');
    fail = false;
    expect(await mirrored.get('k')).toBe(7);
  });
});
