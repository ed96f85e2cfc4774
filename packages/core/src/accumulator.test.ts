import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Accumulator, type AccumulatorDecision, type SourceCheck } from './accumulator.js';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters } from './config.js';
import { type Envelope, type MessageContent, sealEnvelope } from './envelope.js';
import { BadSignatureError, MalformedEnvelopeError, SenderNotInGroupError, WrongSourceError } from './errors.js';
import { type Identity, identityFromSeed } from './identity.js';
import { MemoryAccumulatorStore } from './memory/stores.js';
import { NAME_BYTES, type Name, toHex } from './name.js';
import type { AccumulationResult, AccumulatorStore } from './ports.js';
import { GroupView, type NodeInfo } from './routing.js';
import { VirtualClock } from './sim/clock.js';

const identities: Identity[] = Array.from({ length: 12 }, (_, i) => identityFromSeed(new Uint8Array(32).fill(i + 1)));
const info = (identity: Identity): NodeInfo => ({ persona: 'maid-manager', name: identity.name, publicKey: identity.publicKey });

/** An accumulator store that counts the copies it was asked to count. */
class CountingStore implements AccumulatorStore {
  readonly inner: MemoryAccumulatorStore;
  calls = 0;
  constructor(clock?: VirtualClock) {
    this.inner = new MemoryAccumulatorStore(clock);
  }
  add(id: string, sender: string, quorum: number, ttlMs: number): Promise<AccumulationResult> {
    this.calls++;
    return this.inner.add(id, sender, quorum, ttlMs);
  }
}

/**
 * A sending group: `size` maid-manager nodes in the view; the close group of the source NAE is
 * its K closest members, the others are known nodes outside that group.
 */
function setup(k: number, size: number, sourceNae: Name, clock?: VirtualClock) {
  const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: k };
  const nodes = identities.slice(0, size);
  const view = new GroupView('maid-manager', nodes.map(info));
  const groupNames = view.closeGroup(sourceNae, k).map(toHex);
  const members = nodes.filter((n) => groupNames.includes(toHex(n.name)));
  const outsiders = nodes.filter((n) => !groupNames.includes(toHex(n.name)));
  const store = new CountingStore(clock);
  const accumulator = new Accumulator(store, params);
  const source: SourceCheck = { kind: 'group', view };
  return { params, view, members, outsiders, store, accumulator, source };
}

const content = (sourceNae: Name, payload = Uint8Array.of(1)): MessageContent => ({
  type: 'Put',
  source: { persona: 'maid-manager', nae: sourceNae },
  authority: 'group',
  destination: { persona: 'data-manager', nae: new Uint8Array(NAME_BYTES).fill(0x42) as Name },
  scope: 'close-group',
  payload,
  correlation: new Uint8Array(0),
});

