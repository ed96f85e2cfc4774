import { DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES, type GroupParameters } from './config.js';
import { contentDigest } from './content.js';
import { NAME_BYTES, nameEquals, toHex } from './name.js';

export interface ChunkCacheLimits {
  /** Most bytes of content kept; 0 keeps nothing. */
  readonly maxBytes: number;
  /** Most chunks kept; 0 keeps nothing. */
  readonly maxEntries: number;
}

export interface ChunkCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly inserts: number;
  readonly evictions: number;
  /** Offers refused: content that does not hash to its name, or larger than the whole cache. */
  readonly rejected: number;
  readonly bytes: number;
  readonly entries: number;
}

/** The cache limits of SPEC.md 5 (SAFE_CACHE_BYTES, SAFE_CACHE_ENTRIES), with their defaults when not given. */
export function cacheLimits(params: GroupParameters): ChunkCacheLimits {
  return { maxBytes: params.cacheBytes ?? DEFAULT_CACHE_BYTES, maxEntries: params.cacheEntries ?? DEFAULT_CACHE_ENTRIES };
}

/**
 * The opportunistic cache of SPEC.md 4 ("every node on a Get reply path keeps cacheable data"):
 * FIFO, in memory, bounded by bytes and by entries. Only self-validating immutable chunks go in
 * (the content must hash to its name), so a hit can be served as the network's answer without
 * asking anyone. Content is copied in and out: no caller can change what the cache holds.
 */
export class ChunkCache {
  readonly limits: ChunkCacheLimits;
  /** name (hex) → content; a Map iterates in insertion order, which is FIFO's eviction order. */
  readonly #entries = new Map<string, Uint8Array>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #inserts = 0;
  #evictions = 0;
  #rejected = 0;

  constructor(limits: ChunkCacheLimits) {
    this.limits = { maxBytes: Math.max(0, limits.maxBytes), maxEntries: Math.max(0, limits.maxEntries) };
  }

  get enabled(): boolean {
    return this.limits.maxBytes > 0 && this.limits.maxEntries > 0;
  }

  /** The content of chunk `name`, counted as a hit or a miss. */
  get(name: Uint8Array): Uint8Array | undefined {
    const content = name.length === NAME_BYTES ? this.#entries.get(toHex(name)) : undefined;
    if (content === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return content.slice();
  }

  /**
   * Keeps `content` as chunk `name` if it hashes to it (the digest its message's content was
   * checked against, not a second hash), evicting the oldest chunks to make room. True when the chunk is in the cache afterwards. A chunk already there keeps its place (FIFO, not LRU).
   */
  insert(name: Uint8Array, content: Uint8Array): boolean {
    if (!this.enabled) return false;
    const key = name.length === NAME_BYTES ? toHex(name) : undefined;
    if (key === undefined || content.length > this.limits.maxBytes || !nameEquals(contentDigest(content), name)) {
      this.#rejected++;
      return false;
    }
    if (this.#entries.has(key)) return true;
    while (
      this.#entries.size > 0 &&
      (this.#bytes + content.length > this.limits.maxBytes || this.#entries.size >= this.limits.maxEntries)
    ) {
      const oldest = this.#entries.keys().next().value as string;
      this.#remove(oldest);
      this.#evictions++;
    }
    this.#entries.set(key, content.slice());
    this.#bytes += content.length;
    this.#inserts++;
    return true;
  }

  /** Forgets chunk `name` (a Delete passed through); true if it was there. */
  evict(name: Uint8Array): boolean {
    return name.length === NAME_BYTES && this.#remove(toHex(name));
  }

  /** Names in the cache, oldest first. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  get stats(): ChunkCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      inserts: this.#inserts,
      evictions: this.#evictions,
      rejected: this.#rejected,
      bytes: this.#bytes,
      entries: this.#entries.size,
    };
  }

  #remove(key: string): boolean {
    const content = this.#entries.get(key);
    if (content === undefined) return false;
    this.#entries.delete(key);
    this.#bytes -= content.length;
    return true;
  }
}
