import type { Clock } from '../ports.js';
import {
  type AccumulationResult,
  type AccumulatorStore,
  type EntryStore,
  type FirewallRecord,
  type FirewallStore,
  systemClock,
} from '../ports.js';

/** Expiring map used by the in-memory stores; expiry is checked lazily and swept on writes. */
class ExpiringMap<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #clock: Clock;
  #writes = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#clock.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.#entries.set(key, { value, expires: this.#clock.now() + ttlMs });
    if (++this.#writes % 1024 === 0) this.sweep();
  }

  sweep(): void {
    const now = this.#clock.now();
    for (const [key, entry] of this.#entries) if (entry.expires <= now) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}

export class MemoryAccumulatorStore implements AccumulatorStore {
  readonly #map: ExpiringMap<{ senders: Set<string>; reached: boolean }>;

  constructor(clock: Clock = systemClock) {
    this.#map = new ExpiringMap(clock);
  }

  async add(id: string, sender: string, quorum: number, ttlMs: number): Promise<AccumulationResult> {
    const entry = this.#map.get(id) ?? { senders: new Set<string>(), reached: false };
    const repeat = entry.senders.has(sender);
    entry.senders.add(sender);
    const reached = !entry.reached && entry.senders.size >= quorum;
    if (reached) entry.reached = true;
    this.#map.set(id, entry, ttlMs);
    return { count: entry.senders.size, reached, repeat };
  }
}

export class MemoryFirewallStore implements FirewallStore {
  readonly #map: ExpiringMap<FirewallRecord>;

  constructor(clock: Clock = systemClock) {
    this.#map = new ExpiringMap(clock);
  }

  async admit(id: string, ttlMs: number): Promise<FirewallRecord | null> {
    const existing = this.#map.get(id);
    if (existing !== undefined) return existing;
    this.#map.set(id, { state: 'syncing' }, ttlMs);
    return null;
  }

  async lookup(id: string): Promise<FirewallRecord | null> {
    return this.#map.get(id) ?? null;
  }

  async record(id: string, record: FirewallRecord, ttlMs: number): Promise<void> {
    this.#map.set(id, record, ttlMs);
  }
}

export class MemoryEntryStore<T> implements EntryStore<T> {
  readonly #map = new Map<string, T>();

  async get(key: string): Promise<T | undefined> {
    return this.#map.get(key);
  }

  async set(key: string, value: T): Promise<void> {
    this.#map.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.#map.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...this.#map.keys()];
  }

  async entries(): Promise<[string, T][]> {
    return [...this.#map.entries()];
  }
}
