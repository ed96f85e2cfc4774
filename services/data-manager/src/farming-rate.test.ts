import { NAME_BYTES, type Name, nameEquals, toHex } from '@safe/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adoptedFarmingRate,
  closePeers,
  EXPONENTIAL_START,
  type FarmingRate,
  groupFarmingRate,
  initialFarmingRate,
  nextFarmingRate,
  refreshTargets,
  type SacrificialEvent,
} from './farming-rate.js';

const events = fc.array(fc.constantFrom<SacrificialEvent>('stored', 'failed', 'deleted'), { maxLength: 200 });

function run(policy: 'linear' | 'exponential', history: readonly SacrificialEvent[]): FarmingRate {
  return history.reduce((rate, event) => nextFarmingRate(policy, rate, event), initialFarmingRate(policy));
}

describe('linear farming rate (seed 004)', () => {
  it('starts at 1, +1 per sacrificial copy stored, −1 per one not stored or deleted', () => {
    expect(run('linear', [])).toEqual({ rate: 1, failedOutstanding: 0 });
    expect(run('linear', ['stored', 'stored', 'stored']).rate).toBe(4);
    expect(run('linear', ['stored', 'stored', 'failed', 'deleted']).rate).toBe(1);
  });

  it('stops at 0, and a copy stored after that counts from 0', () => {
    expect(run('linear', ['failed']).rate).toBe(0);
    expect(run('linear', ['failed', 'deleted', 'failed']).rate).toBe(0);
    expect(run('linear', ['failed', 'failed', 'stored']).rate).toBe(1);
    expect(run('linear', ['deleted', 'stored', 'stored', 'failed', 'stored']).rate).toBe(2);
  });

  it('is never negative', () => {
    fc.assert(
      fc.property(events, (history) => {
        expect(run('linear', history).rate).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe('exponential farming rate (seed 001)', () => {
  it('starts at 2^10, halves on a failed third copy, doubles once every failed one is stored again', () => {
    expect(run('exponential', []).rate).toBe(EXPONENTIAL_START);
    expect(run('exponential', ['failed']).rate).toBe(512);
    expect(run('exponential', ['failed', 'failed']).rate).toBe(256);
    // One of two failures stored again: not yet.
    expect(run('exponential', ['failed', 'failed', 'stored']).rate).toBe(256);
    // Both stored again: doubled once.
    expect(run('exponential', ['failed', 'failed', 'stored', 'stored'])).toEqual({ rate: 512, failedOutstanding: 0 });
  });

  it('is not altered by a success while no failed store is outstanding', () => {
    expect(run('exponential', ['stored', 'stored'])).toEqual(initialFarmingRate('exponential'));
  });

  it('counts the failed copies not stored again yet; a success with none outstanding answers nothing', () => {
    expect(run('exponential', ['failed', 'stored', 'failed'])).toEqual({ rate: 512, failedOutstanding: 1 });
    expect(run('exponential', ['stored', 'failed', 'deleted', 'stored'])).toEqual({ rate: 256, failedOutstanding: 1 });
  });

  it('stops halving at 1, and doubles from there once every failed copy is stored again', () => {
    const failed = Array<SacrificialEvent>(11).fill('failed');
    expect(run('exponential', failed.slice(1))).toEqual({ rate: 1, failedOutstanding: 10 });
    expect(run('exponential', failed)).toEqual({ rate: 1, failedOutstanding: 11 });
    expect(run('exponential', [...failed, ...Array<SacrificialEvent>(11).fill('stored')])).toEqual({ rate: 2, failedOutstanding: 0 });
  });

  it('stays a positive power of two', () => {
    fc.assert(
      fc.property(events, (history) => {
        const { rate } = run('exponential', history);
        expect(rate).toBeGreaterThanOrEqual(1);
        expect(Number.isInteger(Math.log2(rate))).toBe(true);
      }),
    );
  });
});

describe("the group's value", () => {
  it('is the median of the members, one a member holds', () => {
    expect(groupFarmingRate([])).toBeUndefined();
    expect(groupFarmingRate([7])).toBe(7);
    expect(groupFarmingRate([5, 1, 9])).toBe(5);
    expect(groupFarmingRate([4, 1, 9, 6])).toBe(4);
  });

  it('does not depend on the order of the members, and splits them in halves: a minority cannot drag it to its own extreme', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1 << 20 }), { minLength: 1, maxLength: 9 }), fc.integer(), (rates, seed) => {
        const shuffled = [...rates].sort((a, b) => ((a * 31 + seed) % 7) - ((b * 31 + seed) % 7));
        const median = groupFarmingRate(rates);
        expect(groupFarmingRate(shuffled)).toBe(median);
        expect(rates).toContain(median);
        const sorted = [...rates].sort((a, b) => a - b);
        // At least half the members hold a value at or above it, and at least half at or below it.
        expect(sorted.filter((r) => r >= (median ?? 0)).length * 2).toBeGreaterThanOrEqual(rates.length);
        expect(sorted.filter((r) => r <= (median ?? 0)).length * 2).toBeGreaterThanOrEqual(rates.length);
      }),
    );
  });
});

describe('outliers', () => {
  const rate = fc.integer({ min: 0, max: 1 << 20 });
  it('a minority of members, whatever they hold, cannot move the median outside the honest members range', () => {
    fc.assert(
      fc.property(
        fc.array(rate, { minLength: 1, maxLength: 9 }).chain((honest) =>
          // A strict minority: fewer outliers than honest members.
          fc.tuple(fc.constant(honest), fc.array(fc.integer({ min: 0, max: 2 ** 52 }), { maxLength: honest.length - 1 })),
        ),
        ([honest, outliers]) => {
          const median = groupFarmingRate([...outliers, ...honest]) ?? Number.NaN;
          expect(median).toBeGreaterThanOrEqual(Math.min(...honest));
          expect(median).toBeLessThanOrEqual(Math.max(...honest));
        },
      ),
    );
  });
});

describe('a newcomer adopts', () => {
  it('nothing before (K+1)/2 peers sent their rate, then their median', () => {
    expect(adoptedFarmingRate([], 2)).toBeUndefined();
    expect(adoptedFarmingRate([9], 2)).toBeUndefined();
    expect(adoptedFarmingRate([9, 3], 2)).toBe(3);
    expect(adoptedFarmingRate([9, 3, 5], 2)).toBe(5);
  });

  it('whatever order the rates came in', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 5 }), (heard, agreement) => {
        const adopted = adoptedFarmingRate(heard, agreement);
        expect(adoptedFarmingRate([...heard].reverse(), agreement)).toBe(adopted);
        expect(adopted === undefined).toBe(heard.length < agreement);
      }),
    );
  });
});

describe('close peers', () => {
  const names = fc.uniqueArray(fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }), {
    minLength: 1,
    maxLength: 12,
    selector: (n) => toHex(n),
  }) as fc.Arbitrary<Name[]>;

  it('are the K DataManagers closest to a node, itself left out; refreshes go only to those that count it back', () => {
    fc.assert(
      fc.property(names, fc.integer({ min: 1, max: 6 }), (all, k) => {
        const [self] = all as [Name];
        const peers = closePeers(self, all, k);
        expect(peers).toHaveLength(Math.min(k, all.length - 1));
        expect(peers.some((p) => nameEquals(p, self))).toBe(false);
        for (const target of refreshTargets(self, all, k)) {
          expect(peers.some((p) => nameEquals(p, target))).toBe(true);
          expect(closePeers(target, all, k).some((p) => nameEquals(p, self))).toBe(true);
        }
        // With no more than K + 1 DataManagers, everyone is everyone's close peer.
        if (all.length <= k + 1) expect(refreshTargets(self, all, k)).toHaveLength(all.length - 1);
      }),
    );
  });
});
