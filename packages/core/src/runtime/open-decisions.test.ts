import { describe, expect, it } from 'vitest';
import { type Name, nameOf } from '../name.js';
import type { Action, Incoming, MessageDeclaration, Outcome } from '../persona.js';
import { silentLogger } from '../ports.js';
import { VirtualClock } from '../sim/clock.js';
import { syncKey } from '../sync.js';
import { noTelemetry } from '../telemetry.js';
import { OpenDecisions } from './open-decisions.js';

const nae = nameOf(Uint8Array.of(1));
const other = nameOf(Uint8Array.of(2));

/** A Put-like request: its handler creates the record where there is none, else adds a subscriber. */
function request(n: number, to: Name = nae, content = new Uint8Array(0)): Incoming<unknown> {
  return {
    id: nameOf(Uint8Array.of(100, n)),
    type: 'Put',
    payload: n,
    source: { persona: 'maid-manager', nae: to },
    authority: 'group',
    destination: { persona: 'data-manager', nae: to },
    sender: to,
    correlation: new Uint8Array(0),
    content,
  };
}

const act = (type: string): Action => ({ type, nae, payload: new Uint8Array(0) });

function setUp(options: { limit?: number; limitBytes?: number } = {}) {
  const clock = new VirtualClock();
  const world = { record: false, open: new Set<string>(), carried: [] as { id: number; types: string[] }[], handled: 0 };
  const decide = (): Outcome => ({ actions: [act(world.record ? 'AddSubscriber' : 'CreateRecord')] });
  const declaration = { type: 'Put', sync: true, redecides: true, handle: decide } as unknown as MessageDeclaration<unknown, unknown>;
  const decisions = new OpenDecisions<unknown>({
    persona: 'data-manager',
    log: silentLogger,
    telemetry: noTelemetry,
    now: () => clock.now(),
    keepMs: 60_000,
    ...options,
    open: async (key) => world.open.has(key),
    handle: async () => {
      world.handled++;
      return decide();
    },
    carryOut: async (outcome, incoming) => {
      world.carried.push({ id: incoming.payload as number, types: (outcome.actions ?? []).map((a) => a.type) });
      for (const [index, a] of (outcome.actions ?? []).entries()) world.open.add(syncKey(incoming.id, index, a.type));
    },
  });
  /** Handles and proposes the request as the runtime does, remembering it. */
  const propose = (incoming: Incoming<unknown>) => {
    const outcome = decide();
    for (const [index, a] of (outcome.actions ?? []).entries()) world.open.add(syncKey(incoming.id, index, a.type));
    decisions.remember(declaration, incoming, {}, outcome);
  };
  return { clock, world, decisions, propose };
}

/** OpenDecisions over a handler and carry-out of the test's own, every vote open. */
function over(handle: () => Promise<Outcome>, carryOut: () => Promise<void>) {
  return new OpenDecisions<unknown>({
    persona: 'data-manager',
    log: silentLogger,
    telemetry: noTelemetry,
    now: () => 0,
    keepMs: 60_000,
    open: async () => true,
    handle,
    carryOut,
  });
}

