/** Timing helpers of the producer and the consumer: deadlines and one-shot signals. */

export class DeadlineError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/** Rejects with DeadlineError at `deadline` (epoch ms) unless `promise` settles first. */
export function withDeadline<T>(promise: Promise<T>, deadline: number, budgetMs: number): Promise<T> {
  const left = deadline - Date.now();
  if (left <= 0) {
    promise.catch(() => {});
    return Promise.reject(new DeadlineError(budgetMs));
  }
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(budgetMs)), left);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

export interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
