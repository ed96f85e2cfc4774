import { InvalidNameError } from './errors.js';
import { type Name, toHex } from './name.js';

/**
 * Addressed delivery on a partitioned bus (see packages/kafka/README.md): a persona's topic is cut
 * into partitions by NAE range, and each replica reads only the partitions of its XOR
 * neighbourhood. These are the two pure halves of it: where a copy goes, and what a replica reads.
 */

const PREFIX_SPACE = 2 ** 32;
/** Far above any Kafka topic's partition count, and low enough for the arithmetic below to be exact. */
const MAX_PARTITIONS = 2 ** 20;

/** The first 32 bits of a name, big-endian, unsigned. */
function prefix32(name: Uint8Array): number {
  if (name.length < 4) throw new InvalidNameError(`a name needs at least 4 bytes to pick a partition, got ${name.length}`);
  return (((name[0] as number) << 24) | ((name[1] as number) << 16) | ((name[2] as number) << 8) | (name[3] as number)) >>> 0;
}

function checkPartitions(partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new RangeError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${partitions}`);
  }
}

/**
 * The partition of an NAE: floor(first 32 bits × partitions / 2^32). Partition p holds one
 * contiguous range of the name space, so the NAEs near a replica share few partitions.
 */
export function partitionOf(nae: Uint8Array, partitions: number): number {
  checkPartitions(partitions);
  // x × partitions < 2^52: exact, and so is the division by a power of two.
  return Math.floor((prefix32(nae) * partitions) / PREFIX_SPACE);
}

/** The 32-bit prefixes of partition p: [first, end). */
function partitionRange(p: number, partitions: number): [number, number] {
  return [Math.ceil((p * PREFIX_SPACE) / partitions), Math.ceil(((p + 1) * PREFIX_SPACE) / partitions)];
}

/** [first, end) cut into aligned blocks: each is the set of NAEs that start with `bits` given bits. */
function prefixBlocks(first: number, end: number): { start: number; bits: number }[] {
  const blocks: { start: number; bits: number }[] = [];
  let at = first;
  while (at < end) {
    let size = PREFIX_SPACE;
    while (at % size !== 0 || at + size > end) size /= 2;
    blocks.push({ start: at, bits: 32 - Math.log2(size) });
    at += size;
  }
  return blocks;
}

/**
 * Whether `self` is in the close group of some NAE of the block of NAEs that start with the
 * `bits`-bit prefix of `start`. Within the block, a member's XOR distance to any NAE starts with
 * (its first `bits` bits XOR the block's), whatever the NAE's other bits: a member whose leading
 * bits are nearer is nearer for every NAE of the block. Members that share their leading bits
 * are ordered by the other bits, which the block leaves free, so each of them is the nearest of
 * its lot for some NAE. Hence: self serves the block iff fewer than k members are strictly nearer
 * by leading bits than self.
 */
function servesBlock(others: readonly number[], self: number, start: number, bits: number, k: number): boolean {
  const shift = 2 ** (32 - bits);
  const lead = (x: number) => Math.floor(x / shift);
  const block = lead(start);
  const mine = (lead(self) ^ block) >>> 0;
  let nearer = 0;
  for (const other of others) {
    if ((lead(other) ^ block) >>> 0 < mine && ++nearer >= k) return false;
  }
  return true;
}

/**
 * The partitions a replica must read: those whose range holds at least one NAE whose close group
 * (the k names closest by XOR among `names` ∪ {self}) contains `self`. With k names or fewer in
 * all, every partition. Exact, not an estimate: a partition it returns does hold such an NAE, and
 * no NAE whose close group holds `self` lies in a partition it leaves out.
 *
 * `names` are the persona's members as this replica's routing view has them, `self` included or not.
 */
export function servedPartitions(names: readonly Name[], self: Name, k: number, partitions: number): number[] {
  checkPartitions(partitions);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`the close group size must be a positive integer, got ${k}`);
  const selfHex = toHex(self);
  const distinct = new Map<string, Name>();
  for (const name of names) distinct.set(toHex(name), name);
  distinct.delete(selfHex);
  const all = Array.from({ length: partitions }, (_, p) => p);
  if (distinct.size + 1 <= k) return all;
  const mine = prefix32(self);
  const others = [...distinct.values()].map(prefix32);
  return all.filter((p) => {
    const [first, end] = partitionRange(p, partitions);
    return prefixBlocks(first, end).some(({ start, bits }) => servesBlock(others, mine, start, bits, k));
  });
}
