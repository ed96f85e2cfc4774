import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccountTransfer, type TransferVotes } from './account-transfer.js';
import { DEFAULT_GROUP_PARAMETERS, transferAgreement } from './config.js';
import { MemoryEntryStore } from './memory/stores.js';
import { NAME_BYTES, type Name, toHex } from './name.js';

const member = (n: number) => new Uint8Array(NAME_BYTES).fill(n + 1) as Name;
const value = (n: number) => Uint8Array.of(n, 0xaa);

/** Whether this copy made the value agreed (offer returns what to take as applied, or undefined). */
const agreed = async (transfer: AccountTransfer, ...args: Parameters<AccountTransfer['offer']>) =>
  (await transfer.offer(...args)) !== undefined;

function setup(k: number) {
  const params = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: k };
  const store = new MemoryEntryStore<TransferVotes>();
  return { transfer: new AccountTransfer(store, params), store, threshold: transferAgreement(params) };
}

describe('AccountTransfer', () => {
  it('K = 4: written once 2 members send the same value, and only once', async () => {
    const { transfer } = setup(4);
    expect(await agreed(transfer, 'r', member(0), value(1))).toBe(false);
    expect(await agreed(transfer, 'r', member(1), value(1))).toBe(true);
    expect(await agreed(transfer, 'r', member(2), value(1))).toBe(false);
    expect(await agreed(transfer, 'r', member(3), value(2))).toBe(false);
  });

  it('K = 5: written once 3 members agree; a minority value is never written', async () => {
    const { transfer } = setup(5);
    expect(await agreed(transfer, 'r', member(0), value(1))).toBe(false);
    expect(await agreed(transfer, 'r', member(1), value(2))).toBe(false);
    expect(await agreed(transfer, 'r', member(2), value(1))).toBe(false);
    expect(await agreed(transfer, 'r', member(3), value(2))).toBe(false);
    expect(await agreed(transfer, 'r', member(4), value(3))).toBe(false);
    // 2 / 2 / 1: nothing agreed; a sixth member tips value 2 over.
    expect(await agreed(transfer, 'r', member(5), value(2))).toBe(true);
  });

  it('a sender voting twice counts once, whatever value it sends the second time', async () => {
    const { transfer, store } = setup(4);
    expect(await agreed(transfer, 'r', member(0), value(1))).toBe(false);
    expect(await agreed(transfer, 'r', member(0), value(1))).toBe(false);
    expect(await agreed(transfer, 'r', member(0), value(2))).toBe(false);
    // One vote, for the first value only.
    expect(Object.values((await store.get('r'))?.votes ?? {})).toEqual([[toHex(member(0))]]);
    expect(await agreed(transfer, 'r', member(1), value(1))).toBe(true);
  });

  it('stalled(): records not agreed that long after their first copy, oldest first, at most the limit; never a written one', async () => {
    let now = 1_000;
    const store = new MemoryEntryStore<TransferVotes>();
    const transfer = new AccountTransfer(store, DEFAULT_GROUP_PARAMETERS, () => now);
    await transfer.offer('late', member(0), value(1));
    now = 2_000;
    await transfer.offer('later', member(0), value(1));
    await transfer.offer('agreed', member(0), value(1));
    await transfer.offer('agreed', member(1), value(1));
    now = 5_000;
    // A second copy does not restart the clock of a round.
    await transfer.offer('late', member(1), value(2));
    expect(await transfer.stalled(3_000, 10)).toEqual(['late', 'later']);
    expect(await transfer.stalled(3_500, 10)).toEqual(['late']);
    expect(await transfer.stalled(3_000, 1)).toEqual(['late']);
    await transfer.forget('late');
    expect(await transfer.stalled(0, 10)).toEqual(['later']);
  });

  it('keeps records apart, and forget() starts a record over', async () => {
    const { transfer } = setup(4);
    expect(await agreed(transfer, 'a', member(0), value(1))).toBe(false);
    expect(await agreed(transfer, 'b', member(1), value(1))).toBe(false);
    expect(await agreed(transfer, 'a', member(1), value(1))).toBe(true);
    await transfer.forget('a');
    expect(await agreed(transfer, 'a', member(0), value(1))).toBe(false);
    expect(await agreed(transfer, 'a', member(1), value(1))).toBe(true);
  });

  it('property: written iff some value reaches (K+1)/2 distinct senders, at that copy, and at most once', async () => {
    const scenario = fc.integer({ min: 2, max: 8 }).chain((k) =>
      fc.tuple(
        fc.constant(k),
        // (sender, value) in arrival order; senders may repeat and change their value.
        fc.array(fc.tuple(fc.integer({ min: 0, max: k }), fc.integer({ min: 0, max: 3 })), { maxLength: 3 * k }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([k, offers]) => {
        const { transfer, threshold } = setup(k);
        // Model: each sender's first vote counts; the record is written when a value first reaches the threshold.
        const firstVote = new Map<number, number>();
        const tally = new Map<number, number>();
        let written = false;
        let writes = 0;
        for (const [sender, v] of offers) {
          let expected = false;
          if (!written && !firstVote.has(sender)) {
            firstVote.set(sender, v);
            tally.set(v, (tally.get(v) ?? 0) + 1);
            if ((tally.get(v) ?? 0) >= threshold) {
              expected = true;
              written = true;
            }
          }
          const result = await agreed(transfer, 'record', member(sender), value(v));
          expect(result).toBe(expected);
          if (result) writes++;
        }
        expect(writes).toBeLessThanOrEqual(1);
        // Written iff, over everyone's first vote, some value reached the threshold.
        const firstVotes = new Map<number, number>();
        for (const [sender, v] of offers) if (!firstVotes.has(sender)) firstVotes.set(sender, v);
        const counts = [0, 1, 2, 3].map((v) => [...firstVotes.values()].filter((x) => x === v).length);
        expect(writes === 1).toBe(counts.some((c) => c >= threshold));
      }),
      { numRuns: 200 },
    );
  });

  it('on agreement returns the actions the agreeing senders applied to the value, once each, not those of a minority value', async () => {
    const { transfer, store } = setup(4);
    const act = (key: string) => ({ key, type: 'Note', payload: Buffer.from(key).toString('base64') });
    expect(await transfer.offer('r', member(0), value(1), [act('a')])).toBeUndefined();
    expect(await transfer.offer('r', member(1), value(2), [act('b')])).toBeUndefined();
    const written = await transfer.offer('r', member(2), value(1), [act('a'), act('c')]);
    expect(written?.applied.map((a) => a.key).sort()).toEqual(['a', 'c']);
    // Once written, only that is kept.
    expect((await store.get('r'))?.applied).toBeUndefined();
    expect(await transfer.offer('r', member(3), value(1), [act('d')])).toBeUndefined();
  });
});
