import type { Envelope, Logger, ReceiveResult } from '@safe/core';
import pRetry, { AbortError } from 'p-retry';

export interface DirectRetryOptions {
  /** How long a copy is tried again, from its first rejection. */
  readonly forMs: number;
  readonly minMs?: number;
  readonly maxMs?: number;
  /** Aborted on shutdown: the copy is given up. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * Handles a direct copy, and handles it again while the replica rejects it for trouble that may
 * pass (Postgres, Redis or Kafka unreachable), for up to `forMs`: its sender was acknowledged and
 * will not send it again, so the receiver retries, as the group-bus consumer does with a copy it
 * could not handle. Any other outcome is final.
 */
export async function handleDirect(
  envelope: Envelope,
  handle: () => Promise<ReceiveResult>,
  options: DirectRetryOptions,
): Promise<ReceiveResult> {
  const { forMs, minMs = 200, maxMs = 5_000, signal, log } = options;
  let last: ReceiveResult | undefined;
  try {
    return await pRetry(
      async () => {
        last = await handle();
        if (typeof last !== 'string' && last.rejected.kind === 'unavailable') throw last.rejected;
        return last;
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: minMs,
        maxTimeout: maxMs,
        maxRetryTime: forMs,
        signal,
        onFailedAttempt: ({ error, attemptNumber }) =>
          log.warn(
            { type: envelope.type, attempt: attemptNumber, err: error.message },
            'a direct copy could not be handled yet; trying again',
          ),
      },
    );
  } catch (error) {
    if (error instanceof AbortError || signal.aborted || last === undefined) throw error;
    log.warn({ type: envelope.type, forMs, err: error instanceof Error ? error.message : String(error) }, 'a direct copy given up');
    return last;
  }
}
