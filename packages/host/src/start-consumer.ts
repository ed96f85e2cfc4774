import { setTimeout as sleep } from 'node:timers/promises';
import { type Envelope, type Identity, type ReceiveResult, type Replica, type SafeError, UnavailableError } from '@safe/core';
import { KafkaGroupConsumer } from '@safe/kafka';
import type { StartContext } from './replica-context.js';
import type { KafkaClients } from './start-connections.js';
import { cached, describe, startStep } from './start-step.js';
import type { CopyTraces, OtelTelemetry } from './telemetry.js';

/** The replica once it exists: copies (from the group bus or gRPC) that arrive before then wait for it. */
export class PendingReplica<S> {
  readonly promise: Promise<Replica<S>>;
  #ready: (replica: Replica<S>) => void = () => {};
  #failed: (error: Error) => void = () => {};

  constructor() {
    this.promise = new Promise<Replica<S>>((done, fail) => {
      this.#ready = done;
      this.#failed = fail;
    });
    this.promise.catch(() => undefined);
  }

  ready(replica: Replica<S>): void {
    this.#ready(replica);
  }

  /** The start failed: copies waiting for the replica are rejected as unavailable. */
  abandon(): void {
    this.#failed(new UnavailableError('the replica did not start'));
  }
}

export interface GroupConsumerDeps<S> {
  readonly identity: Identity;
  readonly kafka: KafkaClients;
  readonly telemetry: OtelTelemetry;
  readonly copies: CopyTraces;
  readonly replica: PendingReplica<S>;
  readonly onFatal: ((error: SafeError) => void) | undefined;
}

/**
 * The group bus, BEFORE the node announces itself. A new consumer group starts at the end of each
 * partition. Were it started after the announcement, copies sent to this node between the two
 * would be lost; started first, its start offsets are fixed before anyone addresses it, and copies
 * wait for the replica.
 */
export async function startGroupConsumer<S>(context: StartContext, deps: GroupConsumerDeps<S>): Promise<KafkaGroupConsumer> {
  const { config, persona, log, readiness, cleanup } = context;
  const { identity, kafka, telemetry, copies, replica } = deps;
  let consumerRunning = false;
  const groupConsumer = new KafkaGroupConsumer({
    brokers: kafka.brokers,
    kafka: kafka.kafka,
    persona,
    nodeName: identity.name,
    network: config.network,
    logger: log,
    telemetry,
    stopGraceMs: config.shutdownGraceMs,
    // The next copy is handled while the previous copy's offset is committed (still in order,
    // still only handled copies, everything handled committed on a graceful stop). An awaited
    // commit per copy took ~40-50 ms of a replica's one-at-a-time loop on the local stack, for
    // every copy of its persona's topic, its own or not. A crash may redeliver the copies of one
    // commit round trip: the accumulator counts copies by sender and the firewall answers repeats.
    commit: 'coalesced',
    // Reads only the partitions of this replica's XOR neighbourhood once it is given the view (follow).
    closeGroupSize: config.closeGroupSize,
    onFatal: (error) => {
      consumerRunning = false;
      log.error({ err: error.message }, 'the group-bus consumer stopped for good');
      deps.onFatal?.(error);
    },
  });
  const deliver = async (envelope: Envelope): Promise<void> => {
    const target = await replica.promise;
    const result: ReceiveResult = await copies.deliver(envelope, (e) => target.receive(e));
    // Transient trouble (Redis, Postgres or Kafka unreachable): the consumer tries this copy again.
    // Any other rejection (bad signature, wrong sender, ...) is decided: logged and counted by the runtime, committed past.
    if (typeof result !== 'string' && result.rejected.kind === 'unavailable') throw result.rejected;
  };
  // Stopped by the shutdown even if its start fails half-way.
  cleanup.defer('consumer', async () => {
    await cleanup.attempt('stopping the consumer', () => groupConsumer.stop());
    consumerRunning = false;
  });
  await startStep('Kafka (consumer)', config.connectTimeoutMs * 3, async () => {
    // Just after a topic is created its partitions may not have a leader everywhere yet: try again for a while.
    for (let attempt = 1; ; attempt++) {
      try {
        return await groupConsumer.start(deliver);
      } catch (error) {
        if (attempt >= 10 || readiness.phase === 'stopping') throw error;
        log.warn({ attempt, err: describe(error) }, 'group-bus consumer did not start; trying again');
        await sleep(Math.min(250 * attempt, 2000), undefined, { ref: false });
      }
    }
  });
  consumerRunning = true;
  const kafkaCheck = cached(2000, async () => {
    if (!consumerRunning) return false;
    await kafka.admin.describeCluster();
    return true;
  });
  readiness.require('kafka', 'kafka: not connected', kafkaCheck);
  return groupConsumer;
}
