import { setTimeout as sleep } from 'node:timers/promises';
import type { Envelope, Logger, Telemetry } from '@safe/core';
import type { KafkaMessage } from 'kafkajs';
import { describeKafkaError } from './connect.js';
import { fromKafkaMessage } from './record.js';

/** What handing one record to `deliver` needs of its consumer; the signals are read live (a restart renews them). */
export interface DeliveryContext {
  readonly topic: string;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly heartbeatIntervalMs: number;
  readonly deliverRetry: { readonly initialMs: number; readonly maxMs: number };
  /** True once stop() began. */
  stopping(): boolean;
  /** Resolves once stop() began. */
  stopRequested(): Promise<void>;
  /** Resolves when the copy being handled is to be given up (the stop's grace ran out). */
  abandoned(): Promise<void>;
}

const DONE = Symbol('done');
const ABANDONED = Symbol('abandoned');

/** The record's envelope; undefined (logged, counted) for a record that does not decode. */
export function decodeRecord(context: DeliveryContext, topic: string, partition: number, message: KafkaMessage): Envelope | undefined {
  try {
    return fromKafkaMessage(message);
  } catch (error) {
    context.log.warn(
      { topic, partition, offset: message.offset, key: message.key?.toString('utf8').slice(0, 32), error: describeKafkaError(error) },
      'undecodable record on the group bus; skipped',
    );
    context.telemetry.count('safe_bus_undecodable_total', { topic });
    return undefined;
  }
}

/** True once `deliver` resolved; false when the consumer is stopping and the copy was left unhandled. */
export async function deliverOne(
  context: DeliveryContext,
  envelope: Envelope,
  deliver: (envelope: Envelope) => Promise<void>,
  heartbeat: () => Promise<void>,
  partition: number,
  offset: string,
): Promise<boolean> {
  const { log: logger, deliverRetry } = context;
  // kafkajs heartbeats only between records; keep the membership alive while one takes long.
  const keepAlive = setInterval(() => void heartbeat().catch(() => {}), context.heartbeatIntervalMs);
  keepAlive.unref();
  try {
    for (let attempt = 1; ; attempt++) {
      const outcome = await Promise.race([
        Promise.resolve()
          .then(() => deliver(envelope))
          .then(
            (): typeof DONE => DONE,
            (error: unknown) => ({ error }),
          ),
        context.abandoned().then((): typeof ABANDONED => ABANDONED),
      ]);
      if (outcome === DONE) return true;
      if (outcome === ABANDONED) {
        logger.warn({ partition, offset, type: envelope.type }, 'stopped while a copy was being handled; it comes again on the next start');
        return false;
      }
      context.telemetry.count('safe_bus_deliver_errors_total', { topic: context.topic });
      const wait = Math.min(deliverRetry.initialMs * 2 ** Math.min(attempt - 1, 20), deliverRetry.maxMs);
      const log = attempt === 1 || (attempt & (attempt - 1)) === 0 ? logger.error.bind(logger) : logger.debug.bind(logger);
      log(
        { partition, offset, type: envelope.type, attempt, retryInMs: wait, error: describeKafkaError(outcome.error) },
        'handling a copy failed; retrying it',
      );
      if (context.stopping()) return false;
      const slept = await Promise.race([
        sleep(wait, undefined, { ref: false }).then(() => true),
        context.stopRequested().then(() => false),
      ]);
      if (!slept) return false;
    }
  } finally {
    clearInterval(keepAlive);
  }
}
