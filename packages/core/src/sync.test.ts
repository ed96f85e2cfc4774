import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters, syncResolution } from './config.js';
import { MemoryEntryStore } from './memory/stores.js';
import { NAME_BYTES, type Name, toHex } from './name.js';
import { MatrixChange } from './routing.js';
import { VirtualClock } from './sim/clock.js';
import { Sync, type SyncAction, type SyncEntry, syncKey } from './sync.js';

/** A name whose distance to the zero NAE is its first byte, so close groups are obvious. */
const at = (b: number): Name => {
  const out = new Uint8Array(NAME_BYTES);
  out[0] = b;
  return out as Name;
};
const ZERO = new Uint8Array(NAME_BYTES) as Name;
const action = (nae: Name = ZERO, payload = 'AQI='): SyncAction => ({ type: 'RecordPut', nae: toHex(nae), payload });

/** One request's first action slot, decided two ways: members with the record add a subscriber, one without would create it. */
const decidedTwoWays = (request: Uint8Array) => ({
  add: syncKey(request, 0, 'AddSubscriber'),
  create: syncKey(request, 0, 'CreateRecord'),
  addAction: { ...action(ZERO), type: 'AddSubscriber' },
  createAction: { ...action(ZERO), type: 'CreateRecord' },
});

function setup(k: number, self: Name, overrides: Partial<GroupParameters> = {}) {
  const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: k, ...overrides };
  const clock = new VirtualClock();
  const store = new MemoryEntryStore<SyncEntry>();
  const sync = new Sync(self, store, params, () => clock.now());
  return { params, clock, store, sync };
}

