import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, SafeError } from '@safe/core';
import { describeKafkaError, kafkaUnavailable } from './connect.js';

/** How long a consumer kafkajs gave up on is started again before the replica is told it is fatal. */
const RESTART_FOR_MS = 300_000;

/** What starting a crashed consumer again needs of it. */
export interface RestartContext {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly log: Logger;
  readonly onFatal: ((error: SafeError) => void) | undefined;
  /** True once stop() began. */
  stopping(): boolean;
  /** Starts the consumer from its committed offsets; rejects when Kafka cannot be reached. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * kafkajs gives a consumer up for good on errors it deems final, some of which only mean the
 * broker is restarting ("Failed to find group coordinator"): the consumer is started again, with
 * backoff, from its committed offsets; only if Kafka stays away for RESTART_FOR_MS is it fatal.
 */
export async function restartAfterCrash(context: RestartContext, cause: unknown): Promise<void> {
  const until = Date.now() + RESTART_FOR_MS;
  for (let attempt = 1; !context.stopping(); attempt++) {
    try {
      await context.start();
      context.log.info({ attempt }, 'Kafka consumer started again after a crash');
      // A stop that came while it was starting found no consumer to stop.
      if (context.stopping()) await context.stop();
      return;
    } catch (error) {
      if (Date.now() >= until) {
        context.onFatal?.(kafkaUnavailable(context.brokers, `consumer ${context.groupId} stopped for good`, error ?? cause));
        return;
      }
      context.log.warn({ attempt, error: describeKafkaError(error) }, 'Kafka consumer cannot start again yet; trying again');
      await sleep(Math.min(1_000 * attempt, 5_000), undefined, { ref: false });
    }
  }
}
