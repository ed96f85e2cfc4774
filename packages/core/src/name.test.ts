import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidNameError } from './errors.js';
import {
  closestNames,
  compareCloseness,
  isName,
  NAME_BYTES,
  type Name,
  nameEquals,
  nameFromHex,
  nameOf,
  parseName,
  sortByCloseness,
  toHex,
  xorDistance,
} from './name.js';

/**
 * Names for properties. Uniform random names almost never share a first byte, so the comparison
 * would never look past byte 0; the clustered generators make long shared prefixes common.
 */
const uniformName = fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }).map((b) => b as Name);
const prefixedName = fc
  .tuple(
    fc.integer({ min: 0, max: NAME_BYTES }),
    fc.constantFrom(0x00, 0xff),
    fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }),
  )
  .map(([n, fill, bytes]) => {
    const out = new Uint8Array(bytes);
    out.fill(fill, 0, n);
    return out as Name;
  });
const smallAlphabetName = fc
  .array(fc.constantFrom(0x00, 0x01, 0x80, 0xff), { minLength: NAME_BYTES, maxLength: NAME_BYTES })
  .map((b) => Uint8Array.from(b) as Name);
const nameArb = fc.oneof(uniformName, prefixedName, smallAlphabetName);
const uniqueNames = (minLength: number, maxLength: number) => fc.uniqueArray(nameArb, { minLength, maxLength, selector: toHex });

/** The XOR distance as a number, for brute-force comparisons. */
const distance = (a: Name, b: Name): bigint => BigInt(`0x${toHex(xorDistance(a, b))}`);
const sign = (n: number | bigint): number => (n > 0 ? 1 : n < 0 ? -1 : 0);
const bruteSort = (target: Name, names: readonly Name[]): Name[] =>
  [...names].sort((a, b) => sign(distance(target, a) - distance(target, b)));

const RUNS = { numRuns: 200 };

describe('xorDistance', () => {
  it('is symmetric', () => {
    fc.assert(
      fc.property(nameArb, nameArb, (a, b) => {
        expect(xorDistance(a, b)).toEqual(xorDistance(b, a));
      }),
      RUNS,
    );
  });

  it('is zero iff the names are equal', () => {
    const pair = fc.oneof(
      fc.tuple(nameArb, nameArb),
      nameArb.map((a) => [a, new Uint8Array(a) as Name] as const),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const isZero = xorDistance(a, b).every((byte) => byte === 0);
        expect(isZero).toBe(nameEquals(a, b));
        expect(distance(a, b) === 0n).toBe(nameEquals(a, b));
      }),
      RUNS,
    );
  });

  it('composes: d(a,b) XOR d(b,c) = d(a,c), so d(a,c) <= d(a,b) + d(b,c)', () => {
    fc.assert(
      fc.property(nameArb, nameArb, nameArb, (a, b, c) => {
        const ab = xorDistance(a, b) as Name;
        const bc = xorDistance(b, c) as Name;
        expect(xorDistance(ab, bc)).toEqual(xorDistance(a, c));
        expect(distance(a, c) <= distance(a, b) + distance(b, c)).toBe(true);
      }),
      RUNS,
    );
  });

  it('gives unique distances from a target: d(t,a) = d(t,b) only when a = b', () => {
    fc.assert(
      fc.property(nameArb, nameArb, nameArb, (t, a, b) => {
        expect(distance(t, a) === distance(t, b)).toBe(nameEquals(a, b));
      }),
      RUNS,
    );
  });

  it('is 64 bytes and leaves its inputs alone', () => {
    fc.assert(
      fc.property(nameArb, nameArb, (a, b) => {
        const [a0, b0] = [new Uint8Array(a), new Uint8Array(b)];
        expect(xorDistance(a, b)).toHaveLength(NAME_BYTES);
        expect(a).toEqual(a0);
        expect(b).toEqual(b0);
      }),
      RUNS,
    );
  });
});

