import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, type Name, servedPartitions } from '@safe/core';
import type { Consumer } from 'kafkajs';
import { describeKafkaError } from './connect.js';
import { allPartitions, type ConsumerGroupSpec, offsetsByPartition, withAdmin } from './start-offsets.js';

/** What following a view needs of its consumer; the signals are read live (a restart renews them). */
export interface FollowContext {
  readonly topic: string;
  readonly nodeName: Name;
  readonly closeGroupSize: number;
  readonly catchUpMs: number;
  readonly spec: ConsumerGroupSpec;
  readonly log: Logger;
  /** The kafkajs consumer while one is started. */
  consumer(): Consumer | undefined;
  /** start() is done: follow() acts at once. */
  running(): boolean;
  /** True once stop() began. */
  stopping(): boolean;
  /** Resolves once stop() began. */
  stopRequested(): Promise<void>;
}

/**
 * Which partitions a KafkaGroupConsumer reads, and where it is in each: every one until `follow`
 * gave it its persona's members, then only those of its neighbourhood (servedPartitions), pausing
 * the others.
 */
export class PartitionFollower {
  readonly #context: FollowContext;
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

  constructor(context: FollowContext) {
    this.#context = context;
  }

  /** The partitions read now, ascending (every one until `follow` gave a view). */
  get served(): number[] {
    const served = this.#served;
    return allPartitions(this.#partitions).filter((p) => served === undefined || served.has(p));
  }

  serves(partition: number): boolean {
    return this.#served === undefined || this.#served.has(partition);
  }

  /** A (re)start begins: every partition is read until the view is applied again. */
  readAll(): void {
    this.#served = undefined;
  }

  /** A (re)start found the topic's partition count and where to read each partition from. */
  startAt(partitions: number, positions: ReadonlyMap<number, bigint>): void {
    this.#partitions = partitions;
    this.#positions.clear();
    for (const [partition, offset] of positions) this.#positions.set(partition, offset);
  }

  /** The copy before `next` in `partition` was handled. */
  advance(partition: number, next: bigint): void {
    this.#positions.set(partition, next);
  }

  /** See KafkaGroupConsumer.follow. */
  follow(names: readonly Uint8Array[]): void {
    this.#view = [...names];
    if (this.#context.running()) this.#kick();
  }

  /** The consumer (re)started: applies the last view given, if any. */
  started(): void {
    if (this.#view !== undefined) this.#kick();
  }

  /** Runs #apply for the newest view, one at a time. */
  #kick(): void {
    if (this.#following) {
      this.#followAgain = true;
      return;
    }
    this.#following = this.#apply()
      .catch((error: unknown) => {
        // E.g. kafkajs between a crash and its restart: try the newest view again shortly.
        this.#context.log.warn({ error: describeKafkaError(error) }, 'following the view failed; trying again');
        setTimeout(() => {
          if (this.#context.running()) this.#kick();
        }, 1_000).unref();
      })
      .finally(() => {
        this.#following = undefined;
        if (this.#followAgain && this.#context.running()) {
          this.#followAgain = false;
          this.#kick();
        }
      });
  }

  async #apply(): Promise<void> {
    const { topic, nodeName, closeGroupSize, catchUpMs, log } = this.#context;
    const consumer = this.#context.consumer();
    const view = this.#view;
    if (!consumer || !this.#context.running() || view === undefined) return;
    const all = allPartitions(this.#partitions);
    const wanted = new Set(servedPartitions(view as readonly Name[], nodeName, closeGroupSize, this.#partitions));
    const current = this.#served ?? new Set(all);
    const dropped = all.filter((p) => current.has(p) && !wanted.has(p));
    const added = all.filter((p) => wanted.has(p) && !current.has(p));
    if (dropped.length > 0) consumer.pause([{ topic, partitions: dropped }]);
    const served = new Set(all.filter((p) => current.has(p) && wanted.has(p)));
    this.#served = served;
    if (added.length > 0) {
      const since = await this.#offsetsSince(Date.now() - catchUpMs);
      if (since === undefined || this.#context.consumer() !== consumer || this.#served !== served) return;
      for (const partition of added) {
        const stopped = this.#positions.get(partition);
        const recent = since.get(partition);
        const from = stopped === undefined || (recent !== undefined && recent > stopped) ? recent : stopped;
        if (from !== undefined) {
          consumer.seek({ topic, partition, offset: from.toString() });
          this.#positions.set(partition, from);
        }
        served.add(partition);
      }
      consumer.resume([{ topic, partitions: added }]);
    }
    if (dropped.length + added.length > 0) {
      log.info({ served: served.size, partitions: all.length, added, dropped }, "reading the partitions of this replica's neighbourhood");
    }
  }

  /** The offset of the first copy published at or after `timestamp` in each partition; tries until it gets it or the consumer stops. */
  async #offsetsSince(timestamp: number): Promise<Map<number, bigint> | undefined> {
    const { topic, spec, log } = this.#context;
    for (let attempt = 1; ; attempt++) {
      if (this.#context.stopping()) return undefined;
      try {
        return await withAdmin(spec, async (admin) => offsetsByPartition(await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)));
      } catch (error) {
        log.warn({ attempt, error: describeKafkaError(error) }, 'cannot look up where to read newly served partitions; trying again');
        const slept = await Promise.race([
          sleep(Math.min(500 * attempt, 5_000), undefined, { ref: false }).then(() => true),
          this.#context.stopRequested().then(() => false),
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
  rejoined(consumer: Consumer, assignment: Record<string, number[]> | undefined): void {
    const { topic, log } = this.#context;
    try {
      const count = assignment?.[topic]?.length;
      if (count !== undefined && count > 0 && count !== this.#partitions) {
        log.warn({ partitions: count, was: this.#partitions }, 'the topic has another partition count now; following the view again');
        this.#partitions = count;
        this.#served = undefined;
        if (this.#view !== undefined) this.#kick();
        return;
      }
      const served = this.#served;
      if (served === undefined) return;
      const unserved = allPartitions(this.#partitions).filter((p) => !served.has(p));
      if (unserved.length > 0) consumer.pause([{ topic, partitions: unserved }]);
      for (const partition of served) {
        const at = this.#positions.get(partition);
        if (at !== undefined) consumer.seek({ topic, partition, offset: at.toString() });
      }
    } catch (error) {
      log.error({ error: describeKafkaError(error) }, 'could not narrow the partitions read after joining the group again');
    }
  }
}