describe('Sync resolution', () => {
  it('property: resolves exactly once, when floor(K/2)+1 distinct members have seen it; gone once all K have', async () => {
    const scenario = fc.integer({ min: 2, max: 8 }).chain((k) =>
      fc.tuple(
        fc.constant(k),
        // Each step: 0 = this node proposes (it got the action itself), i > 0 = member i reports it.
        fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: 1, maxLength: 3 * k }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([k, steps]) => {
        const group = Array.from({ length: k }, (_, i) => at(i + 1));
        const self = group[0] as Name;
        const { sync, params } = setup(k, self);
        const seen = new Set<number>();
        let resolved = false;
        let completed = false;
        let resolutions = 0;
        for (const step of steps) {
          const result =
            step === 0 ? await sync.propose('key', action(), group) : await sync.receive('key', action(), group[step] as Name, group);
          if (completed) {
            expect(result).toEqual({ resolvedNow: false, entry: undefined });
            continue;
          }
          seen.add(step);
          seen.add(0); // receiving a remote entry means this node has seen it too
          const resolvesNow: boolean = !resolved && seen.size >= syncResolution(params);
          expect(result.resolvedNow).toBe(resolvesNow);
          if (result.resolvedNow) resolutions++;
          resolved ||= resolvesNow;
          completed = resolved && seen.size === k;
          if (completed) {
            expect(result.entry).toBeUndefined();
            expect(await sync.get('key')).toBeUndefined();
          } else {
            expect(result.entry?.resolved).toBe(resolved);
            expect(new Set(result.entry?.seenBy)).toEqual(new Set([...seen].map((i) => toHex(group[i] as Name))));
            expect(await sync.get('key')).toEqual(result.entry);
          }
        }
        expect(resolutions).toBe(resolved ? 1 : 0);
      }),
      { numRuns: 200 },
    );
  });

  it('K = 4: kept after resolving at 3 members, until the 4th has seen it', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1));
    expect((await sync.propose('e', action(), group)).resolvedNow).toBe(false);
    expect((await sync.receive('e', action(), at(2), group)).resolvedNow).toBe(false);
    expect((await sync.receive('e', action(), at(2), group)).resolvedNow).toBe(false);
    const third = await sync.receive('e', action(), at(3), group);
    expect(third.resolvedNow).toBe(true);
    expect(third.entry?.resolved).toBe(true);
    expect((await sync.get('e'))?.seenBy).toEqual([at(1), at(2), at(3)].map(toHex));
    const last = await sync.receive('e', action(), at(4), group);
    expect(last).toEqual({ resolvedNow: false, entry: undefined });
    expect(await sync.get('e')).toBeUndefined();
    // A late or duplicated copy after completion is never applied again.
    expect(await sync.receive('e', action(), at(4), group)).toEqual({ resolvedNow: false, entry: undefined });
    expect(await sync.propose('e', action(), group)).toEqual({ resolvedNow: false, entry: undefined });
  });

  it('a node lists itself as seen, at the end, when it receives a remote entry', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(3));
    const first = await sync.receive('e', action(), at(1), group);
    expect(first.entry?.seenBy).toEqual([toHex(at(1)), toHex(at(3))]);
    expect(first.entry?.originatedHere).toBe(false);
    // Others are appended after it; itself only once.
    const second = await sync.receive('e', action(), at(4), group);
    expect(second.entry?.seenBy).toEqual([toHex(at(1)), toHex(at(3)), toHex(at(4))]);
    // The node that got the action from the previous persona is the originator.
    const { sync: origin } = setup(4, at(2));
    const proposed = await origin.propose('e', action(), group);
    expect(proposed.entry?.seenBy).toEqual([toHex(at(2))]);
    expect(proposed.entry?.originatedHere).toBe(true);
  });

  it('a resent Sync from a member still waiting is answered once per member, if applied here; a first Sync or another action never (issue 16)', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1));
    await sync.propose('e', action(), group);
    // Not applied here yet: a resend only counts.
    expect((await sync.receive('e', action(), at(2), group, true)).answer).toBeUndefined();
    expect((await sync.receive('e', action(), at(3), group)).resolvedNow).toBe(true);
    // Applied: at(4)'s first Sync is not answered (it may have every Sync it needs), its resends once.
    const first = await sync.receive('e', action(), at(4), group);
    expect(first).toEqual({ resolvedNow: false, entry: undefined });
    expect(await sync.receive('e', action(), at(4), group, true)).toEqual({ resolvedNow: false, entry: undefined, answer: true });
    expect((await sync.receive('e', action(), at(4), group, true)).answer).toBeUndefined();
    // Another member, once; another action under the key, never.
    expect((await sync.receive('e', action(), at(2), group, true)).answer).toBe(true);
    expect((await sync.receive('e', action(), at(2), group, true)).answer).toBeUndefined();
    expect((await sync.receive('e', action(ZERO, 'BBB='), at(3), group, true)).answer).toBeUndefined();
    // An action applied before at(3) was seen (resolved, still in the container) answers too.
    const { sync: other } = setup(4, at(1));
    await other.propose('f', action(), group);
    await other.receive('f', action(), at(2), group);
    await other.receive('f', action(), at(4), group);
    const resent = await other.receive('f', action(), at(3), group, true);
    expect([resent.resolvedNow, resent.answer]).toEqual([false, true]);
  });

  it('a different action under the same key does not count: the first one stands', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1));
    await sync.propose('e', action(ZERO, 'AQI='), group);
    const other = await sync.receive('e', action(ZERO, 'BBB='), at(2), group);
    expect(other.resolvedNow).toBe(false);
    expect(other.entry?.action.payload).toBe('AQI=');
    expect(other.entry?.seenBy).toEqual([toHex(at(1))]);
    expect((await sync.receive('e', { ...action(ZERO, 'AQI='), type: 'Other' }, at(3), group)).entry?.seenBy).toEqual([toHex(at(1))]);
  });
});

