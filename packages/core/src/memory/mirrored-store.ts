import type { EntryStore } from '../ports.js';

/**
 * An entry store that one process alone owns (a replica's sync or transfer entries), mirrored in
 * memory: read from the mirror, written through to `backing` before the mirror changes. On the
 * real stack every sync step read its entry from Redis, the commonest call of a put (HGET, about
 * 1,200 per chunk); no other process writes the replica's keys, so the mirror cannot go stale.
 * Loaded from `backing` on first use, so a restarted replica reads what it wrote before.
 */
export class MirroredEntryStore<T> implements EntryStore<T> {
  readonly #backing: EntryStore<T>;
  #mirror: Promise<Map<string, T>> | undefined;

  constructor(backing: EntryStore<T>) {
    this.#backing = backing;
  }

  #loaded(): Promise<Map<string, T>> {
    if (this.#mirror === undefined) {
      const loading = this.#backing.entries().then((entries) => new Map(entries));
      // A failed load is tried again on the next call, not remembered.
      loading.catch(() => {
        if (this.#mirror === loading) this.#mirror = undefined;
      });
      this.#mirror = loading;
    }
    return this.#mirror;
  }

  async get(key: string): Promise<T | undefined> {
    return (await this.#loaded()).get(key);
  }

  async set(key: string, value: T): Promise<void> {
    const mirror = await this.#loaded();
    await this.#backing.set(key, value);
    mirror.set(key, value);
  }

  async delete(key: string): Promise<void> {
    const mirror = await this.#loaded();
    await this.#backing.delete(key);
    mirror.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...(await this.#loaded()).keys()];
  }

  async entries(): Promise<[string, T][]> {
    return [...(await this.#loaded()).entries()];
  }
}
