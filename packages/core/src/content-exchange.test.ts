import { randomBytes } from 'node:crypto';
import { EmptySchema } from '@safe/proto/messages';
import { describe, expect, it } from 'vitest';
import type { TransferVotes } from './account-transfer.js';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters } from './config.js';
import { contentDigest } from './content.js';
import { ContentStore } from './content-exchange.js';
import { type Envelope, sealEnvelope } from './envelope.js';
import { ContentMismatchError, type SafeError } from './errors.js';
import { type Identity, identityFromSeed } from './identity.js';
import { MemoryAccumulatorStore, MemoryEntryStore, MemoryFirewallStore } from './memory/stores.js';
import { closestNames, NAME_BYTES, type Name, nameEquals, toHex } from './name.js';
import { message, type PersonaDefinition } from './persona.js';
import type { Telemetry } from './ports.js';
import { protoCodec } from './proto.js';
import { type NodeInfo, type PersonaName, RoutingTable } from './routing.js';
import { CONTENT_PULL_MESSAGE, CONTENT_PUSH_MESSAGE, type ReceiveResult, Replica } from './runtime.js';
import { VirtualClock } from './sim/clock.js';
import type { SyncEntry } from './sync.js';
import { noTelemetry } from './telemetry.js';

// A DataManager-like persona: Store carries a chunk; its handler notes it and sends it on to a PmidManager group.
const emptyCodec = protoCodec(EmptySchema);
interface State {
  readonly stored: Uint8Array[];
}
const ONWARD = new Uint8Array(NAME_BYTES).fill(0x33) as Name;
const definition: PersonaDefinition<State> = {
  persona: 'data-manager',
  speaksAs: 'group',
  messages: [
    message<Record<string, never>, State>({
      type: 'Store',
      from: ['maid-manager'],
      accumulate: 'group',
      firewall: true,
      sync: false,
      content: true,
      payload: emptyCodec,
      handle(m, ctx) {
        ctx.state.stored.push(m.content);
        return {
          send: [
            {
              type: 'Store',
              to: { persona: 'pmid-manager', nae: ONWARD },
              scope: 'close-group',
              payload: new Uint8Array(0),
              content: m.content,
            },
          ],
        };
      },
    }),
    message<Record<string, never>, State>({
      type: 'Plain',
      from: ['maid-manager'],
      accumulate: 'group',
      firewall: true,
      sync: false,
      payload: emptyCodec,
      handle: () => ({}),
    }),
  ],
  actions: [],
};

const K = 4;
const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: K, accumulatorMemoryMs: 60_000, contentWaitMs: 1_000 };
const seeded = (persona: number, i: number) =>
  identityFromSeed(Uint8Array.from({ length: 32 }, (_, j) => (j === 0 ? persona : j === 1 ? i : 5)));
const dataManagers = Array.from({ length: 6 }, (_, i) => seeded(1, i));
const maidManagers = Array.from({ length: 6 }, (_, i) => seeded(2, i));
const info = (persona: PersonaName, identity: Identity): NodeInfo => ({ persona, name: identity.name, publicKey: identity.publicKey });
const routing = new RoutingTable([
  ...dataManagers.map((i) => info('data-manager', i)),
  ...maidManagers.map((i) => info('maid-manager', i)),
]);
const SOURCE = new Uint8Array(NAME_BYTES).fill(0x11) as Name;
const DEST = new Uint8Array(NAME_BYTES).fill(0x42) as Name;
const senders = routing
  .view('maid-manager')
  .closeGroup(SOURCE, K)
  .map((name) => maidManagers.find((m) => nameEquals(m.name, name)) as Identity);
const receivers = routing
  .view('data-manager')
  .closeGroup(DEST, K)
  .map((name) => dataManagers.find((m) => nameEquals(m.name, name)) as Identity);

function replicaFor(identity: Identity, counts: string[] = []) {
  const clock = new VirtualClock();
  const sent: Envelope[] = [];
  const telemetry: Telemetry = { ...noTelemetry, count: (metric, labels) => void counts.push(`${metric}:${labels.result ?? ''}`) };
  const replica = new Replica<State>({
    definition,
    identity,
    params,
    state: { stored: [] },
    routing,
    transport: { send: (envelope) => void sent.push(envelope) },
    stores: {
      accumulator: new MemoryAccumulatorStore(clock),
      firewall: new MemoryFirewallStore(clock),
      sync: new MemoryEntryStore<SyncEntry>(),
      transfer: new MemoryEntryStore<TransferVotes>(),
    },
    clock,
    telemetry,
  });
  return { replica, clock, sent, counts };
}

