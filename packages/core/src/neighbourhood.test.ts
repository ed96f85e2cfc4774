import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAME_BYTES, type Name, nameEquals, nameOf, toHex } from './name.js';
import { partitionOf, servedPartitions } from './neighbourhood.js';
import { GroupView } from './routing.js';

const uniformName = fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }).map((b) => b as Name);
/** Names drawn from a small alphabet share long prefixes: several members in one prefix block. */
const clusteredName = fc
  .array(fc.constantFrom(0x00, 0x01, 0x80, 0xff), { minLength: NAME_BYTES, maxLength: NAME_BYTES })
  .map((b) => Uint8Array.from(b) as Name);
const nameArb = fc.oneof(uniformName, clusteredName);

const viewOf = (names: readonly Name[]) =>
  new GroupView(
    'data-manager',
    names.map((name) => ({ persona: 'data-manager' as const, name, publicKey: new Uint8Array(32) })),
  );

/** A name whose first 32 bits are `prefix` (big-endian) and whose other bits are `rest`'s. */
function withPrefix(prefix: number, rest: Uint8Array = new Uint8Array(NAME_BYTES)): Name {
  const name = Uint8Array.from(rest);
  new DataView(name.buffer).setUint32(0, prefix);
  return name as Name;
}

describe('partitionOf: partitions by NAE range', () => {
  it('cuts the first 32 bits into `partitions` contiguous ranges', () => {
    expect(partitionOf(withPrefix(0), 12)).toBe(0);
    expect(partitionOf(withPrefix(0xffff_ffff, new Uint8Array(NAME_BYTES).fill(0xff)), 12)).toBe(11);
    expect(partitionOf(withPrefix(0x8000_0000), 2)).toBe(1);
    expect(partitionOf(withPrefix(0x7fff_ffff), 2)).toBe(0);
    expect(partitionOf(withPrefix(0x0100_0000), 256)).toBe(1);
    // 2^32 / 12 is not whole: partition 1 starts at ceil(2^32 / 12).
    const start = Math.ceil(2 ** 32 / 12);
    expect(partitionOf(withPrefix(start), 12)).toBe(1);
    expect(partitionOf(withPrefix(start - 1), 12)).toBe(0);
    expect(partitionOf(withPrefix(0xdead_beef), 1)).toBe(0);
  });

  it('is monotone in the name and always within range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.nat(0xffff_ffff), fc.nat(0xffff_ffff), (partitions, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const p = partitionOf(withPrefix(lo), partitions);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(partitionOf(withPrefix(hi), partitions)).toBeLessThan(partitions);
        expect(p).toBeLessThanOrEqual(partitionOf(withPrefix(hi), partitions));
      }),
    );
  });

  it('refuses a name too short and a partition count that is not one', () => {
    expect(() => partitionOf(new Uint8Array(3), 12)).toThrow(/at least 4 bytes/);
    expect(() => partitionOf(withPrefix(1), 0)).toThrow(RangeError);
    expect(() => partitionOf(withPrefix(1), 1.5)).toThrow(RangeError);
  });
});

describe('servedPartitions: the partitions of a replica’s XOR neighbourhood', () => {
  it('every member of the close group of any NAE serves the NAE’s partition', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nameArb, { minLength: 2, maxLength: 40, selector: toHex }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(1, 12, 64, 256),
        fc.array(
          fc.oneof(
            nameArb,
            fc.tuple(fc.nat(), fc.nat(0xffff)).map(([i, bits]) => [i, bits] as const),
          ),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        fc.boolean(),
        (names, k, partitions, targets, selfListed) => {
          const view = viewOf(names);
          const served = new Map<string, Set<number>>();
          const servedBy = (member: Name) => {
            const key = toHex(member);
            let set = served.get(key);
            if (set === undefined) {
              // The view as the member has it, with or without itself in the list.
              const listed = selfListed ? names : names.filter((n) => !nameEquals(n, member));
              set = new Set(servedPartitions(listed, member, k, partitions));
              served.set(key, set);
            }
            return set;
          };
          for (const target of targets) {
            // Either any NAE, or one next to a member (its name with a low bit or two flipped).
            let nae: Name;
            if (target instanceof Uint8Array) nae = target;
            else {
              const near = Uint8Array.from(names[target[0] % names.length] as Name);
              near[3] = (near[3] as number) ^ (target[1] & 0xff);
              near[2] = (near[2] as number) ^ (target[1] >> 8);
              nae = near as Name;
            }
            const p = partitionOf(nae, partitions);
            for (const member of view.closeGroup(nae, k)) expect(servedBy(member).has(p)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is exact: the same partitions as enumerating every NAE class, for names of 8 and 10 bits', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(8, 10),
        fc.integer({ min: 2, max: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(1, 3, 12, 64, 100, 256),
        fc.infiniteStream(fc.nat()),
        (bits, count, k, partitions, draws) => {
          // Names that differ only in their first `bits` bits, zero after: every NAE that starts
          // with the same `bits` bits has the same close group, so one NAE per class tells it all.
          const space = 2 ** bits;
          const values = new Set<number>();
          for (const d of draws) {
            if (values.size === Math.min(count, space)) break;
            values.add(d % space);
          }
          const shift = 2 ** (32 - bits);
          const names = [...values].map((v) => withPrefix(v * shift));
          const view = viewOf(names);
          const brute = new Map<string, Set<number>>(names.map((n) => [toHex(n), new Set<number>()]));
          for (let v = 0; v < space; v++) {
            // The class's NAEs cover the partitions from its lowest prefix to its highest.
            const first = partitionOf(withPrefix(v * shift), partitions);
            const last = partitionOf(withPrefix((v + 1) * shift - 1), partitions);
            for (const member of view.closeGroup(withPrefix(v * shift), k)) {
              const set = brute.get(toHex(member)) as Set<number>;
              for (let p = first; p <= last; p++) set.add(p);
            }
          }
          for (const name of names) {
            expect(servedPartitions(names, name, k, partitions)).toEqual(
              [...(brute.get(toHex(name)) as Set<number>)].sort((a, b) => a - b),
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('serves every partition while the persona has k members or fewer, and ignores repeated names', () => {
    const names = [withPrefix(0x1000_0000), withPrefix(0x9000_0000), withPrefix(0xf000_0000)];
    const all = Array.from({ length: 12 }, (_, p) => p);
    expect(servedPartitions(names, names[0] as Name, 3, 12)).toEqual(all);
    expect(servedPartitions([...names, ...names], names[0] as Name, 3, 12)).toEqual(all);
    expect(servedPartitions(names.slice(1), names[0] as Name, 3, 12)).toEqual(all);
    expect(servedPartitions([], names[0] as Name, 1, 12)).toEqual(all);
    expect(servedPartitions(names, names[0] as Name, 1, 12).length).toBeLessThan(12);
  });

  it('splits the topic: with 256 partitions, 12 members and k = 4, a partition has about k servers on average', () => {
    // Names are SHA-512 outputs: uniform. A draw can be unlucky (members sharing a first byte
    // make a prefix block's boundary group larger), so the bound is on the average over draws.
    const trials = 50;
    let servers = 0;
    for (let t = 0; t < trials; t++) {
      const names = Array.from({ length: 12 }, (_, i) => nameOf(new TextEncoder().encode(`member ${t}/${i}`)));
      for (const member of names) servers += servedPartitions(names, member, 4, 256).length;
    }
    const perPartition = servers / trials / 256;
    expect(perPartition).toBeGreaterThanOrEqual(4);
    expect(perPartition).toBeLessThan(4.6);
  });
});
