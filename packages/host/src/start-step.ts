import { ConfigError, UnavailableError } from '@safe/core';

/** A dependency that did not answer at start-up; the message names it. The process exits 1. */
export class StartupError extends UnavailableError {}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Rejects with a StartupError naming `what` when `promise` fails or takes longer than `ms`. */
export async function startStep<T>(what: string, ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, fail) => {
        timer = setTimeout(() => fail(new Error(`no answer within ${ms} ms`)), ms);
        timer.unref();
      }),
    ]);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const message = describe(error);
    throw new StartupError(message.toLowerCase().includes(what.toLowerCase()) ? message : `${what}: ${message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A check whose answer is reused for `ms` (readiness probes must not hammer a dependency). */
export function cached(ms: number, check: () => Promise<boolean>): () => Promise<boolean> {
  let last: { at: number; ok: Promise<boolean> } | undefined;
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at > ms) last = { at: now, ok: check().catch(() => false) };
    return last.ok;
  };
}
