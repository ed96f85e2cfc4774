import { EmptySchema, GetAccountSchema, SyncProposalSchema } from '@safe/proto/messages';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransferVotes } from './account-transfer.js';
import { answerClient, CLIENT_REPLY, clientReplyCodec, originOf, ReplyStatus, replyOk } from './client-reply.js';
import { clientRequestWindow, DEFAULT_GROUP_PARAMETERS, type GroupParameters, syncResolution } from './config.js';
import { type Envelope, type MessageContent, sealEnvelope, verifyEnvelope } from './envelope.js';
import {
  BadSignatureError,
  ExpiredRequestError,
  MalformedEnvelopeError,
  MalformedPayloadError,
  type SafeError,
  SenderNotInGroupError,
  UnavailableError,
  UnknownMessageTypeError,
  WrongSourceError,
} from './errors.js';
import { type Identity, identityFromSeed } from './identity.js';
import { MemoryAccumulatorStore, MemoryEntryStore, MemoryFirewallStore } from './memory/stores.js';
import { NAME_BYTES, type Name, nameEquals, toHex } from './name.js';
import { action, type Incoming, message, type PersonaDefinition, reply } from './persona.js';
import { protoCodec } from './proto.js';
import { CLIENT, type NodeInfo, type PersonaName, RoutingTable } from './routing.js';
import { type ReceiveResult, Replica, SYNC_MESSAGE } from './runtime.js';
import { VirtualClock } from './sim/clock.js';
import type { SyncEntry } from './sync.js';

// ---- a tiny persona: a data-manager that answers Ping, records Record under sync, and greets clients ----

interface Nonce {
  nonce: Uint8Array;
}
const nonceCodec = protoCodec(GetAccountSchema);
const emptyCodec = protoCodec(EmptySchema);
const syncCodec = protoCodec(SyncProposalSchema);

interface State {
  readonly handled: { type: string; id: string; nonce?: string }[];
  readonly writes: string[];
  /** Writes that fail as unavailable (their store unreachable) before the next one succeeds. */
  outage?: number;
}

/** A message one sender sends for itself, which the handler only notes. */
const noted = (type: string, from: PersonaName | typeof CLIENT) =>
  message<Record<string, never>, State>({
    type,
    from: [from],
    accumulate: 'single',
    firewall: true,
    sync: false,
    payload: emptyCodec,
    handle(m, ctx) {
      ctx.state.handled.push({ type: m.type, id: toHex(m.id) });
      return {};
    },
  });

const definition: PersonaDefinition<State> = {
  persona: 'data-manager',
  speaksAs: 'group',
  messages: [
    message<Nonce, State>({
      type: 'Ping',
      from: ['maid-manager'],
      accumulate: 'group',
      firewall: true,
      sync: false,
      payload: nonceCodec,
      handle(m, ctx) {
        ctx.state.handled.push({ type: m.type, id: toHex(m.id), nonce: toHex(m.payload.nonce) });
        return { send: [reply(m as Incoming<unknown>, 'Pong', nonceCodec.encode({ nonce: Uint8Array.of(...m.payload.nonce, 0xff) }))] };
      },
    }),
    message<Nonce, State>({
      type: 'Record',
      from: ['maid-manager'],
      accumulate: 'group',
      firewall: true,
      sync: true,
      payload: nonceCodec,
      handle(m, ctx) {
        ctx.state.handled.push({ type: m.type, id: toHex(m.id) });
        return { actions: [{ type: 'Write', nae: m.destination.nae, payload: nonceCodec.encode(m.payload) }] };
      },
    }),
    message<Record<string, never>, State>({
      type: 'Remember',
      from: [CLIENT],
      accumulate: 'single',
      firewall: true,
      sync: true,
      payload: emptyCodec,
      handle(m, ctx) {
        ctx.state.handled.push({ type: m.type, id: toHex(m.id) });
        return { actions: [{ type: 'Remembered', nae: m.destination.nae, payload: nonceCodec.encode({ nonce: m.id }) }] };
      },
    }),
    // A node speaking for itself (as a PmidNode offers its space to its PmidManagers).
    noted('Announce', 'pmid-manager'),
    noted('Hello', CLIENT),
    // A read: no firewall, answered at once (as a DataManager answers a Get from its cache).
    message<Record<string, never>, State>({
      type: 'Look',
      from: [CLIENT],
      accumulate: 'single',
      firewall: false,
      sync: false,
      payload: emptyCodec,
      handle(m, ctx) {
        ctx.state.handled.push({ type: m.type, id: toHex(m.id) });
        const origin = originOf(m as Incoming<unknown>);
        return origin === undefined ? {} : { send: [answerClient(origin, replyOk(Uint8Array.of(7)))] };
      },
    }),
  ],
  actions: [
    /** Agreed: written, and the client (whose request id is the nonce) is answered, as a MaidManager does. */
    action<Nonce, State>({
      type: 'Remembered',
      payload: nonceCodec,
      apply(p, ctx) {
        ctx.state.writes.push(toHex(p.nonce).slice(0, 8));
        return { send: [answerClient({ request: p.nonce, replyTo: CLIENT_ENTRY }, replyOk(new Uint8Array(0)))] };
      },
    }),
    action<Nonce, State>({
      type: 'Write',
      payload: nonceCodec,
      apply(p, ctx) {
        if ((ctx.state.outage ?? 0) > 0) {
          ctx.state.outage = (ctx.state.outage ?? 0) - 1;
          throw new UnavailableError('the store is unreachable');
        }
        ctx.state.writes.push(toHex(p.nonce));
        return undefined;
      },
    }),
  ],
};