describe('compareCloseness', () => {
  it('agrees in sign with the numeric XOR distance', () => {
    fc.assert(
      fc.property(nameArb, nameArb, nameArb, (t, a, b) => {
        expect(sign(compareCloseness(t, a, b))).toBe(sign(distance(t, a) - distance(t, b)));
      }),
      RUNS,
    );
  });

  it('is 0 exactly when the names are equal (irreflexive as a strict order)', () => {
    fc.assert(
      fc.property(nameArb, nameArb, (t, a) => {
        expect(compareCloseness(t, a, new Uint8Array(a) as Name)).toBe(0);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(nameArb, nameArb, nameArb, (t, a, b) => {
        expect(compareCloseness(t, a, b) === 0).toBe(nameEquals(a, b));
      }),
      RUNS,
    );
  });

  it('is antisymmetric', () => {
    fc.assert(
      fc.property(nameArb, nameArb, nameArb, (t, a, b) => {
        // ===, not toBe: for a = b, -sign(0) is -0, which toBe tells from 0.
        expect(sign(compareCloseness(t, a, b)) === -sign(compareCloseness(t, b, a))).toBe(true);
      }),
      RUNS,
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(nameArb, nameArb, nameArb, nameArb, (t, a, b, c) => {
        if (compareCloseness(t, a, b) < 0 && compareCloseness(t, b, c) < 0) {
          expect(compareCloseness(t, a, c)).toBeLessThan(0);
        }
        if (compareCloseness(t, a, b) <= 0 && compareCloseness(t, b, c) <= 0) {
          expect(compareCloseness(t, a, c)).toBeLessThanOrEqual(0);
        }
      }),
      RUNS,
    );
  });

  it('puts the target itself first', () => {
    fc.assert(
      fc.property(nameArb, nameArb, (t, a) => {
        fc.pre(!nameEquals(t, a));
        expect(compareCloseness(t, t, a)).toBeLessThan(0);
      }),
      RUNS,
    );
  });

  it('orders concrete names as expected', () => {
    const target = new Uint8Array(NAME_BYTES) as Name;
    const at = (index: number, value: number) => {
      const out = new Uint8Array(NAME_BYTES);
      out[index] = value;
      return out as Name;
    };
    // A difference in an earlier byte outweighs any difference later on.
    expect(compareCloseness(target, at(63, 0xff), at(62, 0x01))).toBeLessThan(0);
    expect(compareCloseness(target, at(0, 0x01), at(1, 0xff))).toBeGreaterThan(0);
    // Relative to 0xff.., 0xfe.. is closer than 0x00..
    const ones = new Uint8Array(NAME_BYTES).fill(0xff) as Name;
    expect(compareCloseness(ones, at(0, 0xfe), at(0, 0x00))).toBeLessThan(0);
  });
});

describe('sortByCloseness and closestNames', () => {
  it('sortByCloseness equals the brute-force sort by numeric distance', () => {
    fc.assert(
      fc.property(nameArb, uniqueNames(0, 24), (target, names) => {
        expect(sortByCloseness(target, names).map(toHex)).toEqual(bruteSort(target, names).map(toHex));
      }),
      RUNS,
    );
  });

  it('closestNames returns exactly the k closest, closest first', () => {
    fc.assert(
      fc.property(nameArb, uniqueNames(0, 24), fc.integer({ min: 0, max: 30 }), (target, names, k) => {
        const chosen = closestNames(target, names, k);
        expect(chosen).toHaveLength(Math.min(k, names.length));
        expect(chosen.map(toHex)).toEqual(bruteSort(target, names).slice(0, k).map(toHex));
        // Every name left out is farther than every name chosen.
        const chosenHex = new Set(chosen.map(toHex));
        const last = chosen.at(-1);
        const farthestChosen = last === undefined ? -1n : distance(target, last);
        for (const other of names) {
          if (!chosenHex.has(toHex(other))) expect(distance(target, other) > farthestChosen).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('does not depend on the order of its input and does not change it', () => {
    fc.assert(
      fc.property(
        nameArb,
        uniqueNames(1, 16).chain((names) => fc.tuple(fc.constant(names), fc.shuffledSubarray(names, { minLength: names.length }))),
        fc.integer({ min: 1, max: 8 }),
        (target, [names, shuffled], k) => {
          const before = names.map(toHex);
          expect(closestNames(target, shuffled, k).map(toHex)).toEqual(closestNames(target, names, k).map(toHex));
          expect(names.map(toHex)).toEqual(before);
        },
      ),
      RUNS,
    );
  });
});

describe('names from content and from outside', () => {
  it('nameOf is SHA-512 of the content', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (content) => {
        const expected = new Uint8Array(createHash('sha512').update(content).digest());
        expect(nameOf(content)).toEqual(expected);
        expect(isName(nameOf(content))).toBe(true);
      }),
      RUNS,
    );
  });

  it('toHex and nameFromHex round-trip', () => {
    fc.assert(
      fc.property(nameArb, (name) => {
        const hex = toHex(name);
        expect(hex).toMatch(/^[0-9a-f]{128}$/);
        expect(nameFromHex(hex)).toEqual(name);
        expect(nameFromHex(` ${hex.toUpperCase()}\n`)).toEqual(name);
      }),
      RUNS,
    );
  });

  it('toHex respects the view of a subarray', () => {
    const bytes = Uint8Array.from([1, 2, 3, 4, 5]);
    expect(toHex(bytes.subarray(1, 3))).toBe('0203');
  });

  it('rejects a bad name with InvalidNameError', () => {
    expect(() => parseName(undefined, 'chunk')).toThrow(InvalidNameError);
    expect(() => parseName(null)).toThrow(/name is missing/);
    expect(() => parseName(new Uint8Array(63), 'chunk')).toThrow(/chunk must be 64 bytes, got 63/);
    expect(() => nameFromHex('ab')).toThrow(InvalidNameError);
    expect(() => nameFromHex('zz'.repeat(NAME_BYTES))).toThrow(InvalidNameError);
    expect(isName(new Uint8Array(65))).toBe(false);
    expect(isName('x'.repeat(64))).toBe(false);
    const ok = new Uint8Array(NAME_BYTES);
    expect(parseName(ok)).toBe(ok);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 130 }), (bytes) => {
        if (bytes.length === NAME_BYTES) expect(parseName(bytes)).toBe(bytes);
        else expect(() => parseName(bytes)).toThrow(InvalidNameError);
      }),
      RUNS,
    );
  });

  it('nameEquals compares bytes and lengths', () => {
    expect(nameEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(nameEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(nameEquals(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0))).toBe(false);
  });
});
