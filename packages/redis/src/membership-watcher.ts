import type { MemberAnnouncement } from '@safe/core';

/** One `watch` callback of RedisMembership: called with the set when it changed, at most once per `pollMs`. */
export class Watcher {
  readonly #onChange: (members: MemberAnnouncement[]) => void;
  readonly #pollMs: number;
  readonly #report: (error: unknown) => void;
  /** The set last handed to onChange; the empty set before the first call. */
  #delivered = '';
  #latest: { members: MemberAnnouncement[]; signature: string } | undefined;
  #lastCallAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(onChange: (members: MemberAnnouncement[]) => void, pollMs: number, report: (error: unknown) => void) {
    this.#onChange = onChange;
    this.#pollMs = pollMs;
    this.#report = report;
  }

  /** A fresh read of the set: delivered now, or at the end of this watcher's quiet period (coalesced). */
  offer(members: MemberAnnouncement[], signature: string): void {
    this.#latest = { members, signature };
    if (this.#timer !== undefined) return;
    const wait = this.#lastCallAt + this.#pollMs - performance.now();
    if (wait <= 0) {
      this.#deliver();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#deliver();
    }, wait);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #deliver(): void {
    const latest = this.#latest;
    if (latest === undefined || latest.signature === this.#delivered) return;
    this.#delivered = latest.signature;
    this.#lastCallAt = performance.now();
    try {
      this.#onChange(latest.members);
    } catch (error) {
      this.#report(error);
    }
  }
}
