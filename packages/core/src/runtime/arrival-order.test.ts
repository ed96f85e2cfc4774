import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_PARAMETERS } from '../config.js';
import type { Name } from '../name.js';
import type { Action } from '../persona.js';
import { ArrivalOrder } from './arrival-order.js';

const NAE = new Uint8Array(64) as Name;
const act = (label: string): Action => ({ type: 'Ordered', nae: NAE, payload: new TextEncoder().encode(label) });

/** An ArrivalOrder over a fake sync: `standing` says where each key is; applied keys are listed in order. */
function harness() {
  const standing = new Map<string, 'open' | 'resolved' | 'gone'>();
  const applied: string[] = [];
  let now = 0;
  const order = new ArrivalOrder({
    settled: async (key) => (standing.get(key) ?? 'gone') !== 'open',
    resolved: async (key) => standing.get(key) === 'resolved',
    apply: async (_act, key) => {
      applied.push(key);
    },
    now: () => now,
    params: { ...DEFAULT_GROUP_PARAMETERS, awaitRecordMs: 5_000 },
  });
  const arrive = async (key: string) => {
    await order.arrived(act(key), key);
    if (!standing.has(key)) standing.set(key, 'open');
  };
  const agree = async (key: string) => {
    standing.set(key, 'resolved');
    await order.agreed(act(key), key, {});
  };
  return { order, standing, applied, arrive, agree, advance: (ms: number) => (now += ms) };
}

describe('ArrivalOrder: one NAE’s agreed actions in their requests’ arrival order', () => {
  it('holds an action agreed before an earlier request until that one is applied', async () => {
    const h = harness();
    await h.arrive('a');
    await h.arrive('b');
    await h.agree('b');
    expect(h.applied).toEqual([]);
    expect([...h.order.held()]).toEqual(['b']);
    await h.agree('a');
    expect(h.applied).toEqual(['a', 'b']);
    expect(h.order.held().size).toBe(0);
  });

  it('lets the later ones go when an earlier request is settled without being applied', async () => {
    const h = harness();
    await h.arrive('a');
    await h.arrive('b');
    await h.agree('b');
    h.standing.set('a', 'gone');
    await h.order.tick();
    expect(h.applied).toEqual(['b']);
  });

  it('waits for its own copy of a request its peers agreed first, and applies it once at its place', async () => {
    const h = harness();
    await h.agree('b');
    await h.arrive('a');
    expect(h.applied).toEqual([]);
    await h.arrive('b');
    await h.agree('a');
    expect(h.applied).toEqual(['a', 'b']);
    // A repeat of a request applied already takes no place in the order.
    await h.arrive('b');
    await h.arrive('c');
    await h.agree('c');
    expect(h.applied).toEqual(['a', 'b', 'c']);
  });

  it('applies an agreed action whose request never comes here after awaitRecordMs', async () => {
    const h = harness();
    await h.agree('x');
    await h.order.tick();
    expect(h.applied).toEqual([]);
    h.advance(5_000);
    await h.order.tick();
    expect(h.applied).toEqual(['x']);
  });
});
