import { nameOf, partitionOf, toHex } from '@safe/core';
import type { PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { NaeRangePartitioner, partitionOfKey } from './partitioner.js';

const metadata = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));

describe('NaeRangePartitioner: a copy goes to the partition of its destination NAE’s range', () => {
  it('puts a record keyed by the hex of an NAE where partitionOf says, in the topic’s actual partition count', () => {
    const partition = NaeRangePartitioner();
    for (let i = 0; i < 200; i++) {
      const nae = nameOf(new TextEncoder().encode(`nae ${i}`));
      for (const count of [1, 12, 64]) {
        expect(partitionOfKey(toHex(nae), count)).toBe(partitionOf(nae, count));
        expect(partitionOfKey(Buffer.from(toHex(nae)), count)).toBe(partitionOf(nae, count));
        expect(partition({ topic: 't', partitionMetadata: metadata(count), message: { key: toHex(nae), value: null } })).toBe(
          partitionOf(nae, count),
        );
      }
    }
  });

  it('leaves a record with another key to kafkajs’ default partitioner', () => {
    expect(partitionOfKey('not-hex!', 12)).toBeUndefined();
    expect(partitionOfKey(null, 12)).toBeUndefined();
    const partition = NaeRangePartitioner();
    const p = partition({ topic: 't', partitionMetadata: metadata(12), message: { key: 'not-hex!', value: null } });
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(12);
  });
});
