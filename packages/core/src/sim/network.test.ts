import { GetAccountSchema } from '@safe/proto/messages';
import { describe, expect, it } from 'vitest';
import type { TransferVotes } from '../account-transfer.js';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters } from '../config.js';
import { sealEnvelope } from '../envelope.js';
import type { Identity } from '../identity.js';
import { MemoryAccumulatorStore, MemoryEntryStore, MemoryFirewallStore } from '../memory/stores.js';
import { type Name, toHex } from '../name.js';
import { action, message, type PersonaDefinition } from '../persona.js';
import { protoCodec } from '../proto.js';
import { CLIENT, type PersonaName, type RoutingTable } from '../routing.js';
import { Replica, type Transport } from '../runtime.js';
import type { SyncEntry } from '../sync.js';
import { VirtualClock } from './clock.js';
import { SimNetwork } from './network.js';
import { SeededRandom } from './random.js';

interface Nonce {
  nonce: Uint8Array;
}
const nonceCodec = protoCodec(GetAccountSchema);

interface State {
  handled: number;
  writes: string[];
}

/** A client asks its MaidManager group (at its own name) to Start; the group Pings the DataManagers of a target, who sync a Write. */
const maidManager: PersonaDefinition<State> = {
  persona: 'maid-manager',
  speaksAs: 'group',
  messages: [
    message<Nonce, State>({
      type: 'Start',
      from: [CLIENT],
      accumulate: 'single',
      firewall: true,
      sync: false,
      payload: nonceCodec,
      handle(m, ctx) {
        ctx.state.handled++;
        const target = new Uint8Array(m.payload.nonce.length === 64 ? m.payload.nonce : new Uint8Array(64)) as Name;
        return {
          send: [
            { type: 'Ping', to: { persona: 'data-manager', nae: target }, scope: 'close-group', payload: nonceCodec.encode(m.payload) },
          ],
        };
      },
    }),
  ],
  actions: [],
};

const dataManager: PersonaDefinition<State> = {
  persona: 'data-manager',
  speaksAs: 'group',
  messages: [
    message<Nonce, State>({
      type: 'Ping',
      from: ['maid-manager'],
      accumulate: 'group',
      firewall: true,
      sync: true,
      payload: nonceCodec,
      handle(m, ctx) {
        ctx.state.handled++;
        return { actions: [{ type: 'Write', nae: m.destination.nae, payload: nonceCodec.encode(m.payload) }] };
      },
    }),
  ],
  actions: [
    action<Nonce, State>({
      type: 'Write',
      payload: nonceCodec,
      apply(p, ctx) {
        ctx.state.writes.push(toHex(p.nonce).slice(0, 8));
        return undefined;
      },
    }),
  ],
};

const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: 4 };

const factory =
  (definition: PersonaDefinition<State>) => (identity: Identity, transport: Transport, routing: RoutingTable, clock: VirtualClock) =>
    new Replica<State>({
      definition,
      identity,
      params,
      state: { handled: 0, writes: [] },
      routing,
      transport,
      clock,
      stores: {
        accumulator: new MemoryAccumulatorStore(clock),
        firewall: new MemoryFirewallStore(clock),
        sync: new MemoryEntryStore<SyncEntry>(),
        transfer: new MemoryEntryStore<TransferVotes>(),
      },
    });

/** Runs a small network from a seed: 6 MaidManagers, 6 DataManagers, 3 client requests. */
async function run(seed: number, options: { reorder?: boolean; duplicateRate?: number } = {}) {
  const net = new SimNetwork({ seed, params, reorder: options.reorder ?? true, duplicateRate: options.duplicateRate ?? 0.2 });
  net.keepLog = true;
  for (let i = 0; i < 6; i++) await net.join('maid-manager', factory(maidManager));
  for (let i = 0; i < 6; i++) await net.join('data-manager', factory(dataManager));
  const client = net.newIdentity();
  const targets: Name[] = [];
  for (let r = 0; r < 3; r++) {
    const target = net.random.bytes(64) as Name;
    targets.push(target);
    net.transport.send(
      sealEnvelope(
        {
          type: 'Start',
          source: { persona: CLIENT, nae: client.name },
          authority: 'single',
          destination: { persona: 'maid-manager', nae: client.name },
          scope: 'close-group',
          payload: nonceCodec.encode({ nonce: target }),
          correlation: new Uint8Array(0),
          issuedAt: net.clock.now(),
        },
        client,
      ),
    );
  }
  await net.settle();
  const course = net.log.map(
    (d) => `${d.envelope.type}>${d.to.slice(0, 8)}:${typeof d.result === 'string' ? d.result : d.result.rejected.name}`,
  );
  return { net, client, targets, course };
}