// ---- a network of replicas with a capturing transport ----

const CLIENT_ENTRY = { persona: 'maid-manager', nae: new Uint8Array(NAME_BYTES).fill(0x77) as Name } as const;

const K = 4;
const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: K, accumulatorMemoryMs: 1_000 };
const seeded = (persona: number, i: number) =>
  identityFromSeed(Uint8Array.from({ length: 32 }, (_, j) => (j === 0 ? persona : j === 1 ? i : 7)));
const dataManagers = Array.from({ length: 8 }, (_, i) => seeded(1, i));
const maidManagers = Array.from({ length: 8 }, (_, i) => seeded(2, i));
const pmidManagers = Array.from({ length: 4 }, (_, i) => seeded(3, i));
const client = seeded(9, 0);
const info = (persona: PersonaName, identity: Identity): NodeInfo => ({ persona, name: identity.name, publicKey: identity.publicKey });
const routing = new RoutingTable([
  ...dataManagers.map((i) => info('data-manager', i)),
  ...maidManagers.map((i) => info('maid-manager', i)),
  ...pmidManagers.map((i) => info('pmid-manager', i)),
]);

const DEST = new Uint8Array(NAME_BYTES).fill(0x42) as Name;
const SOURCE = new Uint8Array(NAME_BYTES).fill(0x11) as Name;
const inGroup = (persona: PersonaName, nae: Name, identity: Identity) => routing.view(persona).isInCloseGroup(identity.name, nae, K);
const srcMembers = maidManagers.filter((m) => inGroup('maid-manager', SOURCE, m));
const srcOutsider = maidManagers.find((m) => !inGroup('maid-manager', SOURCE, m)) as Identity;
const dstMembers = dataManagers.filter((m) => inGroup('data-manager', DEST, m));
const dstOutsider = dataManagers.find((m) => !inGroup('data-manager', DEST, m)) as Identity;

interface Sent {
  readonly from: Name;
  readonly envelope: Envelope;
}

function network(groupParams: GroupParameters = params) {
  const clock = new VirtualClock();
  const sent: Sent[] = [];
  const replicas = new Map<string, Replica<State>>();
  const firewalls = new Map<string, MemoryFirewallStore>();
  for (const identity of dataManagers) {
    const firewall = new MemoryFirewallStore(clock);
    firewalls.set(toHex(identity.name), firewall);
    const replica = new Replica<State>({
      definition,
      identity,
      params: groupParams,
      state: { handled: [], writes: [] },
      routing,
      transport: { send: (envelope) => void sent.push({ from: identity.name, envelope }) },
      stores: {
        accumulator: new MemoryAccumulatorStore(clock),
        firewall,
        sync: new MemoryEntryStore<SyncEntry>(),
        transfer: new MemoryEntryStore<TransferVotes>(),
      },
      clock,
    });
    replicas.set(toHex(identity.name), replica);
  }
  const replicaOf = (identity: Identity) => replicas.get(toHex(identity.name)) as Replica<State>;
  const firewallOf = (identity: Identity) => firewalls.get(toHex(identity.name)) as MemoryFirewallStore;
  return { clock, sent, replicas, replicaOf, firewallOf };
}

const content = (type: string, payload: Uint8Array, overrides: Partial<MessageContent> = {}): MessageContent => ({
  type,
  source: { persona: 'maid-manager', nae: SOURCE },
  authority: 'group',
  destination: { persona: 'data-manager', nae: DEST },
  scope: 'close-group',
  payload,
  correlation: new Uint8Array(0),
  // A client's request says when it was signed: here, at the virtual clock's start.
  ...(overrides.source?.persona === CLIENT ? { issuedAt: new VirtualClock().now() } : {}),
  ...overrides,
});
const ping = (nonce = Uint8Array.of(1)) => content('Ping', nonceCodec.encode({ nonce }));
const copies = (c: MessageContent) => srcMembers.map((m) => sealEnvelope(c, m));
/** The copy with one bit of its signature flipped. */
const corrupt = (e: Envelope): Envelope => {
  const signature = new Uint8Array(e.signature);
  signature[5] = (signature[5] as number) ^ 0x10;
  return { ...e, signature };
};

