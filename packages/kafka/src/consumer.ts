import {
  type Envelope,
  FailedPreconditionError,
  type GroupBusConsumer,
  type Logger,
  type Name,
  noTelemetry,
  SafeError,
  silentLogger,
  type Telemetry,
} from '@safe/core';
import type { Consumer, Kafka } from 'kafkajs';
import { type BatchContext, eachBatch } from './batch.js';
import { BOUNDED_RETRY, createKafka, describeKafkaError, kafkaUnavailable, parseBrokers } from './connect.js';
import { DEFAULT_FETCH_BYTES, DEFAULT_FETCH_BYTES_PER_PARTITION, type KafkaGroupConsumerOptions } from './consumer-options.js';
import { restartAfterCrash } from './restart.js';
import { PartitionFollower } from './served-partitions.js';
import { allPartitions, type ConsumerGroupSpec, startOffsetsOnceLed } from './start-offsets.js';
import { deferred } from './timing.js';
import { groupIdFor, topicFor } from './topics.js';

/**
 * One replica's reader of its persona's topic, in a consumer group of its own. Copies are handed
 * to `deliver` one at a time, in partition order; an offset is committed only after `deliver`
 * resolved for that copy, so a restart with the same node name resumes exactly after the last
 * handled copy. A record that does not decode is logged, counted
 * (`safe_bus_undecodable_total`) and committed past. When `deliver` rejects, the same copy is
 * tried again with backoff (it is never skipped); `deliver` should therefore resolve for every
 * copy it has decided about (rejected copies included) and reject only on transient trouble.
 *
 * Addressed delivery (see the README): copies are partitioned by the range of their destination
 * NAE, and once `follow` gave it its persona's members the consumer reads only the partitions
 * where this replica can be in a close group, pausing the others. Until then it reads them all.
 */
export class KafkaGroupConsumer implements GroupBusConsumer {
  readonly #kafka: Kafka;
  readonly #brokers: string[];
  readonly #log: Logger;
  readonly #telemetry: Telemetry;
  readonly #topic: string;
  readonly #groupId: string;
  readonly #fromBeginning: boolean;
  readonly #stopGraceMs: number;
  readonly #maxWaitTimeMs: number;
  readonly #maxBytesPerPartition: number;
  readonly #maxBytes: number;
  readonly #sessionTimeoutMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #onFatal: ((error: SafeError) => void) | undefined;
  #consumer: Consumer | undefined;
  /** start() is done: follow() acts at once. */
  #running = false;
  #stopping = false;
  #stopRequested = deferred();
  #abandon = deferred();
  readonly #spec: ConsumerGroupSpec;
  readonly #batch: BatchContext;
  readonly #follower: PartitionFollower;