describe('Sync.due', () => {
  it('re-sends only unresolved entries this node originated, and drops them after syncAttemptsBeforeDrop sends', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1), { syncAttemptsBeforeDrop: 3 });
    await sync.propose('mine', action(), group); // unresolved, originated here
    await sync.receive('theirs', action(), at(2), group); // unresolved, someone else's
    await sync.propose('done', action(), group);
    await sync.receive('done', action(), at(2), group);
    await sync.receive('done', action(), at(3), group); // resolved
    for (let attempt = 1; attempt <= 3; attempt++) {
      const { send, dropped } = await sync.due();
      expect(send.map((e) => [e.key, e.attempts])).toEqual([['mine', attempt]]);
      expect(dropped).toEqual([]);
    }
    const last = await sync.due();
    expect(last.send).toEqual([]);
    expect(last.dropped.map((e) => e.key)).toEqual(['mine']);
    expect(await sync.get('mine')).toBeUndefined();
    // The others stay.
    expect((await sync.get('theirs'))?.attempts).toBe(0);
    expect((await sync.get('done'))?.resolved).toBe(true);
    expect(await sync.due()).toEqual({ send: [], dropped: [] });
  });

  it('an entry that resolves is no longer re-sent', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1));
    await sync.propose('e', action(), group);
    expect((await sync.due()).send).toHaveLength(1);
    await sync.receive('e', action(), at(2), group);
    await sync.receive('e', action(), at(3), group);
    expect(await sync.due()).toEqual({ send: [], dropped: [] });
  });

  it('forgets a completed entry only after the firewall memory, so a late copy is not applied twice meanwhile', async () => {
    const group = [at(1), at(2)];
    const { sync, store, clock, params } = setup(2, at(1));
    expect((await sync.receive('e', action(), at(2), group)).resolvedNow).toBe(true);
    expect(await store.keys()).toEqual(['e']);
    clock.advance(params.firewallMemoryMs);
    await sync.due();
    expect((await sync.receive('e', action(), at(2), group)).resolvedNow).toBe(false);
    clock.advance(1);
    await sync.due();
    expect(await store.keys()).toEqual([]);
  });

  it("takes out of the container, with the firewall's memory, what no one resends: a lone action of a request that never came here, and an applied one a member never saw", async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync, store, clock, params } = setup(4, at(1));
    await sync.receive('lone', action(), at(2), group);
    await sync.receive('applied', action(), at(2), group);
    expect((await sync.receive('applied', action(), at(3), group)).resolvedNow).toBe(true);
    clock.advance(params.firewallMemoryMs);
    expect(await sync.due()).toEqual({ send: [], dropped: [] });
    expect((await sync.get('lone'))?.resolved).toBe(false);
    expect((await sync.get('applied'))?.resolved).toBe(true);
    clock.advance(1);
    const { dropped } = await sync.due();
    expect(dropped.map((e) => e.key)).toEqual(['lone']);
    expect(await sync.get('lone')).toBeUndefined();
    // The applied one is a tombstone for another firewall memory: a late Sync of it is not applied again.
    expect(await sync.get('applied')).toBeUndefined();
    expect((await sync.receive('applied', action(), at(4), group)).resolvedNow).toBe(false);
    expect((await sync.byNae()).applied.get(toHex(ZERO))?.map((e) => e.key)).toEqual(['applied']);
    clock.advance(params.firewallMemoryMs + 1);
    await sync.due();
    expect(await store.keys()).toEqual([]);
  });

  it('an entry stored before entries carried seenAt is given one at the next tick, not dropped at once', async () => {
    const { sync, store, clock, params } = setup(4, at(1));
    await store.set('old', {
      key: 'old',
      action: action(),
      seenBy: [toHex(at(2)), toHex(at(1))],
      resolved: false,
      attempts: 0,
      originatedHere: false,
    });
    clock.advance(params.firewallMemoryMs * 3);
    expect(await sync.due()).toEqual({ send: [], dropped: [] });
    expect((await store.get('old'))?.seenAt).toBe(clock.now());
    clock.advance(params.firewallMemoryMs + 1);
    expect((await sync.due()).dropped.map((e) => e.key)).toEqual(['old']);
  });
});

