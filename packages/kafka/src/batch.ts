import type { Envelope } from '@safe/core';
import type { EachBatchPayload } from 'kafkajs';
import { CommitCoalescer } from './commit-coalescer.js';
import { type DeliveryContext, decodeRecord, deliverOne } from './delivery.js';
import { recordBytes } from './record-bytes.js';

/** What handling one fetched batch needs of its consumer, beyond handing each copy over. */
export interface BatchContext extends DeliveryContext {
  readonly commit: 'each' | 'coalesced';
  /** False for a partition follow() paused. */
  serves(partition: number): boolean;
  /** The copy before `next` in `partition` was handled. */
  advance(partition: number, next: bigint): void;
}

/** Hands the batch's copies to `deliver` in order, committing each handled one (see KafkaGroupConsumer). */
export async function eachBatch(
  context: BatchContext,
  payload: EachBatchPayload,
  deliver: (envelope: Envelope) => Promise<void>,
): Promise<void> {
  const { batch, commitOffsetsIfNecessary } = payload;
  const { topic, partition } = batch;
  // Every record fetched, handled or not: what this replica reads from Kafka.
  if (batch.messages.length > 0) {
    let bytes = 0;
    for (const message of batch.messages) bytes += recordBytes(message);
    context.telemetry.count('safe_bus_consumed_total', { topic }, batch.messages.length);
    context.telemetry.count('safe_bus_consumed_bytes_total', { topic }, bytes);
  }
  const commit = (offset: string) => commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
  const committer = context.commit === 'coalesced' ? new CommitCoalescer(commit) : undefined;
  try {
    await handleBatch(context, payload, deliver, commit, committer);
  } finally {
    // Whatever was handled is committed before the batch ends (and so before stop() leaves the group).
    await committer?.flush();
  }
}

async function handleBatch(
  context: BatchContext,
  { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
  deliver: (envelope: Envelope) => Promise<void>,
  commit: (offset: string) => Promise<void>,
  committer: CommitCoalescer | undefined,
): Promise<void> {
  const { topic, partition } = batch;
  for (const message of batch.messages) {
    // A partition paused by follow() may still have a fetched batch on its way: left unread.
    if (context.stopping() || !isRunning() || isStale() || !context.serves(partition)) return;
    const envelope = decodeRecord(context, topic, partition, message);
    if (envelope !== undefined) {
      const handled = await deliverOne(context, envelope, deliver, heartbeat, partition, message.offset);
      if (!handled) return; // stopping: left uncommitted, delivered again on the next start
      context.telemetry.count('safe_bus_delivered_total', { topic });
    }
    resolveOffset(message.offset);
    const next = (BigInt(message.offset) + 1n).toString();
    if (!isStale()) context.advance(partition, BigInt(next));
    if (committer) committer.offer(next);
    else await commit(next);
    await heartbeat();
  }
}
