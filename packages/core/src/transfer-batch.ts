import { ENVELOPE_LIMITS } from './envelope.js';

/**
 * Bytes of one account-transfer message at most: the envelope's payload bound, less room for the
 * batch's own framing (a record's size below is measured with its fields' framing, not the batch's).
 */
export const TRANSFER_MESSAGE_BYTES = ENVELOPE_LIMITS.payloadBytes - 64 * 1024;
/**
 * Bytes a batch fills to: half a message, so a receiver decodes and votes on a bounded batch at a
 * time, while a record larger than this (up to TRANSFER_MESSAGE_BYTES) still travels, alone.
 */
export const TRANSFER_BATCH_BYTES = TRANSFER_MESSAGE_BYTES / 2;

export interface PackedBatches<T> {
  /** In the items' order, each at most `maxItems` items and `batchBytes` bytes, or one item alone. */
  readonly batches: T[][];
  /** Items over `messageBytes` on their own: they can never travel, whatever the batching. */
  readonly tooLarge: T[];
}

/** Packs items, in order, into transfer batches bounded by count and by bytes (`bytesOf` each). */
export function packTransferBatches<T>(
  items: readonly T[],
  bytesOf: (item: T) => number,
  maxItems: number,
  batchBytes = TRANSFER_BATCH_BYTES,
  messageBytes = TRANSFER_MESSAGE_BYTES,
): PackedBatches<T> {
  const batches: T[][] = [];
  const tooLarge: T[] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = bytesOf(item);
    if (size > messageBytes) {
      tooLarge.push(item);
      continue;
    }
    if (current.length > 0 && (current.length >= maxItems || bytes + size > batchBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return { batches, tooLarge };
}