const stateOf = (net: SimNetwork, persona: PersonaName) => net.nodes(persona).map((n) => n.replica.state as State);

describe('SimNetwork', () => {
  it('carries a request through two groups: every responsible member handles it once and applies the synced write once', async () => {
    const { net, client, targets, course } = await run(7);
    expect(net.inFlight).toBe(0);
    expect(course.filter((c) => /Error$/.test(c))).toEqual([]);
    // The scheduler did duplicate copies, and they were recognised as such.
    expect(course.filter((c) => c.endsWith(':duplicate')).length).toBeGreaterThan(0);
    for (const node of net.nodes('maid-manager')) {
      const responsible = node.replica.isResponsible(client.name);
      expect((node.replica.state as State).handled).toBe(responsible ? 3 : 0);
    }
    for (const node of net.nodes('data-manager')) {
      const state = node.replica.state as State;
      const mine = targets.filter((t) => node.replica.isResponsible(t)).map((t) => toHex(t).slice(0, 8));
      expect(state.handled).toBe(mine.length);
      expect([...state.writes].sort()).toEqual([...mine].sort());
    }
  });

  it('the same seed gives the same course', async () => {
    const a = await run(42);
    const b = await run(42);
    expect(b.net.deliveredCount).toBe(a.net.deliveredCount);
    expect(b.course).toEqual(a.course);
    expect(b.net.nodes().map((n) => toHex(n.info.name))).toEqual(a.net.nodes().map((n) => toHex(n.info.name)));
    expect(stateOf(b.net, 'data-manager')).toEqual(stateOf(a.net, 'data-manager'));
    expect(a.course.length).toBeGreaterThan(20);
  });

  it('different seeds give different courses', async () => {
    const a = await run(1);
    const b = await run(2);
    expect(toHex(b.client.name)).not.toBe(toHex(a.client.name));
    expect(b.course).not.toEqual(a.course);
  });

  it('without reordering or duplication the course is reproducible too, and nothing is a repeat', async () => {
    const a = await run(5, { reorder: false, duplicateRate: 0 });
    const b = await run(5, { reorder: false, duplicateRate: 0 });
    expect(b.course).toEqual(a.course);
    expect(a.course.filter((c) => c.endsWith(':duplicate'))).toEqual([]);
  });

  it('a node that leaves stops being a recipient; the others see the matrix change', async () => {
    const { net } = await run(11);
    const leaving = net.nodes('data-manager')[0];
    expect(leaving).toBeDefined();
    const name = leaving?.info.name as Name;
    await net.leave(name);
    expect(net.isMember('data-manager', name)).toBe(false);
    expect(net.node(name)).toBeUndefined();
    for (const n of net.nodes()) expect(n.replica.routing().view('data-manager').has(name)).toBe(false);
    expect(net.nodes('data-manager')).toHaveLength(5);
  });
});

describe('SeededRandom', () => {
  it('is reproducible from its seed and stays in range', () => {
    const a = new SeededRandom(123);
    const b = new SeededRandom(123);
    const c = new SeededRandom(124);
    const xs = Array.from({ length: 200 }, () => a.next());
    expect(Array.from({ length: 200 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 200 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const r = new SeededRandom(9);
    for (let i = 0; i < 500; i++) {
      const n = r.int(7);
      expect(Number.isInteger(n) && n >= 0 && n < 7).toBe(true);
    }
    expect(r.chance(0)).toBe(false);
    expect(() => r.pick([])).toThrow(RangeError);
    expect(r.bytes(10)).toHaveLength(10);
  });
});

describe('VirtualClock', () => {
  it('fires timers in time order, only when advanced past them, and cancels on request', () => {
    const clock = new VirtualClock();
    const start = clock.now();
    const fired: string[] = [];
    clock.schedule(300, () => fired.push('c'));
    clock.schedule(100, () => fired.push('a'));
    const cancel = clock.schedule(200, () => fired.push('cancelled'));
    clock.schedule(100, () => fired.push('b'));
    cancel();
    expect(clock.nextTimerAt).toBe(start + 100);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(151);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now()).toBe(start + 250);
    clock.advance(1_000);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(clock.nextTimerAt).toBeUndefined();
  });
});
