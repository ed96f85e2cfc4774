import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkCache, cacheLimits } from './chunk-cache.js';
import { DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES, DEFAULT_GROUP_PARAMETERS } from './config.js';
import { NAME_BYTES, nameOf, toHex } from './name.js';

/** Small chunks, some of them the same content (a second offer of a chunk already cached). */
const content = fc.uint8Array({ minLength: 0, maxLength: 48 });

type Op =
  | { kind: 'insert'; content: Uint8Array }
  | { kind: 'forged'; content: Uint8Array; other: Uint8Array }
  | { kind: 'get'; content: Uint8Array }
  | { kind: 'evict'; content: Uint8Array };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: content.map((c) => ({ kind: 'insert' as const, content: c })) },
  { weight: 1, arbitrary: fc.tuple(content, content).map(([c, other]) => ({ kind: 'forged' as const, content: c, other })) },
  { weight: 2, arbitrary: content.map((c) => ({ kind: 'get' as const, content: c })) },
  { weight: 1, arbitrary: content.map((c) => ({ kind: 'evict' as const, content: c })) },
);
const limits = fc.record({ maxBytes: fc.integer({ min: 0, max: 200 }), maxEntries: fc.integer({ min: 0, max: 6 }) });

describe('ChunkCache', () => {
  it('keeps to both bounds and evicts oldest first, as a FIFO model of the same operations does', () => {
    fc.assert(
      fc.property(limits, fc.array(op, { maxLength: 80 }), (bounds, ops) => {
        const cache = new ChunkCache(bounds);
        const enabled = bounds.maxBytes > 0 && bounds.maxEntries > 0;
        // The model: names and sizes, oldest first.
        let model: { key: string; size: number }[] = [];
        const modelBytes = () => model.reduce((sum, e) => sum + e.size, 0);
        let evictions = 0;
        for (const step of ops) {
          const key = toHex(nameOf(step.content));
          if (step.kind === 'insert') {
            const fits = enabled && step.content.length <= bounds.maxBytes;
            if (fits && !model.some((e) => e.key === key)) {
              while (model.length > 0 && (modelBytes() + step.content.length > bounds.maxBytes || model.length >= bounds.maxEntries)) {
                model = model.slice(1);
                evictions++;
              }
              model.push({ key, size: step.content.length });
            }
            expect(cache.insert(nameOf(step.content), step.content)).toBe(fits);
          } else if (step.kind === 'forged') {
            const same = toHex(nameOf(step.other)) === key;
            // Content that does not hash to the name never goes in, whatever room there is.
            if (!same) expect(cache.insert(nameOf(step.other), step.content)).toBe(false);
          } else if (step.kind === 'get') {
            const got = cache.get(nameOf(step.content));
            expect(got === undefined).toBe(!model.some((e) => e.key === key));
          } else {
            expect(cache.evict(nameOf(step.content))).toBe(model.some((e) => e.key === key));
            model = model.filter((e) => e.key !== key);
          }
          const { bytes, entries } = cache.stats;
          expect(bytes).toBeLessThanOrEqual(bounds.maxBytes);
          expect(entries).toBeLessThanOrEqual(bounds.maxEntries);
          expect(cache.names()).toEqual(model.map((e) => e.key));
          expect(bytes).toBe(modelBytes());
        }
        expect(cache.stats.evictions).toBe(evictions);
      }),
    );
  });

  it('never returns content that does not hash to its name, even when callers change their buffers', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(content, content, fc.boolean()), { maxLength: 40 }), (pairs) => {
        const cache = new ChunkCache({ maxBytes: 10_000, maxEntries: 100 });
        for (const [chunk, other, forge] of pairs) {
          const name = nameOf(chunk);
          const offered = forge ? other : chunk.slice();
          cache.insert(name, offered);
          // The caller scribbles on what it offered and on what it got back.
          offered.fill(0xee);
          cache.get(name)?.fill(0xdd);
        }
        for (const [chunk, other] of pairs) {
          for (const name of [nameOf(chunk), nameOf(other)]) {
            const got = cache.get(name);
            if (got !== undefined) expect(toHex(nameOf(got))).toBe(toHex(name));
          }
        }
      }),
    );
  });

  it('a hit returns byte-identical content and counts hits, misses, inserts and refusals', () => {
    fc.assert(
      fc.property(fc.uniqueArray(content, { selector: (c) => toHex(c), minLength: 1, maxLength: 20 }), (chunks) => {
        const cache = new ChunkCache({ maxBytes: 10_000, maxEntries: 100 });
        for (const chunk of chunks) cache.insert(nameOf(chunk), chunk);
        for (const chunk of chunks) expect(cache.get(nameOf(chunk))).toEqual(chunk);
        // Longer than any generated chunk: never cached.
        expect(cache.get(nameOf(new Uint8Array(49)))).toBeUndefined();
        expect(cache.stats).toMatchObject({ hits: chunks.length, misses: 1, inserts: chunks.length, rejected: 0, entries: chunks.length });
      }),
    );
  });

  it('refuses a name of the wrong length and a chunk larger than the whole cache; 0 disables it', () => {
    const cache = new ChunkCache({ maxBytes: 4, maxEntries: 10 });
    expect(cache.insert(new Uint8Array(NAME_BYTES - 1), new Uint8Array(0))).toBe(false);
    expect(cache.insert(nameOf(new Uint8Array(5)), new Uint8Array(5))).toBe(false);
    expect(cache.get(new Uint8Array(3))).toBeUndefined();
    expect(cache.stats).toMatchObject({ rejected: 2, misses: 1, entries: 0 });
    for (const off of [new ChunkCache({ maxBytes: 0, maxEntries: 10 }), new ChunkCache({ maxBytes: 100, maxEntries: 0 })]) {
      expect(off.enabled).toBe(false);
      expect(off.insert(nameOf(Uint8Array.of(1)), Uint8Array.of(1))).toBe(false);
      expect(off.get(nameOf(Uint8Array.of(1)))).toBeUndefined();
    }
  });

  it('takes its limits from the group parameters, with the documented defaults', () => {
    expect(cacheLimits(DEFAULT_GROUP_PARAMETERS)).toEqual({ maxBytes: 64 * 1024 * 1024, maxEntries: 1024 });
    const { cacheBytes: _b, cacheEntries: _e, ...without } = DEFAULT_GROUP_PARAMETERS;
    expect(cacheLimits(without)).toEqual({ maxBytes: DEFAULT_CACHE_BYTES, maxEntries: DEFAULT_CACHE_ENTRIES });
    expect(cacheLimits({ ...without, cacheBytes: 0 }).maxBytes).toBe(0);
  });
});
