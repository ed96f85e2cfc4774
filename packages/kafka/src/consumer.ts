import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Envelope,
  FailedPreconditionError,
  type GroupBusConsumer,
  type Logger,
  type Name,
  noTelemetry,
  SafeError,
  servedPartitions,
  silentLogger,
  type Telemetry,
} from '@safe/core';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { CommitCoalescer } from './commit-coalescer.js';
import { BOUNDED_RETRY, createKafka, describeKafkaError, kafkaUnavailable, parseBrokers } from './connect.js';
import { DEFAULT_FETCH_BYTES, DEFAULT_FETCH_BYTES_PER_PARTITION, type KafkaGroupConsumerOptions } from './consumer-options.js';
import { type DeliveryContext, decodeRecord, deliverOne } from './delivery.js';
import { recordBytes } from './record-bytes.js';
import { allPartitions, type ConsumerGroupSpec, offsetsByPartition, startOffsetsOnceLed, withAdmin } from './start-offsets.js';
import { deferred } from './timing.js';
import { groupIdFor, topicFor } from './topics.js';

/** How long a consumer kafkajs gave up on is started again before the replica is told it is fatal. */
const RESTART_FOR_MS = 300_000;

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
  readonly #commit: 'each' | 'coalesced';
  readonly #nodeName: Name;
  readonly #closeGroupSize: number;
  readonly #catchUpMs: number;
  #consumer: Consumer | undefined;
  /** start() is done: follow() acts at once. */
  #running = false;
  /** The topic's partition count, as found at start (or at a later join). */
  #partitions = 0;
  /** The partitions read; undefined = every one (no view yet). */
  #served: Set<number> | undefined;
  /** The members last given to follow(). */
  #view: readonly Uint8Array[] | undefined;
  /** Per partition, the offset of the next copy to read, as far as this consumer knows. */
  readonly #positions = new Map<number, bigint>();
  #following: Promise<void> | undefined;
  #followAgain = false;
  #stopping = false;
  #stopRequested = deferred();
  #abandon = deferred();
  readonly #spec: ConsumerGroupSpec;
  readonly #delivery: DeliveryContext;

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
    this.#commit = options.commit ?? 'each';
    this.#nodeName = options.nodeName as Name;
    this.#closeGroupSize = options.closeGroupSize ?? 4;
    this.#catchUpMs = options.catchUpMs ?? 10_000;
    this.#spec = {
      kafka: this.#kafka,
      brokers: this.#brokers,
      topic: this.#topic,
      groupId: this.#groupId,
      fromBeginning: this.#fromBeginning,
      replayWindowMs: options.replayWindowMs ?? 300_000,
      log: this.#log,
    };
    this.#delivery = {
      topic: this.#topic,
      log: this.#log,
      telemetry: this.#telemetry,
      heartbeatIntervalMs: this.#heartbeatIntervalMs,
      deliverRetry: options.deliverRetry ?? { initialMs: 200, maxMs: 5_000 },
      stopping: () => this.#stopping,
      stopRequested: () => this.#stopRequested.promise,
      abandoned: () => this.#abandon.promise,
    };
  }

  /** The partitions this consumer reads now, ascending (every one until `follow` gave it a view). */
  get served(): number[] {
    const served = this.#served;
    return allPartitions(this.#partitions).filter((p) => served === undefined || served.has(p));
  }

  /**
   * Reads, from now on, only the partitions where this replica can be in a close group among
   * `names` (its persona's members as its routing view has them, itself included or not):
   * servedPartitions with K = closeGroupSize. A partition no longer served is paused at once; one
   * newly served is read from `catchUpMs` before this call (or from where it stopped, if later).
   * Called before start, it applies once the consumer started.
   */
  follow(names: readonly Uint8Array[]): void {
    this.#view = [...names];
    if (this.#running) this.#kickFollow();
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
    this.#served = undefined;

    const { partitions, pins, positions } = await startOffsetsOnceLed(this.#spec);
    this.#partitions = partitions;
    this.#positions.clear();
    for (const [partition, offset] of positions) this.#positions.set(partition, offset);

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
      if (this.#running && this.#consumer === consumer) this.#rejoined(consumer, payload.memberAssignment);
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
        eachBatch: (payload) => this.#eachBatch(payload, deliver),
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
    if (this.#view !== undefined) this.#kickFollow();
  }

  /**
   * kafkajs gives a consumer up for good on errors it deems final, some of which only mean the
   * broker is restarting ("Failed to find group coordinator"): this consumer is started again, with
   * backoff, from its committed offsets; only if Kafka stays away for RESTART_FOR_MS is it fatal.
   */
  async #startAgain(crashed: Consumer, deliver: (envelope: Envelope) => Promise<void>, cause: unknown): Promise<void> {
    this.#running = false;
    this.#consumer = undefined;
    await crashed.disconnect().catch(() => {});
    const until = Date.now() + RESTART_FOR_MS;
    for (let attempt = 1; !this.#stopping; attempt++) {
      try {
        await this.#start(deliver);
        this.#log.info({ attempt }, 'Kafka consumer started again after a crash');
        // A stop that came while it was starting found no consumer to stop.
        if (this.#stopping) await this.stop();
        return;
      } catch (error) {
        if (Date.now() >= until) {
          this.#onFatal?.(kafkaUnavailable(this.#brokers, `consumer ${this.#groupId} stopped for good`, error ?? cause));
          return;
        }
        this.#log.warn({ attempt, error: describeKafkaError(error) }, 'Kafka consumer cannot start again yet; trying again');
        await sleep(Math.min(1_000 * attempt, 5_000), undefined, { ref: false });
      }
    }
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

  #serves(partition: number): boolean {
    return this.#served === undefined || this.#served.has(partition);
  }

  /** Runs #applyFollow for the newest view, one at a time. */
  #kickFollow(): void {
    if (this.#following) {
      this.#followAgain = true;
      return;
    }
    this.#following = this.#applyFollow()
      .catch((error: unknown) => {
        // E.g. kafkajs between a crash and its restart: try the newest view again shortly.
        this.#log.warn({ error: describeKafkaError(error) }, 'following the view failed; trying again');
        setTimeout(() => {
          if (this.#running) this.#kickFollow();
        }, 1_000).unref();
      })
      .finally(() => {
        this.#following = undefined;
        if (this.#followAgain && this.#running) {
          this.#followAgain = false;
          this.#kickFollow();
        }
      });
  }

  async #applyFollow(): Promise<void> {
    const consumer = this.#consumer;
    const view = this.#view;
    if (!consumer || !this.#running || view === undefined) return;
    const all = allPartitions(this.#partitions);
    const wanted = new Set(servedPartitions(view as readonly Name[], this.#nodeName, this.#closeGroupSize, this.#partitions));
    const current = this.#served ?? new Set(all);
    const dropped = all.filter((p) => current.has(p) && !wanted.has(p));
    const added = all.filter((p) => wanted.has(p) && !current.has(p));
    if (dropped.length > 0) consumer.pause([{ topic: this.#topic, partitions: dropped }]);
    const served = new Set(all.filter((p) => current.has(p) && wanted.has(p)));
    this.#served = served;
    if (added.length > 0) {
      const since = await this.#offsetsSince(Date.now() - this.#catchUpMs);
      if (since === undefined || this.#consumer !== consumer || this.#served !== served) return;
      for (const partition of added) {
        const stopped = this.#positions.get(partition);
        const recent = since.get(partition);
        const from = stopped === undefined || (recent !== undefined && recent > stopped) ? recent : stopped;
        if (from !== undefined) {
          consumer.seek({ topic: this.#topic, partition, offset: from.toString() });
          this.#positions.set(partition, from);
        }
        served.add(partition);
      }
      consumer.resume([{ topic: this.#topic, partitions: added }]);
    }
    if (dropped.length + added.length > 0) {
      this.#log.info(
        { served: served.size, partitions: all.length, added, dropped },
        "reading the partitions of this replica's neighbourhood",
      );
    }
  }

  /** The offset of the first copy published at or after `timestamp` in each partition; tries until it gets it or the consumer stops. */
  async #offsetsSince(timestamp: number): Promise<Map<number, bigint> | undefined> {
    for (let attempt = 1; ; attempt++) {
      if (this.#stopping) return undefined;
      try {
        return await withAdmin(this.#spec, async (admin) =>
          offsetsByPartition(await admin.fetchTopicOffsetsByTimestamp(this.#topic, timestamp)),
        );
      } catch (error) {
        this.#log.warn({ attempt, error: describeKafkaError(error) }, 'cannot look up where to read newly served partitions; trying again');
        const slept = await Promise.race([
          sleep(Math.min(500 * attempt, 5_000), undefined, { ref: false }).then(() => true),
          this.#stopRequested.promise.then(() => false),
        ]);
        if (!slept) return undefined;
      }
    }
  }

  /**
   * After kafkajs joined the group again (a rebalance, or a restart after a crash, which forgets
   * paused partitions and reads from the committed offsets): pause again what is not served, and
   * read the served partitions from where this consumer was.
   */
  #rejoined(consumer: Consumer, assignment: Record<string, number[]> | undefined): void {
    try {
      const count = assignment?.[this.#topic]?.length;
      if (count !== undefined && count > 0 && count !== this.#partitions) {
        this.#log.warn({ partitions: count, was: this.#partitions }, 'the topic has another partition count now; following the view again');
        this.#partitions = count;
        this.#served = undefined;
        if (this.#view !== undefined) this.#kickFollow();
        return;
      }
      const served = this.#served;
      if (served === undefined) return;
      const unserved = allPartitions(this.#partitions).filter((p) => !served.has(p));
      if (unserved.length > 0) consumer.pause([{ topic: this.#topic, partitions: unserved }]);
      for (const partition of served) {
        const at = this.#positions.get(partition);
        if (at !== undefined) consumer.seek({ topic: this.#topic, partition, offset: at.toString() });
      }
    } catch (error) {
      this.#log.error({ error: describeKafkaError(error) }, 'could not narrow the partitions read after joining the group again');
    }
  }

  async #eachBatch(payload: EachBatchPayload, deliver: (envelope: Envelope) => Promise<void>): Promise<void> {
    const { batch, commitOffsetsIfNecessary } = payload;
    const { topic, partition } = batch;
    // Every record fetched, handled or not: what this replica reads from Kafka.
    if (batch.messages.length > 0) {
      let bytes = 0;
      for (const message of batch.messages) bytes += recordBytes(message);
      this.#telemetry.count('safe_bus_consumed_total', { topic }, batch.messages.length);
      this.#telemetry.count('safe_bus_consumed_bytes_total', { topic }, bytes);
    }
    const commit = (offset: string) => commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
    const committer = this.#commit === 'coalesced' ? new CommitCoalescer(commit) : undefined;
    try {
      await this.#handleBatch(payload, deliver, commit, committer);
    } finally {
      // Whatever was handled is committed before the batch ends (and so before stop() leaves the group).
      await committer?.flush();
    }
  }

  async #handleBatch(
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
    deliver: (envelope: Envelope) => Promise<void>,
    commit: (offset: string) => Promise<void>,
    committer: CommitCoalescer | undefined,
  ): Promise<void> {
    const { topic, partition } = batch;
    for (const message of batch.messages) {
      // A partition paused by follow() may still have a fetched batch on its way: left unread.
      if (this.#stopping || !isRunning() || isStale() || !this.#serves(partition)) return;
      const envelope = decodeRecord(this.#delivery, topic, partition, message);
      if (envelope !== undefined) {
        const handled = await deliverOne(this.#delivery, envelope, deliver, heartbeat, partition, message.offset);
        if (!handled) return; // stopping: left uncommitted, delivered again on the next start
        this.#telemetry.count('safe_bus_delivered_total', { topic });
      }
      resolveOffset(message.offset);
      const next = (BigInt(message.offset) + 1n).toString();
      if (!isStale()) this.#positions.set(partition, BigInt(next));
      if (committer) committer.offer(next);
      else await commit(next);
      await heartbeat();
    }
  }
}
