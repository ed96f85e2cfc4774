import type { EntryStore } from './ports.js';

/**
 * When a store's periodic sweep (a tick reading every entry) next has work to do. A sweep says
 * when its entries next need it; ticks before then skip the read, and any write to the store
 * (which may bring work sooner) ends the quiet. A replica at rest then reads nothing each tick.
 */
export class SweepSchedule {
  #quietUntil = 0;

  /** `store`, with every write ending the quiet. */
  watch<T>(store: EntryStore<T>): EntryStore<T> {
    const wake = () => {
      this.#quietUntil = 0;
    };
    return {
      get: (key) => store.get(key),
      keys: () => store.keys(),
      entries: () => store.entries(),
      set: (key, value) => store.set(key, value).finally(wake),
      delete: (key) => store.delete(key).finally(wake),
    };
  }

  /** Whether a sweep at `now` may find work. */
  due(now: number): boolean {
    return now >= this.#quietUntil;
  }

  /** The sweep that just ran found nothing due before `at` (its own writes are behind it). */
  quietUntil(at: number): void {
    this.#quietUntil = at;
  }
}