describe('OpenDecisions', () => {
  it('moves an open vote to what the handler decides once an agreed action changed the record', async () => {
    const { world, decisions, propose } = setUp();
    const first = request(1);
    const second = request(2);
    propose(first);
    propose(second);
    // The first Put's CreateRecord is agreed and applied: the record exists now.
    world.record = true;
    const applied = syncKey(first.id, 0, 'CreateRecord');
    world.open.delete(applied);
    await decisions.applied(nae, applied);
    expect(world.carried).toEqual([{ id: 2, types: ['AddSubscriber'] }]);
    // Applied again (another action at the NAE): the vote already follows the record, nothing moves.
    await decisions.applied(nae, 'another');
    expect(world.carried).toHaveLength(1);
  });

  it('forgets a request once its own action is applied or its votes are no longer open', async () => {
    const { world, decisions, propose } = setUp();
    const first = request(1);
    const second = request(2);
    propose(first);
    propose(second);
    await decisions.applied(nae, syncKey(first.id, 0, 'CreateRecord'));
    world.open.clear();
    await decisions.applied(nae, 'another');
    world.record = true;
    await decisions.applied(nae, 'yet another');
    // The first was forgotten as applied, the second as settled: neither is handled again after.
    expect(world.handled).toBe(1);
    expect(world.carried).toEqual([]);
  });

  it('does not keep a request whose action was applied while it was carried out (its peers had agreed first)', async () => {
    const { world, decisions } = setUp();
    const first = request(1);
    const declaration = { type: 'Put', sync: true, redecides: true, handle: () => ({}) } as unknown as MessageDeclaration<unknown, unknown>;
    const key = syncKey(first.id, 0, 'CreateRecord');
    world.open.add(key);
    await decisions.applied(nae, key);
    decisions.remember(declaration, first, {}, { actions: [act('CreateRecord')] });
    world.record = true;
    await decisions.applied(nae, 'another');
    expect(world.handled).toBe(0);
  });

  it('keeps only requests whose row is synced and declared redecides', async () => {
    const { world, decisions } = setUp();
    const plain = { type: 'Put', sync: true, handle: () => ({}) } as unknown as MessageDeclaration<unknown, unknown>;
    world.open.add(syncKey(request(1).id, 0, 'CreateRecord'));
    decisions.remember(plain, request(1), {}, { actions: [act('CreateRecord')] });
    world.record = true;
    await decisions.applied(nae, 'created');
    expect(world.handled).toBe(0);
  });

  it('leaves the requests of other NAEs alone', async () => {
    const { world, decisions, propose } = setUp();
    propose(request(1, other));
    world.record = true;
    await decisions.applied(nae, 'created');
    expect(world.handled).toBe(0);
  });

  it('moves no vote when the handler now refuses (no action): the vote cast stands, one answer goes out', async () => {
    const carried: string[] = [];
    const declaration = { type: 'Put', sync: true, redecides: true } as unknown as MessageDeclaration<unknown, unknown>;
    const refusing = over(
      async () => ({ send: [] }),
      async () => {
        carried.push('moved');
      },
    );
    refusing.remember(declaration, request(1), {}, { actions: [act('CreateRecord')] });
    await refusing.applied(nae, 'created');
    expect(carried).toEqual([]);
  });

  it('a handler that fails when run again moves no vote and stops nothing: the request is forgotten', async () => {
    let handled = 0;
    const failing = over(
      async () => {
        handled++;
        throw new Error('store gone');
      },
      async () => {
        throw new Error('never carried out');
      },
    );
    const declaration = { type: 'Put', sync: true, redecides: true } as unknown as MessageDeclaration<unknown, unknown>;
    failing.remember(declaration, request(1), {}, { actions: [act('CreateRecord')] });
    await expect(failing.applied(nae, 'created')).resolves.toBeUndefined();
    await expect(failing.applied(nae, 'created again')).resolves.toBeUndefined();
    expect(handled).toBe(1);
  });

  it('keeps at most its bounds, oldest out, and nothing past the firewall memory', async () => {
    const { clock, world, decisions, propose } = setUp({ limit: 2, limitBytes: 10 });
    propose(request(1));
    propose(request(2));
    propose(request(3));
    world.record = true;
    await decisions.applied(nae, 'created');
    expect(world.carried.map((c) => c.id)).toEqual([2, 3]);

    const bytes = setUp({ limitBytes: 10 });
    bytes.propose(request(1, nae, new Uint8Array(6)));
    bytes.propose(request(2, nae, new Uint8Array(6)));
    bytes.world.record = true;
    await bytes.decisions.applied(nae, 'created');
    expect(bytes.world.carried.map((c) => c.id)).toEqual([2]);

    world.record = false;
    world.carried.length = 0;
    clock.advance(60_000);
    propose(request(4));
    world.record = true;
    await decisions.applied(nae, 'created again');
    expect(world.carried.map((c) => c.id)).toEqual([4]);
  });
});
