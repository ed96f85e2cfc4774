import { describe, expect, it } from 'vitest';
import { ENVELOPE_LIMITS } from './envelope.js';
import { packTransferBatches, TRANSFER_BATCH_BYTES, TRANSFER_MESSAGE_BYTES } from './transfer-batch.js';

const KIB = 1024;
const sizes = (batches: number[][]) => batches.map((batch) => batch.reduce((sum, size) => sum + size, 0));

describe('packTransferBatches', () => {
  it('keeps a message under the envelope payload bound, with room for its framing', () => {
    expect(TRANSFER_MESSAGE_BYTES).toBeLessThan(ENVELOPE_LIMITS.payloadBytes);
    expect(TRANSFER_BATCH_BYTES).toBeLessThan(TRANSFER_MESSAGE_BYTES);
  });

  it('bounds a batch by count, as before, when records are small', () => {
    const { batches, tooLarge } = packTransferBatches(
      Array.from({ length: 130 }, () => 100),
      (size) => size,
      64,
    );
    expect(batches.map((batch) => batch.length)).toEqual([64, 64, 2]);
    expect(tooLarge).toEqual([]);
  });

  it('bounds a batch by bytes: 64 held messages of 100 KiB do not travel in one message', () => {
    const items = Array.from({ length: 64 }, () => 100 * KIB);
    const { batches } = packTransferBatches(items, (size) => size, 64);
    expect(batches.length).toBeGreaterThan(1);
    for (const total of sizes(batches)) expect(total).toBeLessThanOrEqual(TRANSFER_BATCH_BYTES);
    expect(batches.flat()).toEqual(items);
  });

  it('sends a record over the batch bound alone, in order, and reports one over the message bound instead', () => {
    const big = TRANSFER_BATCH_BYTES + 1;
    const never = TRANSFER_MESSAGE_BYTES + 1;
    const items = [10, big, 20, never, 30];
    const { batches, tooLarge } = packTransferBatches(items, (size) => size, 64);
    expect(batches).toEqual([[10], [big], [20, 30]]);
    expect(tooLarge).toEqual([never]);
  });

  it('a record of exactly the message bound still travels', () => {
    expect(packTransferBatches([TRANSFER_MESSAGE_BYTES], (size) => size, 64)).toEqual({
      batches: [[TRANSFER_MESSAGE_BYTES]],
      tooLarge: [],
    });
  });
});
