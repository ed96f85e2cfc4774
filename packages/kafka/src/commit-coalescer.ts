/** At most one offset commit in flight; offers made meanwhile collapse into the newest. */
export class CommitCoalescer {
  readonly #commit: (offset: string) => Promise<void>;
  #pending: string | undefined;
  #running: Promise<void> | undefined;
  #failed: { error: unknown } | undefined;

  constructor(commit: (offset: string) => Promise<void>) {
    this.#commit = commit;
  }

  offer(offset: string): void {
    if (this.#failed) throw this.#failed.error;
    this.#pending = offset;
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending !== undefined) {
        const offset = this.#pending;
        this.#pending = undefined;
        await this.#commit(offset);
      }
    } catch (error) {
      this.#failed = { error };
    } finally {
      this.#running = undefined;
    }
  }

  /** Waits until everything offered is committed; throws the commit error, if any. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
    if (this.#failed) throw this.#failed.error;
  }
}