describe('Sync.onMatrixChange', () => {
  const naeOf = (entry: SyncEntry) => Buffer.from(entry.action.nae, 'hex') as unknown as Name;
  const nodes = [10, 20, 30, 40, 50, 60].map(at);

  it('replaces a departed member by the member that took its place', async () => {
    const self = at(20);
    const { sync } = setup(4, self, {});
    const group = [at(10), at(20), at(30), at(40)];
    await sync.receive('e', action(), at(10), group);
    // at(10) leaves: the close group of ZERO becomes 20, 30, 40, 50.
    const change = new MatrixChange(
      self,
      nodes,
      nodes.filter((n) => n[0] !== 10),
      4,
    );
    await sync.onMatrixChange(change, naeOf);
    expect((await sync.get('e'))?.seenBy).toEqual([toHex(at(50)), toHex(self)]);
  });

  it('leaves entries alone where the departed node had not reported', async () => {
    const self = at(20);
    const { sync } = setup(4, self);
    const group = [at(10), at(20), at(30), at(40)];
    await sync.receive('e', action(), at(30), group);
    await sync.onMatrixChange(
      new MatrixChange(
        self,
        nodes,
        nodes.filter((n) => n[0] !== 10),
        4,
      ),
      naeOf,
    );
    expect((await sync.get('e'))?.seenBy).toEqual([toHex(at(30)), toHex(self)]);
  });

  it('drops entries this node is no longer responsible for', async () => {
    const self = at(40);
    const { sync, store } = setup(4, self);
    const far = at(0x2c); // close group 40, 60, 50, 10 before and after the joins: self stays responsible
    await sync.receive('near', action(ZERO), at(10), [at(10), at(20), at(30), at(40)]);
    await sync.receive('far', action(far), at(50), [at(40), at(60), at(50), at(10)]);
    // Three nodes join closer to ZERO than self: self leaves the close group of ZERO.
    const joined = [...nodes, at(1), at(2), at(3)];
    const change = new MatrixChange(self, nodes, joined, 4);
    expect(change.checkHolders(ZERO).responsible).toBe(false);
    expect(change.checkHolders(far).responsible).toBe(true);
    await sync.onMatrixChange(change, naeOf);
    expect(await sync.get('near')).toBeUndefined();
    expect(await store.keys()).toEqual(['far']);
    expect((await sync.get('far'))?.seenBy).toEqual([toHex(at(50)), toHex(self)]);
  });

  it('byNae groups the open entries by NAE and lists the applied ones, in one pass, for the account transfer', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1));
    await sync.propose('a', action(ZERO), group);
    await sync.propose('b', action(at(9)), group);
    await sync.propose('c', action(ZERO), group);
    await sync.propose('d', action(ZERO), group);
    await sync.receive('d', action(ZERO), at(2), group);
    await sync.receive('d', action(ZERO), at(3), group);
    const { unresolved, applied } = await sync.byNae();
    expect([...unresolved.keys()].sort()).toEqual([toHex(ZERO), toHex(at(9))].sort());
    expect(unresolved.get(toHex(ZERO))?.map((e) => e.key)).toEqual(['a', 'c']);
    expect(applied.get(toHex(ZERO))?.map((e) => e.key)).toEqual(['d']);
  });

  it('markApplied: an action a transferred record already holds is never applied again, nor sent', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const { sync } = setup(4, at(1));
    await sync.receive('open', action(ZERO), at(2), group);
    expect(await sync.markApplied('open', action(ZERO))).toBe(true);
    expect(await sync.markApplied('unknown', action(ZERO))).toBe(true);
    // Applied here already (or marked before): nothing new.
    expect(await sync.markApplied('open', action(ZERO))).toBe(false);
    for (const key of ['open', 'unknown']) {
      expect(await sync.get(key)).toBeUndefined();
      expect((await sync.receive(key, action(ZERO), at(3), group)).resolvedNow).toBe(false);
      expect((await sync.adopt(key, action(ZERO), [toHex(at(2)), toHex(at(3)), toHex(at(4))], group)).resolvedNow).toBe(false);
    }
    expect((await sync.due()).send).toEqual([]);
    expect(
      (await sync.byNae()).applied
        .get(toHex(ZERO))
        ?.map((e) => e.key)
        .sort(),
    ).toEqual(['open', 'unknown']);
  });

  it('applies one action per slot (request and index): another action the group proposed for the same request is settled, never applied', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const request = Uint8Array.of(1, 2, 3);
    // Members that have the record add a subscriber; one that has none yet would create it.
    const { add, create, addAction, createAction } = decidedTwoWays(request);
    const next = syncKey(request, 1, 'AddSubscriber');
    expect(add).not.toBe(create);
    expect(add).toMatch(/^[0-9a-f]{64}$/);
    const { sync } = setup(4, at(1));
    await sync.propose(add, addAction, group);
    await sync.receive(add, addAction, at(2), group);
    expect((await sync.receive(add, addAction, at(3), group)).resolvedNow).toBe(true);
    // at(4)'s CreateRecord, vouched for by a second member (say a newcomer that adopted it): its slot is decided here.
    await sync.receive(create, createAction, at(4), group);
    const late = await sync.receive(create, createAction, at(2), group);
    expect(late.entry).toBeUndefined();
    expect(late.resolvedNow).toBe(false);
    // The request's next action is a slot of its own.
    await sync.receive(next, addAction, at(2), group);
    expect((await sync.receive(next, addAction, at(3), group)).resolvedNow).toBe(true);
    // Not handed over as open, nor re-sent; the slot itself is no entry.
    expect((await sync.byNae()).unresolved.size).toBe(0);
    expect(
      (await sync.byNae()).applied
        .get(toHex(ZERO))
        ?.map((e) => e.key)
        .sort(),
    ).toEqual([add, next].sort());
    expect((await sync.due()).send).toEqual([]);

    // A record that came by account transfer with one of them applied: the other is never applied here.
    const { sync: newcomer } = setup(4, at(5));
    const now = [at(1), at(2), at(3), at(5)];
    expect(await newcomer.markApplied(add, addAction)).toBe(true);
    expect(await newcomer.markApplied(create, createAction)).toBe(false);
    const { sync: other } = setup(4, at(5));
    await other.propose(create, createAction, now);
    expect(await other.markApplied(add, addAction)).toBe(true);
    expect((await other.adopt(create, createAction, [toHex(at(1)), toHex(at(2))], now)).resolvedNow).toBe(false);
  });

  it("a lone action of a slot another action of which was applied here is settled: never handed over, so newcomers' adoptions never add up to applying it", async () => {
    const group = [at(1), at(2), at(3), at(4)];
    const request = Uint8Array.of(4, 5, 6);
    const { add, create, addAction, createAction } = decidedTwoWays(request);
    // at(4) (no record yet) proposed CreateRecord; at(1) got its Sync before the group's AddSubscriber resolved.
    const { sync } = setup(4, at(1));
    await sync.receive(create, createAction, at(4), group);
    await sync.propose(add, addAction, group);
    await sync.receive(add, addAction, at(2), group);
    expect((await sync.receive(add, addAction, at(3), group)).resolvedNow).toBe(true);
    // The CreateRecord is no open entry to hand to a newcomer, before or after a tick, nor once more Syncs of it come.
    expect((await sync.byNae()).unresolved.size).toBe(0);
    await sync.due();
    expect((await sync.byNae()).unresolved.size).toBe(0);
    expect(await sync.get(create)).toBeUndefined();
    expect((await sync.receive(create, createAction, at(2), group)).resolvedNow).toBe(false);
    expect((await sync.byNae()).unresolved.size).toBe(0);
    // So a newcomer is handed only what at(4) (which proposed it) vouches for: with itself, one short.
    const { sync: newcomer } = setup(4, at(5));
    const now = [at(1), at(2), at(4), at(5)];
    expect((await newcomer.adopt(create, createAction, [toHex(at(4))], now)).resolvedNow).toBe(false);
    // at(4) took the AddSubscriber as applied with its record: its own CreateRecord is settled too.
    const { sync: proposer } = setup(4, at(4));
    await proposer.propose(create, createAction, group);
    expect(await proposer.markApplied(add, addAction)).toBe(true);
    expect((await proposer.byNae()).unresolved.size).toBe(0);
    expect((await proposer.due()).send).toEqual([]);
  });

  it('one vote per slot: a group split two and two resolves neither action; a newcomer whose record came re-casts its vote, and tells the group', async () => {
    const group = [at(1), at(2), at(5), at(6)];
    const request = Uint8Array.of(7, 8, 9);
    const { add, create, addAction, createAction } = decidedTwoWays(request);
    // at(1) and at(2) have the record and add a subscriber; at(5) and at(6) just joined and have none yet.
    const { sync: old } = setup(4, at(1));
    await old.propose(add, addAction, group);
    await old.receive(add, addAction, at(2), group);
    // Counting itself for the newcomers' CreateRecord too would resolve it here: it votes once per slot.
    // A conflicting Sync: the runtime hands the NAE's queued records over at once.
    expect((await old.receive(create, createAction, at(5), group)).conflicting).toBe(true);
    expect((await old.receive(create, createAction, at(6), group)).resolvedNow).toBe(false);
    expect((await old.get(create))?.seenBy).toEqual([toHex(at(5)), toHex(at(6))]);
    const { sync: newcomer } = setup(4, at(5));
    await newcomer.propose(create, createAction, group);
    await newcomer.receive(create, createAction, at(6), group);
    await newcomer.receive(add, addAction, at(1), group);
    const split = await newcomer.receive(add, addAction, at(2), group);
    expect(split.resolvedNow).toBe(false);
    expect(split.tell).toBeUndefined();
    // The record came by account transfer: its CreateRecord vote was cast without it.
    const [recast, ...more] = await newcomer.withdrawUninformed((await newcomer.votesByNae()).get(toHex(ZERO)) ?? [], group);
    expect(more).toEqual([]);
    expect(recast?.key).toBe(add);
    expect(recast?.result.resolvedNow).toBe(true);
    expect(recast?.result.tell).toBe(true);
    expect((await newcomer.get(create))?.seenBy).toEqual([toHex(at(6))]);
    expect((await newcomer.due()).send).toEqual([]);
    // at(6)'s CreateRecord never wins this node's vote back.
    expect((await newcomer.receive(create, createAction, at(6), group)).resolvedNow).toBe(false);
    // Told, the members that have the record resolve the AddSubscriber.
    expect((await old.receive(add, addAction, at(5), group)).resolvedNow).toBe(true);

    // Withdrawn before any other action of the slot was heard of: the next one it hears of gets the vote, told.
    const { sync: early } = setup(4, at(6));
    await early.propose(create, createAction, group);
    expect(await early.withdrawUninformed((await early.votesByNae()).get(toHex(ZERO)) ?? [], group)).toEqual([]);
    expect((await early.receive(add, addAction, at(1), group)).tell).toBe(true);
    const second = await early.receive(add, addAction, at(2), group);
    expect(second.resolvedNow).toBe(true);
    expect(second.tell).toBeUndefined();
    expect((await early.get(add))?.seenBy).toEqual([toHex(at(1)), toHex(at(6)), toHex(at(2))]);
  });

  it('a member that only received Syncs tells the group once they resolved the action with its vote, not before', async () => {
    // at(3) and at(4) refused the request (their views did not know its sender yet): only at(1) and at(2) propose.
    const group = [at(1), at(2), at(3), at(4)];
    const { add, addAction } = decidedTwoWays(Uint8Array.of(4, 2));
    const { sync: silent } = setup(4, at(3));
    const first = await silent.receive(add, addAction, at(1), group);
    expect(first.resolvedNow).toBe(false);
    // Still open: its own copy of the request may yet decide otherwise, so its vote is not told.
    expect(first.tell).toBeUndefined();
    const second = await silent.receive(add, addAction, at(2), group);
    expect(second.resolvedNow).toBe(true);
    expect(second.tell).toBe(true);
    expect(second.entry?.told).toBe(true);
    // Told once: the proposers' resends change nothing.
    expect((await silent.receive(add, addAction, at(1), group)).tell).toBeUndefined();
    // Without at(3)'s Sync, a proposer has only itself and the other proposer: with it, the action resolves.
    const { sync: proposer } = setup(4, at(1));
    await proposer.propose(add, addAction, group);
    expect((await proposer.receive(add, addAction, at(2), group)).resolvedNow).toBe(false);
    expect((await proposer.receive(add, addAction, at(3), group)).resolvedNow).toBe(true);
  });

  it('adopt (account transfer): keeps the members still in the group, adds itself last, resolves at floor(K/2)+1', async () => {
    const self = at(5);
    const group = [at(1), at(2), at(3), self];
    const { sync } = setup(4, self);
    // at(9) saw it but is no longer in the group; at(1) and at(2) (the sender, which told the group) did and are.
    const first = await sync.adopt('k', action(ZERO), [toHex(at(9)), toHex(at(1)), toHex(at(2))], group);
    expect(first.resolvedNow).toBe(true);
    expect(first.entry?.seenBy).toEqual([toHex(at(1)), toHex(at(2)), toHex(self)]);
    expect(first.entry?.originatedHere).toBe(false);
    // A new entry: this node tells the group it has seen it (the runtime sends it on).
    expect(first.entry?.told).toBe(true);
    // Adopted again from another member: merged, never resolved twice.
    const again = await sync.adopt('k', action(ZERO), [toHex(at(1)), toHex(at(3))], group);
    expect(again.resolvedNow).toBe(false);
    // Every member has seen it now: out of the container.
    expect(again.entry).toBeUndefined();
    const { sync: other } = setup(4, self);
    const single = await other.adopt('k', action(ZERO), [toHex(at(2))], group);
    expect(single.resolvedNow).toBe(false);
    expect(single.entry?.seenBy).toEqual([toHex(at(2)), toHex(self)]);
  });

  it('hands an entry over listing itself only if it told the group: members that only received one Sync never add up to a majority', async () => {
    const group = [at(1), at(2), at(3), at(4)];
    // at(2) and at(3) each only received at(1)'s Sync; at(4) proposed it too.
    const handed = async (self: Name, how: (sync: Sync) => Promise<unknown>) => {
      const { sync } = setup(4, self);
      await sync.receive('e', action(ZERO), at(1), group);
      await how(sync);
      return (await sync.byNae()).unresolved.get(toHex(ZERO))?.map((e) => e.seenBy);
    };
    expect(await handed(at(2), async () => undefined)).toEqual([[toHex(at(1))]]);
    expect(await handed(at(4), (sync) => sync.propose('e', action(ZERO), group))).toEqual([[toHex(at(1)), toHex(at(4))]]);
    // A newcomer that adopted it from them (at(1) left) has seen at(1)'s proposal only, and itself.
    const { sync: newcomer } = setup(4, at(5));
    const now = [at(2), at(3), at(4), at(5)];
    const fromAt2 = await newcomer.adopt('e', action(ZERO), [toHex(at(1))], now);
    const fromAt3 = await newcomer.adopt('e', action(ZERO), [toHex(at(1))], now);
    expect(fromAt2.entry?.seenBy).toEqual([toHex(at(5))]);
    expect(fromAt3.resolvedNow).toBe(false);
    // What it adopted new it told the group of: it vouches for itself when it hands it on.
    expect((await newcomer.byNae()).unresolved.get(toHex(ZERO))?.map((e) => e.seenBy)).toEqual([[toHex(at(5))]]);
  });
});

