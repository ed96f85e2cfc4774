import { partitionOf } from '@safe/core';
import kafkajs, { type ICustomPartitioner } from 'kafkajs';

const { Partitioners } = kafkajs;

const HEX_PREFIX = /^[0-9a-fA-F]{8}/;

/**
 * The partition of a record whose key is the hex of its destination NAE, in a topic of
 * `partitions` partitions: core's partitionOf on the NAE's first 32 bits. Undefined for a key
 * that is not such a hex name (not a copy of ours).
 */
export function partitionOfKey(key: string | Buffer | null | undefined, partitions: number): number | undefined {
  if (key === null || key === undefined) return undefined;
  const head = typeof key === 'string' ? key.slice(0, 8) : key.subarray(0, 8).toString('latin1');
  if (!HEX_PREFIX.test(head)) return undefined;
  return partitionOf(Buffer.from(head, 'hex'), partitions);
}

/**
 * kafkajs partitioner of the group bus: a copy goes to the partition of its destination NAE's
 * range (partitionOf), in the topic's actual partition count, so every copy for one NAE lands in
 * one partition (its order kept) and a replica finds all copies it can be responsible for in the
 * partitions of its XOR neighbourhood. A record with another key goes where kafkajs' default
 * partitioner puts it.
 */
export const NaeRangePartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args) => partitionOfKey(args.message.key, args.partitionMetadata.length) ?? fallback(args);
};
