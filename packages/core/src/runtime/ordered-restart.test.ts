import { GetAccountSchema } from '@safe/proto/messages';
import { describe, expect, it } from 'vitest';
import type { TransferVotes } from '../account-transfer.js';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters } from '../config.js';
import { type Envelope, type MessageContent, sealEnvelope } from '../envelope.js';
import { type Identity, identityFromSeed } from '../identity.js';
import { MemoryAccumulatorStore, MemoryEntryStore, MemoryFirewallStore } from '../memory/stores.js';
import { NAME_BYTES, type Name, nameEquals, toHex } from '../name.js';
import { action, message, type PersonaDefinition } from '../persona.js';
import { protoCodec } from '../proto.js';
import { type NodeInfo, type PersonaName, RoutingTable } from '../routing.js';
import { Replica, type ReplicaOptions, SYNC_MESSAGE } from '../runtime.js';
import { VirtualClock } from '../sim/clock.js';
import type { SyncEntry } from '../sync.js';

// A persona whose one synced request is applied as an ordered action (as VersionManager's SDV mutations are).
interface State {
  readonly writes: string[];
}
const nonceCodec = protoCodec(GetAccountSchema);
const definition: PersonaDefinition<State> = {
  persona: 'version-manager',
  speaksAs: 'group',
  messages: [
    message<{ nonce: Uint8Array }, State>({
      type: 'Mutate',
      from: ['maid-manager'],
      accumulate: 'group',
      firewall: true,
      sync: true,
      payload: nonceCodec,
      handle: (m) => ({ actions: [{ type: 'Mutated', nae: m.destination.nae, payload: nonceCodec.encode(m.payload) }] }),
    }),
  ],
  actions: [
    action<{ nonce: Uint8Array }, State>({
      type: 'Mutated',
      payload: nonceCodec,
      ordered: true,
      apply(p, ctx) {
        ctx.state.writes.push(new TextDecoder().decode(p.nonce));
        return undefined;
      },
    }),
  ],
};

const K = 4;
const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: K };
const seeded = (persona: number, i: number) =>
  identityFromSeed(Uint8Array.from({ length: 32 }, (_, j) => (j === 0 ? persona : j === 1 ? i : 5)));
const members = Array.from({ length: K }, (_, i) => seeded(1, i));
const sources = Array.from({ length: K }, (_, i) => seeded(2, i));
const info = (persona: PersonaName, identity: Identity): NodeInfo => ({ persona, name: identity.name, publicKey: identity.publicKey });
const routing = new RoutingTable([...members.map((m) => info('version-manager', m)), ...sources.map((m) => info('maid-manager', m))]);
const DEST = new Uint8Array(NAME_BYTES).fill(0x42) as Name;
const SOURCE = new Uint8Array(NAME_BYTES).fill(0x11) as Name;

/** The K − 1 copies of one request from the source group that make the destination handle it. */
function request(label: string): Envelope[] {
  const content: MessageContent = {
    type: 'Mutate',
    source: { persona: 'maid-manager', nae: SOURCE },
    authority: 'group',
    destination: { persona: 'version-manager', nae: DEST },
    scope: 'close-group',
    payload: nonceCodec.encode({ nonce: new TextEncoder().encode(label) }),
    correlation: new Uint8Array(0),
  };
  return sources.slice(0, K - 1).map((source) => sealEnvelope(content, source));
}

/** One replica per member; a restart is a new Replica over the member's stores and state (its tables). */
function group() {
  const clock = new VirtualClock();
  const sent: Envelope[] = [];
  const kept = new Map<string, Pick<ReplicaOptions<State>, 'stores' | 'state'>>();
  const open = (identity: Identity) => {
    const { stores, state } = kept.get(toHex(identity.name)) ?? {
      state: { writes: [] },
      stores: {
        accumulator: new MemoryAccumulatorStore(clock),
        firewall: new MemoryFirewallStore(clock),
        sync: new MemoryEntryStore<SyncEntry>(),
        transfer: new MemoryEntryStore<TransferVotes>(),
      },
    };
    kept.set(toHex(identity.name), { stores, state });
    const transport = { send: (envelope: Envelope) => void sent.push(envelope) };
    return new Replica<State>({ definition, identity, params, state, routing, transport, stores, clock });
  };
  const replicas = members.map(open);
  return {
    replicas,
    kept,
    restart(index: number): Replica<State> {
      (replicas[index] as Replica<State>).stop();
      replicas[index] = open(members[index] as Identity);
      return replicas[index];
    },
    /** Delivers a request to the members at `indexes`; returns the Syncs they sent, by receiver. */
    async handle(label: string, indexes: number[]): Promise<Envelope[]> {
      for (const index of indexes) for (const copy of request(label)) await (replicas[index] as Replica<State>).receive(copy);
      return sent.splice(0).filter((e) => e.type === SYNC_MESSAGE);
    },
  };
}

const to = (syncs: Envelope[], member: Identity, from: Identity[]) =>
  syncs.filter((e) => nameEquals(e.destination.nae, member.name) && from.some((f) => nameEquals(e.sender, f.name)));

describe('Replica: ordered actions waiting their turn survive a restart', () => {
  it('a member restarted over its stores applies what was agreed while waiting, in arrival order, as its peers do', async () => {
    const g = group();
    const [t, p1, p2] = members as [Identity, Identity, Identity];
    // a and b arrive everywhere; c reaches only the peers at first.
    const a = await g.handle('a', [0, 1, 2, 3]);
    const b = await g.handle('b', [0, 1, 2, 3]);
    const c = await g.handle('c', [1, 2, 3]);
    // At t: b is agreed (t and two peers) but waits for a; c is agreed before t's own copy came.
    for (const sync of [...to(b, t, [p1, p2]), ...to(c, t, [p1, p2])]) expect(await g.replicas[0]?.receive(sync)).toBe('synced');
    expect(g.replicas[0]?.state.writes).toEqual([]);

    const restarted = g.restart(0);
    // c's request comes now: its place is after a and b, which arrived before the restart.
    await g.handle('c', [0]);
    for (const sync of to(a, t, [p1, p2])) expect(await restarted.receive(sync)).toBe('synced');
    expect(restarted.state.writes).toEqual(['a', 'b', 'c']);

    // A peer that saw the Syncs in another order applies the same.
    const peer = g.replicas[1] as Replica<State>;
    for (const sync of [...to(c, p1, [p2, members[3] as Identity]), ...to(b, p1, [p2, t]), ...to(a, p1, [p2, t])]) await peer.receive(sync);
    expect(peer.state.writes).toEqual(['a', 'b', 'c']);
    const places = (await g.kept.get(toHex(t.name))?.stores.sync.entries())?.filter(([, entry]) => entry.place !== undefined);
    expect(places, 'places kept after they were applied').toEqual([]);
  });
});