  constructor(options: KafkaGroupConsumerOptions) {
    this.#brokers = parseBrokers(options.brokers);
    this.#topic = topicFor(options.persona, options.network);
    this.#groupId = groupIdFor(options.persona, options.nodeName, options.network);
    this.#log = (options.logger ?? silentLogger).child({ component: 'kafka-consumer', topic: this.#topic, groupId: this.#groupId });
    this.#kafka = options.kafka ?? createKafka({ ...options, logger: this.#log });
    this.#telemetry = options.telemetry ?? noTelemetry;
    this.#fromBeginning = options.fromBeginning ?? false;
    this.#stopGraceMs = options.stopGraceMs ?? 5_000;
    this.#maxWaitTimeMs = options.maxWaitTimeMs ?? 1_000;
    this.#maxBytesPerPartition = options.maxBytesPerPartition ?? DEFAULT_FETCH_BYTES_PER_PARTITION;
    this.#maxBytes = options.maxBytes ?? DEFAULT_FETCH_BYTES;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
    this.#onFatal = options.onFatal;
    this.#spec = {
      kafka: this.#kafka,
      brokers: this.#brokers,
      topic: this.#topic,
      groupId: this.#groupId,
      fromBeginning: this.#fromBeginning,
      replayWindowMs: options.replayWindowMs ?? 300_000,
      log: this.#log,
    };
    // The signals are read live: a restart renews them.
    const stopping = () => this.#stopping;
    const stopRequested = () => this.#stopRequested.promise;
    this.#follower = new PartitionFollower({
      topic: this.#topic,
      nodeName: options.nodeName as Name,
      closeGroupSize: options.closeGroupSize ?? 4,
      catchUpMs: options.catchUpMs ?? 10_000,
      spec: this.#spec,
      log: this.#log,
      consumer: () => this.#consumer,
      running: () => this.#running,
      stopping,
      stopRequested,
    });
    this.#batch = {
      topic: this.#topic,
      log: this.#log,
      telemetry: this.#telemetry,
      heartbeatIntervalMs: this.#heartbeatIntervalMs,
      deliverRetry: options.deliverRetry ?? { initialMs: 200, maxMs: 5_000 },
      commit: options.commit ?? 'each',
      stopping,
      stopRequested,
      abandoned: () => this.#abandon.promise,
      serves: (partition) => this.#follower.serves(partition),
      advance: (partition, next) => this.#follower.advance(partition, next),
    };
  }

  /** The partitions this consumer reads now, ascending (every one until `follow` gave it a view). */
  get served(): number[] {
    return this.#follower.served;
  }

  /**
   * Reads, from now on, only the partitions where this replica can be in a close group among
   * `names` (its persona's members as its routing view has them, itself included or not):
   * servedPartitions with K = closeGroupSize. A partition no longer served is paused at once; one
   * newly served is read from `catchUpMs` before this call (or from where it stopped, if later).
   * Called before start, it applies once the consumer started.
   */
  follow(names: readonly Uint8Array[]): void {
    this.#follower.follow(names);
  }

  get topic(): string {
    return this.#topic;
  }

  get groupId(): string {
    return this.#groupId;
  }

  /**
   * Resolves once the consumer joined its group and its start offsets are fixed: every copy
   * published after that is delivered. Rejects with UnavailableError (naming Kafka and the
   * brokers) when Kafka cannot be reached, FailedPreconditionError when the topic is missing.
   */
  async start(deliver: (envelope: Envelope) => Promise<void>): Promise<void> {
    if (this.#consumer) throw new FailedPreconditionError(`Kafka consumer ${this.#groupId} is already started`);
    this.#stopping = false;
    this.#stopRequested = deferred();
    this.#abandon = deferred();
    await this.#start(deliver);
  }

  async #start(deliver: (envelope: Envelope) => Promise<void>): Promise<void> {
    this.#running = false;
    this.#follower.readAll();

    const { partitions, pins, positions } = await startOffsetsOnceLed(this.#spec);
    this.#follower.startAt(partitions, positions);

    const consumer = this.#kafka.consumer({
      groupId: this.#groupId,
      sessionTimeout: this.#sessionTimeoutMs,
      heartbeatInterval: this.#heartbeatIntervalMs,
      maxWaitTimeInMs: this.#maxWaitTimeMs,
      maxBytesPerPartition: this.#maxBytesPerPartition,
      maxBytes: this.#maxBytes,
      allowAutoTopicCreation: false,
      retry: { ...BOUNDED_RETRY, restartOnFailure: async () => true },
    });
    this.#consumer = consumer;
    let joined = false;
    let crash: unknown;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      joined = true;
      if (this.#running && this.#consumer === consumer) this.#follower.rejoined(consumer, payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      crash = payload.error;
      this.#telemetry.count('safe_bus_consumer_crashes_total', { topic: this.#topic });
      this.#log.error({ error: describeKafkaError(payload.error), restart: payload.restart }, 'Kafka consumer crashed');
      if (!payload.restart && joined && !this.#stopping && this.#consumer === consumer)
        void this.#startAgain(consumer, deliver, payload.error);
    });

    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.#topic, fromBeginning: this.#fromBeginning });
      const running = consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => eachBatch(this.#batch, payload, deliver),
      });
      // Hold every partition until the start offsets are committed (the group exists from here on).
      const every = [{ topic: this.#topic, partitions: allPartitions(partitions) }];
      if (pins.length > 0) consumer.pause(every);
      await running;
      if (!joined) throw crash ?? new Error('the consumer did not join its group');
      if (pins.length > 0) {
        await consumer.commitOffsets(pins.map((p) => ({ topic: this.#topic, ...p })));
        consumer.resume(every);
      }
    } catch (error) {
      this.#consumer = undefined;
      await consumer.disconnect().catch(() => {});
      throw error instanceof SafeError ? error : kafkaUnavailable(this.#brokers, `starting consumer ${this.#groupId}`, error);
    }
    this.#running = true;
    this.#log.info({ pinned: pins.length, partitions, fromBeginning: this.#fromBeginning }, 'Kafka consumer started');
    this.#follower.started();
  }

  /** After a crash kafkajs does not recover from: see restartAfterCrash. */
  async #startAgain(crashed: Consumer, deliver: (envelope: Envelope) => Promise<void>, cause: unknown): Promise<void> {
    this.#running = false;
    this.#consumer = undefined;
    await crashed.disconnect().catch(() => {});
    await restartAfterCrash(
      {
        brokers: this.#brokers,
        groupId: this.#groupId,
        log: this.#log,
        onFatal: this.#onFatal,
        stopping: () => this.#stopping,
        start: () => this.#start(deliver),
        stop: () => this.stop(),
      },
      cause,
    );
  }

  /**
   * Stops at a clean offset: no new copy is started, the one in `deliver` gets `stopGraceMs` to
   * finish (and is then committed); if it does not finish it is abandoned uncommitted and comes
   * again on the next start. Leaves the group and disconnects.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    const consumer = this.#consumer;
    if (!consumer) return;
    this.#running = false;
    this.#stopRequested.resolve();
    const grace = setTimeout(() => this.#abandon.resolve(), this.#stopGraceMs);
    try {
      await consumer.disconnect();
    } catch (error) {
      this.#log.warn({ error: describeKafkaError(error) }, 'Kafka consumer disconnect failed');
    } finally {
      clearTimeout(grace);
      this.#abandon.resolve();
      this.#consumer = undefined;
    }
  }
}