const nameArb = fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }).map((b) => b as Name);
const SOURCE = new Uint8Array(NAME_BYTES).fill(0x11) as Name;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('Accumulator, group authority', () => {
  it('acts exactly once, when the (K−1)th distinct member arrives, whatever the order and duplication (K = 2..6)', async () => {
    const scenario = fc.tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 0, max: 3 }), nameArb).chain(([k, extra, nae]) =>
      fc.tuple(
        fc.constant(k),
        fc.constant(extra),
        fc.constant(nae),
        // Which member's copy arrives at each step: any order, duplicates allowed.
        fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: 1, maxLength: 3 * k }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([k, extra, nae, arrivals]) => {
        const { members, accumulator, source } = setup(k, k + extra, nae);
        expect(members).toHaveLength(k);
        const copies = members.map((m) => sealEnvelope(content(nae), m));
        const quorum = k - 1 || 1;
        const seen = new Set<number>();
        let acted = false;
        for (const index of arrivals) {
          const decision = await accumulator.accept(copies[index] as Envelope, source);
          const repeat = seen.has(index);
          seen.add(index);
          let expected: AccumulatorDecision;
          if (repeat) expected = acted ? 'repeat' : 'pending';
          else if (seen.size === quorum) expected = 'act';
          else expected = seen.size < quorum ? 'pending' : 'late';
          expect(decision).toBe(expected);
          if (decision === 'act') acted = true;
        }
        expect(acted).toBe(seen.size >= quorum);
      }),
      { numRuns: 120 },
    );
  });

  it('never acts below K − 1 copies (K = 4: 3 of 4)', async () => {
    const { members, accumulator, source } = setup(4, 8, SOURCE);
    const [a, b, c, d] = members.map((m) => sealEnvelope(content(SOURCE), m)) as [Envelope, Envelope, Envelope, Envelope];
    expect(await accumulator.accept(a, source)).toBe('pending');
    expect(await accumulator.accept(a, source)).toBe('pending');
    expect(await accumulator.accept(b, source)).toBe('pending');
    expect(await accumulator.accept(b, source)).toBe('pending');
    expect(await accumulator.accept(c, source)).toBe('act');
    expect(await accumulator.accept(d, source)).toBe('late');
    expect(await accumulator.accept(c, source)).toBe('repeat');
  });

  it("accumulate on 1 (first): the first member copy acts, the others are late, a member's second delivery a repeat", async () => {
    const { members, outsiders, accumulator, view } = setup(4, 8, SOURCE);
    const first: SourceCheck = { kind: 'group', view, first: true };
    const [a, b, c] = members.map((m) => sealEnvelope(content(SOURCE), m)) as [Envelope, Envelope, Envelope];
    const outsider = await rejection(accumulator.accept(sealEnvelope(content(SOURCE), outsiders[0] as Identity), first));
    expect(outsider).toBeInstanceOf(SenderNotInGroupError);
    expect(await accumulator.accept(b, first)).toBe('act');
    expect(await accumulator.accept(a, first)).toBe('late');
    expect(await accumulator.accept(c, first)).toBe('late');
    expect(await accumulator.accept(b, first)).toBe('repeat');
  });

  it('rejects a sender outside the source close group (SenderNotInGroupError) without counting it', async () => {
    const { members, outsiders, accumulator, source, store } = setup(4, 8, SOURCE);
    const stranger = identities[11] as Identity; // not in the view at all
    for (const outsider of [...outsiders, stranger]) {
      const error = await rejection(accumulator.accept(sealEnvelope(content(SOURCE), outsider), source));
      expect(error).toBeInstanceOf(SenderNotInGroupError);
    }
    expect(store.calls).toBe(0);
    // Had any of them counted, the second member's copy would have completed the quorum.
    expect(await accumulator.accept(sealEnvelope(content(SOURCE), members[0] as Identity), source)).toBe('pending');
    expect(await accumulator.accept(sealEnvelope(content(SOURCE), members[1] as Identity), source)).toBe('pending');
    expect(await accumulator.accept(sealEnvelope(content(SOURCE), members[2] as Identity), source)).toBe('act');
  });

  it('property: outsiders never count, whatever they send and when', async () => {
    await fc.assert(
      fc.asyncProperty(nameArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 14 }), async (nae, pattern) => {
        const { members, outsiders, accumulator, source } = setup(4, 8, nae);
        let member = 0;
        let outsider = 0;
        for (const fromMember of pattern) {
          if (fromMember && member < members.length) {
            const decision = await accumulator.accept(sealEnvelope(content(nae), members[member++] as Identity), source);
            expect(decision).toBe(member < 3 ? 'pending' : member === 3 ? 'act' : 'late');
          } else {
            const sender = outsiders[outsider++ % outsiders.length] as Identity;
            expect(await rejection(accumulator.accept(sealEnvelope(content(nae), sender), source))).toBeInstanceOf(SenderNotInGroupError);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('rejects bad signatures and tampered copies without counting them', async () => {
    const { members, accumulator, source, store } = setup(4, 8, SOURCE);
    const [a, b, c] = members.map((m) => sealEnvelope(content(SOURCE), m)) as [Envelope, Envelope, Envelope];
    const signature = new Uint8Array(a.signature);
    signature[0] = (signature[0] as number) ^ 1;
    expect(await rejection(accumulator.accept({ ...a, signature }, source))).toBeInstanceOf(BadSignatureError);
    // B's copy claiming to be from A: the name is not the hash of the key it carries.
    expect(await rejection(accumulator.accept({ ...b, sender: a.sender }, source))).toBeInstanceOf(BadSignatureError);
    // A copy whose payload was changed in transit.
    expect(await rejection(accumulator.accept({ ...c, payload: Uint8Array.of(2) }, source))).toBeInstanceOf(MalformedEnvelopeError);
    expect(store.calls).toBe(0);
    expect(await accumulator.accept(a, source)).toBe('pending');
    expect(await accumulator.accept(b, source)).toBe('pending');
    expect(await accumulator.accept(c, source)).toBe('act');
  });

  it('copies whose content differs do not count toward the same id', async () => {
    const { members, accumulator, source } = setup(4, 8, SOURCE);
    const [a, b, c, d] = members as [Identity, Identity, Identity, Identity];
    const x = content(SOURCE, Uint8Array.of(1));
    const y = content(SOURCE, Uint8Array.of(2));
    expect(await accumulator.accept(sealEnvelope(x, a), source)).toBe('pending');
    expect(await accumulator.accept(sealEnvelope(y, b), source)).toBe('pending');
    expect(await accumulator.accept(sealEnvelope(x, c), source)).toBe('pending');
    expect(await accumulator.accept(sealEnvelope(y, d), source)).toBe('pending');
    // Three identical copies: now x acts; y still has only two.
    expect(await accumulator.accept(sealEnvelope(x, d), source)).toBe('act');
    expect(await accumulator.accept(sealEnvelope(y, c), source)).toBe('act');
  });

  it('rejects a member signing with a key the routing view does not know', async () => {
    const { members, accumulator } = setup(4, 8, SOURCE);
    const [a, b, c] = members as [Identity, Identity, Identity];
    const impostor = identities[11] as Identity;
    // The view lists A's name with another key (a stale or forged entry): A's real signature is not enough.
    const view = new GroupView('maid-manager', [
      ...[...setup(4, 8, SOURCE).view.nodes()].filter((n) => toHex(n.name) !== toHex(a.name)),
      { persona: 'maid-manager', name: a.name, publicKey: impostor.publicKey },
    ]);
    const source: SourceCheck = { kind: 'group', view };
    const error = await rejection(accumulator.accept(sealEnvelope(content(SOURCE), a), source));
    expect(error).toBeInstanceOf(SenderNotInGroupError);
    expect((error as Error).message).toMatch(/key the routing view does not know/);
    expect(await accumulator.accept(sealEnvelope(content(SOURCE), b), source)).toBe('pending');
    expect(await accumulator.accept(sealEnvelope(content(SOURCE), c), source)).toBe('pending');
  });

  it('rejects a copy that claims single authority where a group is expected (WrongSourceError)', async () => {
    const { members, accumulator, source, store } = setup(4, 8, SOURCE);
    const copy = sealEnvelope({ ...content(SOURCE), authority: 'single' }, members[0] as Identity);
    expect(await rejection(accumulator.accept(copy, source))).toBeInstanceOf(WrongSourceError);
    expect(store.calls).toBe(0);
  });

  it('a young sending group smaller than K needs all but one of its members', async () => {
    const { members, accumulator, source } = setup(4, 3, SOURCE);
    expect(members).toHaveLength(3);
    const [a, b, c] = members.map((m) => sealEnvelope(content(SOURCE), m)) as [Envelope, Envelope, Envelope];
    expect(await accumulator.accept(a, source)).toBe('pending');
    expect(await accumulator.accept(b, source)).toBe('act');
    expect(await accumulator.accept(c, source)).toBe('late');
  });

  it('forgets an incomplete accumulation after accumulatorMemoryMs', async () => {
    const clock = new VirtualClock();
    const { members, accumulator, source, params } = setup(4, 8, SOURCE, clock);
    const [a, b, c] = members.map((m) => sealEnvelope(content(SOURCE), m)) as [Envelope, Envelope, Envelope];
    expect(await accumulator.accept(a, source)).toBe('pending');
    expect(await accumulator.accept(b, source)).toBe('pending');
    clock.advance(params.accumulatorMemoryMs);
    expect(await accumulator.accept(c, source)).toBe('pending');
  });
});

describe('Accumulator, single authority', () => {
  const params = DEFAULT_GROUP_PARAMETERS;
  const client = identities[0] as Identity;
  const single = (payload = Uint8Array.of(1)): MessageContent => ({
    ...content(client.name, payload),
    source: { persona: 'client', nae: client.name },
    authority: 'single',
  });

  it('acts on the first authenticated copy; a second delivery is a repeat', async () => {
    const accumulator = new Accumulator(new MemoryAccumulatorStore(), params);
    const copy = sealEnvelope(single(), client);
    expect(await accumulator.accept(copy, { kind: 'single' })).toBe('act');
    expect(await accumulator.accept(copy, { kind: 'single' })).toBe('repeat');
    expect(await accumulator.accept(sealEnvelope(single(Uint8Array.of(2)), client), { kind: 'single' })).toBe('act');
  });

  it('rejects a bad signature and a group copy', async () => {
    const store = new CountingStore();
    const accumulator = new Accumulator(store, params);
    const copy = sealEnvelope(single(), client);
    const signature = new Uint8Array(copy.signature);
    signature[63] = (signature[63] as number) ^ 0x80;
    expect(await rejection(accumulator.accept({ ...copy, signature }, { kind: 'single' }))).toBeInstanceOf(BadSignatureError);
    const group = sealEnvelope({ ...single(), authority: 'group' }, client);
    expect(await rejection(accumulator.accept(group, { kind: 'single' }))).toBeInstanceOf(WrongSourceError);
    expect(store.calls).toBe(0);
  });
});
