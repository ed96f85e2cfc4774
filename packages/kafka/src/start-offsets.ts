import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError, type Logger, SafeError, UnavailableError } from '@safe/core';
import type { Admin, Kafka } from 'kafkajs';
import { describeKafkaError, isLeaderlessError, kafkaUnavailable } from './connect.js';

/** Where a start reads each partition from, and the offsets to commit first. */
export interface StartOffsets {
  readonly partitions: number;
  readonly pins: { partition: number; offset: string }[];
  readonly positions: Map<number, bigint>;
}

/** One consumer's group and topic, and how far back its start may read. */
export interface ConsumerGroupSpec {
  readonly kafka: Kafka;
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly groupId: string;
  readonly fromBeginning: boolean;
  readonly replayWindowMs: number;
  readonly log: Logger;
}

export const allPartitions = (count: number) => Array.from({ length: count }, (_, p) => p);

export function offsetsByPartition(offsets: readonly { partition: number; offset: string }[]): Map<number, bigint> {
  return new Map(offsets.map(({ partition, offset }) => [partition, BigInt(offset)]));
}

/** Runs `use` on an admin client of its own; failures other than SafeErrors become UnavailableError naming the brokers. */
export async function withAdmin<T>(spec: ConsumerGroupSpec, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = spec.kafka.admin();
  try {
    await admin.connect();
    return await use(admin);
  } catch (error) {
    throw error instanceof SafeError ? error : kafkaUnavailable(spec.brokers, `preparing consumer ${spec.groupId}`, error);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * startOffsets, tried again for a few seconds while a topic just created has partitions without
 * a leader yet (kafkajs' admin gives up on those at once; the more partitions, the likelier).
 */
export async function startOffsetsOnceLed(spec: ConsumerGroupSpec): Promise<StartOffsets> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withAdmin(spec, (admin) => startOffsets(spec, admin));
    } catch (error) {
      if (attempt >= 8 || !isLeaderlessError(error)) throw error;
      spec.log.debug({ attempt, error: describeKafkaError(error) }, 'partitions without a leader yet; trying again');
      await sleep(Math.min(100 * 2 ** attempt, 1_000), undefined, { ref: false });
    }
  }
}

/**
 * Where each partition is read from: the committed offset, or for a partition with none the
 * end (a new group, by default) or the start (a new group with `fromBeginning`, or partitions
 * added to a group that has offsets); never from before `replayWindowMs` ago (but for a new
 * group with `fromBeginning`). Offsets that differ from the committed ones are committed first.
 */
async function startOffsets(spec: ConsumerGroupSpec, admin: Admin): Promise<StartOffsets> {
  const { topic, groupId, fromBeginning, replayWindowMs } = spec;
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) {
    throw new FailedPreconditionError(
      `Kafka topic ${topic} does not exist at ${spec.brokers.join(',')} (auto-creation is off; create it with ensureTopics)`,
    );
  }
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const partitions = committed?.partitions ?? [];
  const missing = partitions.filter((p) => BigInt(p.offset) < 0n);
  const newGroup = missing.length === partitions.length;
  // A group with some offsets already (e.g. partitions added later) reads the rest from the start:
  // those copies were published after this replica first joined.
  const earliest = newGroup ? fromBeginning : true;
  const ends = missing.length > 0 ? await admin.fetchTopicOffsets(topic) : [];
  const floor =
    Number.isFinite(replayWindowMs) && !(newGroup && fromBeginning)
      ? offsetsByPartition(await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - replayWindowMs))
      : new Map<number, bigint>();
  const pins: { partition: number; offset: string }[] = [];
  const positions = new Map<number, bigint>();
  for (const { partition, offset } of partitions) {
    let from = BigInt(offset);
    if (from < 0n) {
      const end = ends.find((e) => e.partition === partition);
      if (!end) throw new UnavailableError(`Kafka has no offsets for ${topic}[${partition}]`);
      from = BigInt(earliest ? end.low : end.high);
    }
    const oldest = floor.get(partition);
    if (oldest !== undefined && oldest > from) from = oldest;
    if (from !== BigInt(offset)) pins.push({ partition, offset: from.toString() });
    positions.set(partition, from);
  }
  return { partitions: partitions.length, pins, positions };
}