/** The K senders' copies of one Store: each names the chunk by digest; `carriers` carry it too. */
function storeCopies(chunk: Uint8Array, carriers: readonly Identity[] = []): Envelope[] {
  return senders.map((member) => {
    const sealed = sealEnvelope(
      {
        type: 'Store',
        source: { persona: 'maid-manager', nae: SOURCE },
        authority: 'group',
        destination: { persona: 'data-manager', nae: DEST },
        scope: 'close-group',
        payload: new Uint8Array(0),
        correlation: new Uint8Array(0),
        contentDigest: contentDigest(chunk),
      },
      member,
    );
    return carriers.includes(member) ? { ...sealed, content: chunk } : sealed;
  });
}

const rejection = (result: ReceiveResult): SafeError | undefined => (typeof result === 'object' ? result.rejected : undefined);

describe('content that travels once (issue 15: a chunk crosses the bus once per destination)', () => {
  it('K − 1 copies, one of them carrying the chunk: handled once, with the chunk', async () => {
    const chunk = randomBytes(2000);
    const { replica } = replicaFor(receivers[0] as Identity);
    const copies = storeCopies(chunk, [senders[1] as Identity]);
    const results = [];
    for (const copy of copies.slice(0, K - 1)) results.push(await replica.receive(copy));
    expect(results).toEqual(['pending', 'pending', 'handled']);
    expect(replica.state.stored).toEqual([chunk]);
    expect(await replica.receive(copies[K - 1] as Envelope)).toBe('late');
    expect(replica.state.stored).toHaveLength(1);
  });

  it('a quorum that came before the chunk waits for it; the late copy that carries it completes the message', async () => {
    const chunk = randomBytes(2000);
    const { replica, counts } = replicaFor(receivers[0] as Identity);
    const copies = storeCopies(chunk, [senders[3] as Identity]);
    for (const copy of copies.slice(0, K - 1)) await replica.receive(copy);
    expect(replica.state.stored).toEqual([]);
    expect(counts).toContain('safe_content_total:awaited');
    expect(await replica.receive(copies[K - 1] as Envelope)).toBe('late');
    expect(replica.state.stored).toEqual([chunk]);
  });

  it('no copy carries the chunk: after the wait it is pulled from a sender, and the pushed chunk completes the message', async () => {
    const chunk = randomBytes(2000);
    const { replica, clock, sent } = replicaFor(receivers[0] as Identity);
    for (const copy of storeCopies(chunk)) await replica.receive(copy);
    await replica.tick();
    expect(sent.filter((e) => e.type === CONTENT_PULL_MESSAGE)).toEqual([]);
    clock.advance(1_000);
    await replica.tick();
    const pulls = sent.filter((e) => e.type === CONTENT_PULL_MESSAGE);
    expect(pulls).toHaveLength(1);
    const pull = pulls[0] as Envelope;
    expect(pull.scope).toBe('node');
    expect(toHex(pull.payload)).toBe(toHex(contentDigest(chunk)));
    const asked = senders.find((s) => nameEquals(s.name, pull.destination.nae)) as Identity;
    expect(asked).toBeDefined();

    // The one asked has gone silent: the next wait asks another sender.
    clock.advance(1_000);
    await replica.tick();
    const second = sent.filter((e) => e.type === CONTENT_PULL_MESSAGE)[1] as Envelope;
    expect(nameEquals(second.destination.nae, asked.name)).toBe(false);

    // A sender that has the chunk answers (as #receiveContentPull does); a forged one is refused first.
    const push = (bytes: Uint8Array): Envelope => ({
      ...sealEnvelope(
        {
          type: CONTENT_PUSH_MESSAGE,
          source: { persona: 'maid-manager', nae: asked.name },
          authority: 'single',
          destination: { persona: 'data-manager', nae: replica.name },
          scope: 'node',
          payload: new Uint8Array(0),
          correlation: pull.id,
          contentDigest: contentDigest(chunk),
        },
        asked,
      ),
      content: bytes,
    });
    expect(rejection(await replica.receive(push(randomBytes(2000))))).toBeInstanceOf(ContentMismatchError);
    expect(replica.state.stored).toEqual([]);
    expect(await replica.receive(push(chunk))).toBe('handled');
    expect(replica.state.stored).toEqual([chunk]);
  });

  it('a copy whose chunk does not match the digest its id covers is refused, counted, and not counted toward the quorum', async () => {
    const chunk = randomBytes(2000);
    const { replica, counts } = replicaFor(receivers[0] as Identity);
    const copies = storeCopies(chunk);
    const forged = { ...(copies[0] as Envelope), content: randomBytes(2000) };
    expect(rejection(await replica.receive(forged))).toBeInstanceOf(ContentMismatchError);
    expect(counts).toContain('safe_content_total:mismatch');
    // The forger's own copy, without the bad chunk, is its first counted one: two more make the quorum.
    expect(await replica.receive(copies[0] as Envelope)).toBe('pending');
    expect(await replica.receive(copies[1] as Envelope)).toBe('pending');
    expect(await replica.receive({ ...(copies[2] as Envelope), content: chunk })).toBe('handled');
    expect(replica.state.stored).toEqual([chunk]);
  });

  it('no content (the digest of nothing) is carried by no copy, and the message is handled at its quorum with empty content', async () => {
    const { replica, sent } = replicaFor(receivers[0] as Identity);
    const results = [];
    for (const copy of storeCopies(new Uint8Array(0)).slice(0, K - 1)) results.push(await replica.receive(copy));
    expect(results).toEqual(['pending', 'pending', 'handled']);
    expect(replica.state.stored).toEqual([new Uint8Array(0)]);
    expect(sent.filter((e) => e.type === CONTENT_PULL_MESSAGE)).toEqual([]);
  });

  it('content on a message type that takes none, or a digest with no content from a single sender, is refused at once', async () => {
    const { replica } = replicaFor(receivers[0] as Identity);
    const plain = sealEnvelope(
      {
        type: 'Plain',
        source: { persona: 'maid-manager', nae: SOURCE },
        authority: 'group',
        destination: { persona: 'data-manager', nae: DEST },
        scope: 'close-group',
        payload: new Uint8Array(0),
        correlation: new Uint8Array(0),
        contentDigest: contentDigest(Uint8Array.of(1)),
      },
      senders[0] as Identity,
    );
    expect(rejection(await replica.receive(plain))?.message).toMatch(/carries no content/);
  });

  it('of the K members sending the chunk on, only the one closest to the message id carries it; every copy names it by digest', async () => {
    const chunk = randomBytes(3000);
    const onward: Envelope[] = [];
    for (const member of receivers) {
      const { replica, sent } = replicaFor(member);
      for (const copy of storeCopies(chunk, [senders[0] as Identity])) await replica.receive(copy);
      onward.push(...sent.filter((e) => e.type === 'Store'));
    }
    expect(onward).toHaveLength(K);
    expect(new Set(onward.map((e) => toHex(e.id))).size).toBe(1);
    for (const e of onward) expect(toHex(e.contentDigest as Uint8Array)).toBe(toHex(contentDigest(chunk)));
    const carriers = onward.filter((e) => e.content !== undefined);
    expect(carriers).toHaveLength(1);
    const [designated] = closestNames(
      (onward[0] as Envelope).id as Name,
      receivers.map((r) => r.name),
      1,
    );
    expect(toHex((carriers[0] as Envelope).sender)).toBe(toHex(designated as Name));
  });

  it('a member serves a pull for content it sent on, to a known member only', async () => {
    const chunk = randomBytes(1500);
    const { replica, sent } = replicaFor(receivers[1] as Identity);
    for (const copy of storeCopies(chunk, [senders[0] as Identity])) await replica.receive(copy);
    const pullFrom = (identity: Identity, persona: PersonaName) =>
      sealEnvelope(
        {
          type: CONTENT_PULL_MESSAGE,
          source: { persona, nae: identity.name },
          authority: 'single',
          destination: { persona: 'data-manager', nae: replica.name },
          scope: 'node',
          payload: contentDigest(chunk),
          correlation: new Uint8Array(0),
        },
        identity,
      );
    expect(await replica.receive(pullFrom(receivers[2] as Identity, 'data-manager'))).toBe('handled');
    const push = sent.find((e) => e.type === CONTENT_PUSH_MESSAGE) as Envelope;
    expect(push.content).toBe(chunk);
    expect(nameEquals(push.destination.nae, (receivers[2] as Identity).name)).toBe(true);
    expect(rejection(await replica.receive(pullFrom(seeded(7, 7), 'data-manager')))?.message).toMatch(/not a known/);
  });

  it('a message whose chunk never comes is dropped after the accumulator memory, and frees its place', async () => {
    const chunk = randomBytes(1000);
    const { replica, clock, counts } = replicaFor(receivers[0] as Identity);
    for (const copy of storeCopies(chunk)) await replica.receive(copy);
    clock.advance(params.accumulatorMemoryMs);
    await replica.tick();
    expect(counts).toContain('safe_content_total:expired');
    // Its content arriving afterwards handles nothing.
    await replica.receive({ ...(storeCopies(chunk)[0] as Envelope), content: chunk });
    expect(replica.state.stored).toEqual([]);
  });
});

describe('ContentStore: a byte budget, oldest out', () => {
  it('evicts the oldest content to make room, refuses what is larger than the whole budget, and forgets what expired', () => {
    const store = new ContentStore(1000);
    expect(store.keep('a', new Uint8Array(400), 10)).toBe(true);
    expect(store.keep('b', new Uint8Array(400), 20)).toBe(true);
    expect(store.keep('c', new Uint8Array(400), 30)).toBe(true);
    expect(store.get('a')).toBeUndefined();
    expect(store.bytes).toBe(800);
    expect(store.keep('huge', new Uint8Array(1001), 40)).toBe(false);
    expect(store.bytes).toBe(800);
    store.prune(20);
    expect(store.get('b')).toBeUndefined();
    expect(store.get('c')).toBeDefined();
    expect(store.bytes).toBe(400);
  });
});