function rejectedWith(result: ReceiveResult, type: new (...args: never[]) => SafeError): void {
  expect(typeof result).toBe('object');
  const rejected = (result as { rejected: SafeError }).rejected;
  expect(rejected).toBeInstanceOf(type);
}

describe('Replica: a node the view does not know yet', () => {
  // Announced in the membership, it sent at once; this replica's view has not caught up with it.
  const newcomer = seeded(3, 9);
  const announce = () =>
    sealEnvelope(
      content('Announce', new Uint8Array(0), { source: { persona: 'pmid-manager', nae: newcomer.name }, authority: 'single' }),
      newcomer,
    );
  const caughtUp = new RoutingTable([...routing.allNodes(), info('pmid-manager', newcomer)]);

  it('is held until a view knows it, then handled once', async () => {
    const { replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    expect(await replica.receive(announce())).toBe('held');
    expect(replica.state.handled).toEqual([]);
    // A view that still does not know it keeps it held.
    await replica.updateRouting(routing.without('data-manager', (dstOutsider as Identity).name));
    expect(replica.state.handled).toEqual([]);
    await replica.updateRouting(caughtUp);
    expect(replica.state.handled.map((h) => h.type)).toEqual(['Announce']);
    await replica.updateRouting(routing);
    await replica.updateRouting(caughtUp);
    expect(replica.state.handled).toHaveLength(1);
  });

  it('is refused once the wait is over, at once past the most copies held, and a bad signature at once', async () => {
    const { clock, replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    expect(await replica.receive(announce())).toBe('held');
    clock.advance(DEFAULT_GROUP_PARAMETERS.awaitRecordMs ?? 0);
    await replica.tick();
    await replica.updateRouting(caughtUp);
    expect(replica.state.handled).toEqual([]);
    rejectedWith(await replica.receive(corrupt(announce())), BadSignatureError);

    const full = network({ ...params, awaitRecordRequests: 0 }).replicaOf(dstMembers[0] as Identity);
    rejectedWith(await full.receive(announce()), SenderNotInGroupError);
  });
});

describe('Replica: a group message', () => {
  it('is handled exactly once, when the (K−1)th copy arrives, whatever the order and duplication; repeats get the recorded reply', async () => {
    const arrivals = fc.array(fc.integer({ min: 0, max: K - 1 }), { minLength: 1, maxLength: 10 });
    await fc.assert(
      fc.asyncProperty(arrivals, async (order) => {
        const { sent, replicaOf } = network();
        const replica = replicaOf(dstMembers[0] as Identity);
        const all = copies(ping());
        const seen = new Set<number>();
        let handled = false;
        let repeatsAfter = 0;
        for (const index of order) {
          const result = await replica.receive(all[index] as Envelope);
          const repeat = seen.has(index);
          seen.add(index);
          let expected: ReceiveResult;
          if (repeat) expected = handled ? 'duplicate' : 'pending';
          else if (seen.size === K - 1) expected = 'handled';
          else expected = seen.size < K - 1 ? 'pending' : 'late';
          expect(result).toBe(expected);
          if (result === 'handled') handled = true;
          if (result === 'duplicate') repeatsAfter++;
        }
        expect(replica.state.handled).toHaveLength(handled ? 1 : 0);
        // One Pong when handled, and the same Pong again for each repeat after that.
        expect(sent).toHaveLength(handled ? 1 + repeatsAfter : 0);
        for (const { envelope } of sent) {
          expect(envelope.type).toBe('Pong');
          expect(toHex(nonceCodec.decode(envelope.payload).nonce)).toBe('01ff');
          expect(envelope.id).toEqual(sent[0]?.envelope.id);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('answers the source group with a signed copy from this node, correlated to the request', async () => {
    const { sent, replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const [a, b, c, d] = copies(ping()) as [Envelope, Envelope, Envelope, Envelope];
    expect(await replica.receive(a)).toBe('pending');
    expect(await replica.receive(b)).toBe('pending');
    expect(sent).toHaveLength(0);
    expect(await replica.receive(c)).toBe('handled');
    expect(await replica.receive(d)).toBe('late');
    expect(replica.state.handled).toEqual([{ type: 'Ping', id: toHex(a.id), nonce: '01' }]);
    expect(sent).toHaveLength(1);
    const pong = sent[0]?.envelope as Envelope;
    expect(() => verifyEnvelope(pong)).not.toThrow();
    expect(pong.sender).toEqual(replica.name);
    expect(pong.source).toEqual({ persona: 'data-manager', nae: DEST });
    expect(pong.authority).toBe('group');
    expect(pong.destination).toEqual({ persona: 'maid-manager', nae: SOURCE });
    expect(pong.scope).toBe('close-group');
    expect(pong.correlation).toEqual(a.id);
  });

  it('every member of the destination group sends a copy of the answer with the same id', async () => {
    const { sent, replicaOf } = network();
    for (const member of dstMembers) {
      const replica = replicaOf(member);
      for (const copy of copies(ping()).slice(0, K - 1)) await replica.receive(copy);
      expect(replica.state.handled).toHaveLength(1);
    }
    expect(sent).toHaveLength(K);
    expect(new Set(sent.map((s) => toHex(s.envelope.id))).size).toBe(1);
    expect(new Set(sent.map((s) => toHex(s.envelope.sender))).size).toBe(K);
  });

  it('a firewalled repeat after the accumulator forgot it is answered from the firewall, not handled again', async () => {
    const { clock, sent, replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const all = copies(ping());
    for (const copy of all.slice(0, K - 1)) await replica.receive(copy);
    expect(replica.state.handled).toHaveLength(1);
    expect(sent).toHaveLength(1);
    // The accumulator forgets after 1 s; the firewall remembers for 300 s.
    clock.advance(5_000);
    expect(await replica.receive(all[0] as Envelope)).toBe('pending');
    expect(await replica.receive(all[1] as Envelope)).toBe('pending');
    expect(await replica.receive(all[2] as Envelope)).toBe('duplicate');
    expect(replica.state.handled).toHaveLength(1);
    expect(sent).toHaveLength(2);
    const [first, again] = sent.map((s) => s.envelope) as [Envelope, Envelope];
    expect(again.type).toBe(first.type);
    expect(again.payload).toEqual(first.payload);
    expect(again.destination).toEqual(first.destination);
    expect(again.correlation).toEqual(all[0]?.id);
    // Once the firewall has forgotten too, the message is new again.
    clock.advance(params.firewallMemoryMs);
    for (const copy of all.slice(0, K - 1)) await replica.receive(copy);
    expect(replica.state.handled).toHaveLength(2);
  });

  it('a node outside the destination group does not handle it', async () => {
    const { sent, replicaOf } = network();
    const replica = replicaOf(dstOutsider);
    for (const copy of copies(ping())) expect(await replica.receive(copy)).toBe('not-responsible');
    expect(replica.state.handled).toHaveLength(0);
    expect(sent).toHaveLength(0);
  });
});

describe('Replica: bad input is rejected with a typed error and changes nothing', () => {
  const cases: [string, () => Envelope, new (...args: never[]) => SafeError][] = [
    [
      'a tampered payload (id no longer matches)',
      () => ({ ...(copies(ping())[0] as Envelope), payload: nonceCodec.encode({ nonce: Uint8Array.of(2) }) }),
      MalformedEnvelopeError,
    ],
    [
      'a destination NAE of the wrong size',
      () =>
        sealEnvelope(
          content('Ping', nonceCodec.encode({ nonce: Uint8Array.of(1) }), {
            destination: { persona: 'data-manager', nae: new Uint8Array(63) as Name },
          }),
          srcMembers[0] as Identity,
        ),
      MalformedEnvelopeError,
    ],
    [
      'a payload that does not decode',
      () => sealEnvelope(content('Ping', Uint8Array.of(0xff, 0xff)), srcMembers[0] as Identity),
      MalformedPayloadError,
    ],
    ['an unknown message type', () => sealEnvelope(content('Nope', new Uint8Array(0)), srcMembers[0] as Identity), UnknownMessageTypeError],
    ['a bad signature', () => corrupt(copies(ping())[0] as Envelope), BadSignatureError],
    [
      'a sender name that is not its key',
      () => ({ ...(copies(ping())[0] as Envelope), sender: (srcMembers[1] as Identity).name }),
      BadSignatureError,
    ],
    [
      'a wrong source persona',
      () =>
        sealEnvelope(content('Ping', ping().payload, { source: { persona: 'pmid-manager', nae: SOURCE } }), pmidManagers[0] as Identity),
      WrongSourceError,
    ],
    [
      'a group message claiming single authority',
      () => sealEnvelope({ ...ping(), authority: 'single' }, srcMembers[0] as Identity),
      WrongSourceError,
    ],
    ['a sender outside the source close group', () => sealEnvelope(ping(), srcOutsider), SenderNotInGroupError],
    ['a sender the routing view does not know', () => sealEnvelope(ping(), client), SenderNotInGroupError],
    [
      'a client message from someone speaking for another name',
      () => sealEnvelope(content('Hello', new Uint8Array(0), { source: { persona: CLIENT, nae: SOURCE }, authority: 'single' }), client),
      WrongSourceError,
    ],
  ];

  it.each(cases)('%s', async (_what, build, errorType) => {
    const { sent, replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const bad = build();
    rejectedWith(await replica.receive(bad), errorType);
    // Again: still rejected, never counted, never handled.
    rejectedWith(await replica.receive(bad), errorType);
    expect(replica.state.handled).toHaveLength(0);
    expect(replica.state.writes).toHaveLength(0);
    expect(sent).toHaveLength(0);
    // Nothing was counted: a valid message still needs all of its K − 1 copies.
    const [a, b, c] = copies(ping()) as [Envelope, Envelope, Envelope];
    expect(await replica.receive(a)).toBe('pending');
    expect(await replica.receive(b)).toBe('pending');
    expect(await replica.receive(c)).toBe('handled');
    expect(replica.state.handled).toHaveLength(1);
  });

  it('an untouched rejected copy does not poison the firewall: the same message from a valid member is still handled', async () => {
    const { replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const [a, b, c] = copies(ping()) as [Envelope, Envelope, Envelope];
    rejectedWith(await replica.receive(corrupt(a)), BadSignatureError);
    rejectedWith(await replica.receive(corrupt(b)), BadSignatureError);
    rejectedWith(await replica.receive(corrupt(c)), BadSignatureError);
    expect(await replica.receive(a)).toBe('pending');
    expect(await replica.receive(b)).toBe('pending');
    expect(await replica.receive(c)).toBe('handled');
  });

  it('a Sync message from outside the close group, or for another persona, is rejected', async () => {
    const { sent, replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const proposal = syncCodec.encode({
      key: 'ab'.repeat(32),
      action: 'Write',
      nae: DEST,
      parameters: nonceCodec.encode({ nonce: Uint8Array.of(3) }),
      resent: false,
    });
    const syncFrom = (sender: Identity, source: { persona: string; nae: Name } = { persona: 'data-manager', nae: DEST }) =>
      sealEnvelope(
        content(SYNC_MESSAGE, proposal, { source, destination: { persona: 'data-manager', nae: replica.name }, scope: 'node' }),
        sender,
      );
    rejectedWith(await replica.receive(syncFrom(dstOutsider)), SenderNotInGroupError);
    rejectedWith(await replica.receive(syncFrom(dstMembers[1] as Identity, { persona: 'data-manager', nae: SOURCE })), WrongSourceError);
    rejectedWith(await replica.receive(corrupt(syncFrom(dstMembers[1] as Identity))), BadSignatureError);
    const unknownAction = syncCodec.encode({
      key: 'cd'.repeat(32),
      action: 'Erase',
      nae: DEST,
      parameters: new Uint8Array(0),
      resent: false,
    });
    const unknown = sealEnvelope(
      content(SYNC_MESSAGE, unknownAction, {
        source: { persona: 'data-manager', nae: DEST },
        destination: { persona: 'data-manager', nae: replica.name },
        scope: 'node',
      }),
      dstMembers[1] as Identity,
    );
    rejectedWith(await replica.receive(unknown), UnknownMessageTypeError);
    expect(replica.state.writes).toHaveLength(0);
    expect(sent).toHaveLength(0);
    // A valid member's sync is taken (though one report is not yet a resolution for K = 4).
    expect(await replica.receive(syncFrom(dstMembers[1] as Identity))).toBe('synced');
    expect(replica.state.writes).toHaveLength(0);
  });
});

describe('Replica: a synced action', () => {
  /** Each member of the destination group handles one Record; returns the Sync copies they sent. */
  async function handleRecord(net: ReturnType<typeof network>, nonce = Uint8Array.of(0x5a)): Promise<Envelope[]> {
    const record = copies(content('Record', nonceCodec.encode({ nonce })));
    for (const member of dstMembers) {
      const replica = net.replicaOf(member);
      for (const copy of record.slice(0, K - 1)) await replica.receive(copy);
      expect(replica.state.handled).toHaveLength(1);
    }
    const syncs = net.sent.map((s) => s.envelope).filter((e) => e.type === SYNC_MESSAGE);
    net.sent.length = 0;
    return syncs;
  }

  it('each member tells the rest of its group, and applies nothing on its own', async () => {
    const net = network();
    const syncs = await handleRecord(net);
    expect(syncs).toHaveLength(K * (K - 1));
    for (const member of dstMembers) {
      expect(net.replicaOf(member).state.writes).toEqual([]);
      // To every other member, none to itself.
      const fromIt = syncs.filter((e) => nameEquals(e.sender, member.name));
      expect(fromIt.map((e) => toHex(e.destination.nae)).sort()).toEqual(
        dstMembers
          .filter((m) => m !== member)
          .map((m) => toHex(m.name))
          .sort(),
      );
      expect(fromIt.every((e) => e.scope === 'node')).toBe(true);
    }
  });

  it(`is applied exactly once, when floor(K/2)+1 = ${syncResolution(params)} members have seen it, whatever the delivery order`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.infiniteStream(fc.nat()), fc.array(fc.nat(), { maxLength: 6 }), async (randoms, duplicates) => {
        const net = network();
        const syncs = await handleRecord(net);
        // A shuffled delivery order, with some copies delivered twice.
        const queue = [...syncs, ...duplicates.map((d) => syncs[d % syncs.length] as Envelope)];
        const order: Envelope[] = [];
        const iterator = randoms[Symbol.iterator]();
        while (queue.length > 0) order.push(queue.splice((iterator.next().value as number) % queue.length, 1)[0] as Envelope);

        const reporters = new Map<string, Set<string>>(); // receiver → distinct members that told it
        for (const envelope of order) {
          const target = net.replicas.get(toHex(envelope.destination.nae)) as Replica<State>;
          expect(await target.receive(envelope)).toBe('synced');
          const key = toHex(target.name);
          const told = reporters.get(key) ?? new Set<string>();
          told.add(toHex(envelope.sender));
          reporters.set(key, told);
          // The node itself has seen it too: applied once itself + reporters reach the resolution.
          const expected = 1 + told.size >= syncResolution(params) ? 1 : 0;
          expect(target.state.writes).toEqual(expected ? ['5a'] : []);
        }
        for (const member of dstMembers) expect(net.replicaOf(member).state.writes).toEqual(['5a']);
        expect(net.sent.filter((s) => s.envelope.type === SYNC_MESSAGE)).toHaveLength(0);
      }),
      { numRuns: 25 },
    );
  });

  it('tick() re-sends an unresolved entry to the group, and stops once it resolved', async () => {
    const net = network();
    const syncs = await handleRecord(net);
    const replica = net.replicaOf(dstMembers[0] as Identity);
    await replica.tick();
    const resent = net.sent.filter((s) => nameEquals(s.from, replica.name)).map((s) => s.envelope);
    expect(resent).toHaveLength(K - 1);
    expect(resent.every((e) => e.type === SYNC_MESSAGE)).toBe(true);
    net.sent.length = 0;
    // Two other members report to it: resolved; nothing more to re-send.
    for (const e of syncs.filter((s) => nameEquals(s.destination.nae, replica.name)).slice(0, 2)) await replica.receive(e);
    expect(replica.state.writes).toEqual(['5a']);
    await replica.tick();
    expect(net.sent).toHaveLength(0);
  });
  it("a member whose peers' Syncs were lost gets them answered to its resends, once per peer, and applies once (issue 16)", async () => {
    const net = network();
    const syncs = await handleRecord(net);
    const [a, b, c, late] = dstMembers as [Identity, Identity, Identity, Identity];
    // Every Sync to `late` is lost (it was down); the rest arrive: a, b and c apply, and stop resending.
    for (const sync of syncs.filter((e) => !nameEquals(e.destination.nae, late.name)))
      await (net.replicas.get(toHex(sync.destination.nae)) as Replica<State>).receive(sync);
    for (const member of [a, b, c]) expect(net.replicaOf(member).state.writes).toEqual(['5a']);
    expect(net.replicaOf(late).state.writes).toEqual([]);
    for (const member of [a, b, c]) await net.replicaOf(member).tick();
    expect(net.sent).toHaveLength(0);

    // `late` resends twice before anything comes back: each peer answers it once, to it alone.
    await net.replicaOf(late).tick();
    await net.replicaOf(late).tick();
    const resent = net.sent.splice(0).map((s) => s.envelope);
    expect(resent).toHaveLength(2 * (K - 1));
    for (const sync of resent) await (net.replicas.get(toHex(sync.destination.nae)) as Replica<State>).receive(sync);
    const answers = net.sent.splice(0).map((s) => s.envelope);
    expect(answers.every((e) => e.type === SYNC_MESSAGE && nameEquals(e.destination.nae, late.name))).toBe(true);
    expect(answers.map((e) => toHex(e.sender)).sort()).toEqual([a, b, c].map((m) => toHex(m.name)).sort());

    // The answers resolve it there, once; an answer is never answered, and nothing is left to resend.
    for (const answer of answers) expect(await net.replicaOf(late).receive(answer)).toBe('synced');
    expect(net.replicaOf(late).state.writes).toEqual(['5a']);
    for (const member of dstMembers) await net.replicaOf(member).tick();
    expect(net.sent).toHaveLength(0);
    for (const member of [a, b, c]) expect(net.replicaOf(member).state.writes).toEqual(['5a']);
  });
});

describe('Replica: an agreed action whose store is unreachable when it is applied', () => {
  it('is applied once the store is back, on every member, though all of them failed at once (a shared Postgres restarting)', async () => {
    const net = network();
    const record = copies(content('Record', nonceCodec.encode({ nonce: Uint8Array.of(0x5b) })));
    for (const member of dstMembers) {
      net.replicaOf(member).state.outage = 1;
      for (const copy of record.slice(0, K - 1)) await net.replicaOf(member).receive(copy);
    }
    const deliver = async (envelopes: readonly Envelope[]) => {
      for (const sync of envelopes) await (net.replicas.get(toHex(sync.destination.nae)) as Replica<State>).receive(sync);
    };
    await deliver(net.sent.splice(0).map((s) => s.envelope));
    // Each member's first attempt failed; a later Sync may already have resolved it again there.
    for (const member of dstMembers) expect(net.replicaOf(member).state.outage).toBe(0);

    // The store is back: the members' resends (and answers to them) resolve it again, and each applies it once.
    for (let round = 0; round < 3; round++) {
      for (const member of dstMembers) await net.replicaOf(member).tick();
      await deliver(net.sent.splice(0).map((s) => s.envelope));
    }
    for (const member of dstMembers) expect(net.replicaOf(member).state.writes).toEqual(['5b']);
    for (const member of dstMembers) await net.replicaOf(member).tick();
    expect(net.sent).toHaveLength(0);
  });
});

describe("Replica: a synced client request whose peers' Syncs arrive before it", () => {
  it('still proposes once its own copy arrives, so the members that saw the request first resolve too (all answer)', async () => {
    const net = network();
    const request = sealEnvelope(
      content('Remember', new Uint8Array(0), {
        source: { persona: CLIENT, nae: client.name },
        authority: 'single',
        replyTo: CLIENT_ENTRY,
      }),
      client,
    );
    const [a, b, c, d] = dstMembers as [Identity, Identity, Identity, Identity];
    // a and b get the request first and tell the group.
    for (const member of [a, b]) expect(await net.replicaOf(member).receive(request)).toBe('handled');
    const early = net.sent.splice(0).map((s) => s.envelope);
    // c and d hear from a and b before their own copies come: with themselves, floor(K/2)+1 have seen it.
    for (const member of [c, d]) {
      for (const sync of early.filter((e) => e.type === SYNC_MESSAGE && nameEquals(e.destination.nae, member.name))) {
        expect(await net.replicaOf(member).receive(sync)).toBe('synced');
      }
      expect(net.replicaOf(member).state.writes).toHaveLength(1);
    }
    // a and b have seen only each other: not resolved, nobody else will tell them.
    expect(net.replicaOf(a).state.writes).toEqual([]);
    const answeredEarly = net.sent.filter((s) => s.envelope.type === CLIENT_REPLY).length;
    expect(answeredEarly).toBe(2);
    net.sent.length = 0;

    // Now c's and d's copies of the request arrive: answered from the firewall, and proposed.
    for (const member of [c, d]) expect(await net.replicaOf(member).receive(request)).toBe('duplicate');
    const late = net.sent.splice(0).map((s) => s.envelope);
    expect(late.filter((e) => e.type === SYNC_MESSAGE)).toHaveLength(2 * (K - 1));
    for (const sync of late.filter((e) => e.type === SYNC_MESSAGE)) {
      const target = net.replicas.get(toHex(sync.destination.nae)) as Replica<State>;
      expect(await target.receive(sync)).toBe('synced');
    }
    for (const member of dstMembers) expect(net.replicaOf(member).state.writes, toHex(member.name).slice(0, 8)).toHaveLength(1);
    const answers = net.sent.filter((s) => s.envelope.type === CLIENT_REPLY);
    expect(answers.map((s) => toHex(s.from)).sort()).toEqual([a, b].map((m) => toHex(m.name)).sort());

    // A real repeat now proposes nothing again.
    net.sent.length = 0;
    for (const member of dstMembers) expect(await net.replicaOf(member).receive(request)).toBe('duplicate');
    expect(net.sent.filter((s) => s.envelope.type === SYNC_MESSAGE)).toEqual([]);
  });
});

describe('Replica: a client message', () => {
  const entry = { persona: 'maid-manager', nae: (maidManagers[0] as Identity).name };
  const hello = () =>
    sealEnvelope(
      content('Hello', new Uint8Array(0), { source: { persona: CLIENT, nae: client.name }, authority: 'single', replyTo: entry }),
      client,
    );

  it('is handled on its one authenticated copy; a repeat while undecided is told SYNCING, not handled again', async () => {
    const { sent, replicaOf } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const copy = hello();
    expect(await replica.receive(copy)).toBe('handled');
    expect(replica.state.handled).toHaveLength(1);
    expect(sent).toHaveLength(0);
    expect(await replica.receive(copy)).toBe('duplicate');
    expect(replica.state.handled).toHaveLength(1);
    expect(sent).toHaveLength(1);
    const answer = sent[0]?.envelope as Envelope;
    expect(answer.type).toBe(CLIENT_REPLY);
    expect(answer.destination).toEqual(entry);
    expect(answer.scope).toBe('node');
    expect(answer.correlation).toEqual(copy.id);
    expect(clientReplyCodec.decode(answer.payload).status).toBe(ReplyStatus.SYNCING);
  });

  it('declared without a firewall is handled again when repeated, and its answer is not recorded', async () => {
    const { sent, replicaOf, firewallOf } = network();
    const member = dstMembers[0] as Identity;
    const look = sealEnvelope(
      content('Look', new Uint8Array(0), { source: { persona: CLIENT, nae: client.name }, authority: 'single', replyTo: entry }),
      client,
    );
    expect(await replicaOf(member).receive(look)).toBe('handled');
    expect(await replicaOf(member).receive(look)).toBe('handled');
    expect(replicaOf(member).state.handled.map((h) => h.type)).toEqual(['Look', 'Look']);
    const answers = sent.map((s) => s.envelope);
    expect(answers.map((a) => [a.type, clientReplyCodec.decode(a.payload).status])).toEqual([
      [CLIENT_REPLY, ReplyStatus.OK],
      [CLIENT_REPLY, ReplyStatus.OK],
    ]);
    expect(answers.every((a) => nameEquals(a.correlation as Name, look.id as Name))).toBe(true);
    expect(await firewallOf(member).lookup(toHex(look.id))).toBeNull();
  });

  it('refused before its handler (the payload does not decode) is answered with the refusal at once, by every member alike', async () => {
    const { sent, replicaOf } = network();
    // 0x0f: field 1 with wire type 7, which protobuf does not have.
    const garbage = sealEnvelope(
      content('Remember', Uint8Array.of(0x0f), { source: { persona: CLIENT, nae: client.name }, authority: 'single', replyTo: entry }),
      client,
    );
    for (const member of dstMembers) rejectedWith(await replicaOf(member).receive(garbage), MalformedPayloadError);
    const answers = sent.map((s) => s.envelope);
    expect(answers.map((a) => a.type)).toEqual(dstMembers.map(() => CLIENT_REPLY));
    expect(new Set(answers.map((a) => toHex(a.id))).size).toBe(1);
    const reply = clientReplyCodec.decode((answers[0] as Envelope).payload);
    expect(reply.status).toBe(ReplyStatus.INVALID_ARGUMENT);
    expect(reply.message).toMatch(/not a valid/);
    for (const member of dstMembers) expect(replicaOf(member).state.handled).toEqual([]);
  });

  it('is good only around the time it says it was signed: older, too far ahead or undated, it is refused and told, never handled', async () => {
    const { sent, replicaOf, clock } = network();
    const replica = replicaOf(dstMembers[0] as Identity);
    const { futureMs, pastMs } = clientRequestWindow(params);
    const signedAt = (issuedAt: number | undefined) =>
      sealEnvelope(
        content('Remember', new Uint8Array(0), {
          source: { persona: CLIENT, nae: client.name },
          authority: 'single',
          replyTo: entry,
          issuedAt,
        }),
        client,
      );
    const now = clock.now();
    for (const [issuedAt, refusal] of [
      [now - pastMs - 1, /signed 290 s ago; a request is good for 290 s: sign it again/],
      [now + futureMs + 1_000, /signed 11 s ahead of this node's clock \(at most 10 s\)/],
      [undefined, /says when it was signed/],
    ] as const) {
      rejectedWith(await replica.receive(signedAt(issuedAt)), issuedAt === undefined ? MalformedEnvelopeError : ExpiredRequestError);
      const told = clientReplyCodec.decode((sent.pop() as { envelope: Envelope }).envelope.payload);
      expect(told.message).toMatch(refusal);
      expect(told.status).toBe(issuedAt === undefined ? ReplyStatus.INVALID_ARGUMENT : ReplyStatus.FAILED_PRECONDITION);
    }
    expect(replica.state.handled).toEqual([]);
    expect(await replica.receive(signedAt(now - pastMs + 1_000))).toBe('handled');
    expect(await replica.receive(signedAt(now + futureMs))).toBe('handled');
  });

  it('a forged one is refused and not answered', async () => {
    const { sent, replicaOf } = network();
    const forged = corrupt(hello());
    rejectedWith(await replicaOf(dstMembers[0] as Identity).receive({ ...forged, payload: Uint8Array.of(0x0f) }), MalformedPayloadError);
    expect(sent).toEqual([]);
  });
});
