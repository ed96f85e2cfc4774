/** Runs jobs one at a time, in the order they were queued; a failed job does not stop the ones after it. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(job);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Waits for everything queued so far. */
  async idle(): Promise<void> {
    await this.#tail;
  }
}
