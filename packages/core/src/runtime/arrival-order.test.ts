import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_PARAMETERS } from '../config.js';
import type { Name } from '../name.js';
import type { Action } from '../persona.js';
import { ArrivalOrder, type Place, type PlaceStore } from './arrival-order.js';

const NAE = new Uint8Array(64) as Name;
const act = (label: string): Action => ({ type: 'Ordered', nae: NAE, payload: new TextEncoder().encode(label) });

/** Places kept in a map, as the sync store keeps them. */
function placeMap(): PlaceStore & { readonly kept: Map<string, Place> } {
  const kept = new Map<string, Place>();
  return {
    kept,
    all: async () => [...kept.values()],
    keep: async (place) => void kept.set(place.key, place),
    forget: async (key) => void kept.delete(key),
  };
}

/**
 * An ArrivalOrder over a fake sync: `standing` says where each key is; applied keys are listed in
 * order. `restart` puts a new ArrivalOrder over the same places, as a restarted replica does.
 */
function harness() {
  const standing = new Map<string, 'open' | 'resolved' | 'gone'>();
  const applied: string[] = [];
  const places = placeMap();
  let now = 0;
  const open = () =>
    new ArrivalOrder({
      settled: async (key) => (standing.get(key) ?? 'gone') !== 'open',
      resolved: async (key) => standing.get(key) === 'resolved',
      apply: async (_act, key) => {
        applied.push(key);
      },
      places,
      now: () => now,
      params: { ...DEFAULT_GROUP_PARAMETERS, awaitRecordMs: 5_000 },
    });
  const h = {
    order: open(),
    standing,
    applied,
    places,
    arrive: async (key: string) => {
      await h.order.arrived(act(key), key);
      if (!standing.has(key)) standing.set(key, 'open');
    },
    agree: async (key: string) => {
      standing.set(key, 'resolved');
      await h.order.agreed(act(key), key, {});
    },
    advance: (ms: number) => (now += ms),
    restart: () => {
      h.order = open();
    },
  };
  return h;
}

describe('ArrivalOrder: one NAE’s agreed actions in their requests’ arrival order', () => {
  it('holds an action agreed before an earlier request until that one is applied', async () => {
    const h = harness();
    await h.arrive('a');
    await h.arrive('b');
    await h.agree('b');
    expect(h.applied).toEqual([]);
    expect([...(await h.order.held())]).toEqual(['b']);
    await h.agree('a');
    expect(h.applied).toEqual(['a', 'b']);
    expect((await h.order.held()).size).toBe(0);
    expect(h.places.kept.size).toBe(0);
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

  it('after a restart over the same store, applies what was agreed while waiting, in arrival order', async () => {
    const h = harness();
    await h.arrive('a');
    await h.arrive('b');
    await h.agree('b');
    await h.agree('c'); // its request has not arrived here yet
    h.restart();
    expect([...(await h.order.held())].sort()).toEqual(['b', 'c']);
    await h.arrive('c');
    await h.arrive('d'); // after the restart: after every arrival before it
    await h.agree('d');
    await h.agree('a');
    expect(h.applied).toEqual(['a', 'b', 'c', 'd']);
    expect(h.places.kept.size, 'places kept after they were applied').toBe(0);
  });

  it('after a restart, an earlier request settled meanwhile frees the ones behind it at the next tick', async () => {
    const h = harness();
    await h.arrive('a');
    await h.arrive('b');
    await h.agree('b');
    await h.agree('x'); // its request never comes here
    h.restart();
    h.standing.set('a', 'gone');
    await h.order.tick();
    expect(h.applied).toEqual(['b']);
    h.advance(5_000);
    await h.order.tick();
    expect(h.applied).toEqual(['b', 'x']);
    expect(h.places.kept.size).toBe(0);
  });
});