describe('Sync places (ArrivalOrder)', () => {
  it('keeps a place beside the entries until forgotten: no sweep, matrix change or account transfer takes it', async () => {
    const self = at(40);
    const { sync, clock, params } = setup(4, self);
    await sync.keepPlace('k', action(), { seq: 3 });
    await sync.keepPlace('k', action(), { seq: 3, agreed: { at: 5, trace: { traceparent: 't' } } });
    clock.advance(params.firewallMemoryMs * 3);
    expect(await sync.due()).toEqual({ send: [], dropped: [] });
    // Three nodes join closer to ZERO than self: self leaves its close group.
    const nodes = [10, 20, 30, 40, 50, 60].map(at);
    await sync.onMatrixChange(
      new MatrixChange(self, nodes, [...nodes, at(1), at(2), at(3)], 4),
      (e) => Buffer.from(e.action.nae, 'hex') as unknown as Name,
    );
    expect(await sync.byNae()).toEqual({ unresolved: new Map(), applied: new Map() });
    expect(await sync.standing('k')).toBe('gone');
    expect((await sync.places()).map((e) => [e.key, e.place])).toEqual([['k', { seq: 3, agreed: { at: 5, trace: { traceparent: 't' } } }]]);
    await sync.forgetPlace('k');
    expect(await sync.places()).toEqual([]);
  });
});
