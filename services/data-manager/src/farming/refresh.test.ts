import { randomBytes } from 'node:crypto';
import {
  DEFAULT_GROUP_PARAMETERS,
  type HandlerContext,
  type Incoming,
  MatrixChange,
  type Name,
  nameEquals,
  RoutingTable,
  silentLogger,
  toHex,
  transferAgreement,
} from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataManagerConfig } from '../config.js';
import { closePeers, groupFarmingRate } from '../farming-rate.js';
import { farmingRateRefresh, NotClosePeerError } from '../handlers/farming-rate-refresh.js';
import { type DataManagerState, openDataManagerState } from '../state.js';
import {
  adoptFarmingRate,
  type FarmingRateRefresh,
  farmingRateRefreshCodec,
  groupFarmingValue,
  onDataManagerChurn,
  periodicFarmingRefresh,
} from './refresh.js';

const params = DEFAULT_GROUP_PARAMETERS;
const k = params.closeGroupSize;
let host: PgliteHost;
let schemas = 0;

beforeAll(async () => {
  host = await openPglite();
});
afterAll(() => host.close());

const newName = (): Name => new Uint8Array(randomBytes(64)) as Name;

/** A DataManager replica's context with its own store on PGlite and `dataManagers` as its routing view. */
async function replica(self: Name, dataManagers: readonly Name[], now = { ms: 1_000_000 }): Promise<HandlerContext<DataManagerState>> {
  const state = await openDataManagerState(host.database(`dm_farming_peers_${schemas++}`), loadDataManagerConfig({}));
  const routing = new RoutingTable(dataManagers.map((name) => ({ persona: 'data-manager' as const, name, publicKey: new Uint8Array(32) })));
  return {
    self,
    persona: 'data-manager',
    params,
    state,
    log: silentLogger,
    routing: () => routing,
    now: () => now.ms,
  } as unknown as HandlerContext<DataManagerState>;
}

let sequence = 0;

function refresh(from: Name, to: Name, rate: number, moved = true, at = ++sequence): Incoming<FarmingRateRefresh> {
  return {
    id: randomBytes(64),
    type: farmingRateRefresh.type,
    payload: { rate, moved, sequence: at },
    content: new Uint8Array(0),
    source: { persona: 'data-manager', nae: from },
    authority: 'single',
    destination: { persona: 'data-manager', nae: to },
    sender: from,
    correlation: new Uint8Array(0),
  };
}

/** Hands `rate` from `from` to the replica and applies the actions the handler returns, as the runtime does. */
async function deliver(ctx: HandlerContext<DataManagerState>, from: Name, rate: number, moved = true) {
  const outcome = await farmingRateRefresh.handle(refresh(from, ctx.self, rate, moved), ctx);
  const sent = [...(outcome.send ?? [])];
  for (const act of outcome.actions ?? []) {
    expect(act.type).toBe(adoptFarmingRate.type);
    const applied = await adoptFarmingRate.apply(farmingRateRefreshCodec.decode(act.payload), ctx, act.nae);
    sent.push(...(applied?.send ?? []));
  }
  return sent;
}

describe('farming-rate refreshes between close peers', () => {
  it('a newcomer takes the median once (K+1)/2 close peers sent theirs, follows it as more arrive, and tells its peers', async () => {
    const self = newName();
    const others = Array.from({ length: k }, newName);
    const ctx = await replica(self, [self, ...others]);
    expect(ctx.state.store.farmingRateMoved).toBe(false);
    const rates = [7, 3, 11, 5];
    const agreement = transferAgreement(params);
    for (const [i, peer] of others.entries()) {
      const before = ctx.state.store.lastFarmingRate?.rate;
      const sent = await deliver(ctx, peer, rates[i] ?? 0);
      const heard = rates.slice(0, i + 1);
      const expected = i + 1 < agreement ? 1 : groupFarmingRate(heard);
      expect(ctx.state.store.lastFarmingRate?.rate, `after ${heard.join(', ')}`).toBe(expected);
      // A change goes to every close peer, node-scoped, the replica speaking for itself; no change, nothing sent.
      if (expected === before) expect(sent).toEqual([]);
      else {
        expect(sent.map((out) => toHex(out.to.nae)).sort()).toEqual(others.map(toHex).sort());
        expect(sent.every((out) => out.scope === 'node' && out.authority === 'single')).toBe(true);
      }
    }
    const adopted = groupFarmingRate(rates);
    expect(ctx.state.store.lastFarmingRate?.rate).toBe(adopted);
    expect(ctx.state.farming.peers.size).toBe(k);
    expect(groupFarmingValue(ctx.state)).toBe(groupFarmingRate([adopted ?? 0, ...rates]));

    // After a restart the stored rate is the replica's own: it no longer follows.
    const again = await openDataManagerState(ctx.state.store.db, loadDataManagerConfig({}));
    expect(again.store.lastFarmingRate?.rate).toBe(adopted);
    expect(again.store.farmingRateMoved).toBe(true);
  });

  it('a replica whose rate a sacrificial copy moved keeps it: the peers only count toward its group value', async () => {
    const self = newName();
    const others = Array.from({ length: k }, newName);
    const ctx = await replica(self, [self, ...others]);
    await ctx.state.store.recordSacrificial('linear', 'stored');
    for (const peer of others) expect(await deliver(ctx, peer, 40)).toEqual([]);
    expect(ctx.state.store.lastFarmingRate?.rate).toBe(2);
    expect(groupFarmingValue(ctx.state)).toBe(40);
  });

  it('adopts only from the peers own rates: what other newcomers adopted counts toward the group value, not toward adoption', async () => {
    const self = newName();
    const others = Array.from({ length: k }, newName);
    const ctx = await replica(self, [self, ...others]);
    const [a, b, c, d] = others as [Name, Name, Name, Name];
    for (const peer of [a, b]) expect(await deliver(ctx, peer, 2, false)).toEqual([]);
    expect(ctx.state.store.lastFarmingRate?.rate).toBe(1);
    expect(groupFarmingValue(ctx.state)).toBe(2);
    await deliver(ctx, c, 9);
    expect(ctx.state.store.lastFarmingRate?.rate).toBe(1);
    await deliver(ctx, d, 11);
    expect(ctx.state.store.lastFarmingRate?.rate).toBe(9);
    // A peer whose latest rate is an adopted one no longer counts toward adoption.
    await deliver(ctx, c, 9, false);
    await deliver(ctx, a, 20);
    expect(ctx.state.store.lastFarmingRate?.rate).toBe(11);
    const moved = [...ctx.state.farming.peers].filter(([, peer]) => peer.moved).map(([name]) => name);
    expect(moved.sort()).toEqual([a, d].map(toHex).sort());
  });

  it('keeps one value per peer: its latest, whatever order the refreshes arrive in', async () => {
    const self = newName();
    const peer = newName();
    const ctx = await replica(self, [self, peer]);
    for (const rate of [4, 9, 6]) await deliver(ctx, peer, rate);
    const latest = ctx.state.farming.peers.get(toHex(peer));
    expect(ctx.state.farming.peers.size).toBe(1);
    expect(latest?.rate).toBe(6);
    // An earlier refresh arriving late changes nothing.
    await farmingRateRefresh.handle(refresh(peer, self, 100, true, (latest?.sequence ?? 0) - 1), ctx);
    expect(ctx.state.farming.peers.get(toHex(peer))).toEqual(latest);
    expect(groupFarmingValue(ctx.state)).toBe(1);
  });

  it('refuses a DataManager outside its close peers with NotClosePeerError, changing nothing', async () => {
    const self = newName();
    const all = [self, ...Array.from({ length: 3 * k }, newName)];
    const ctx = await replica(self, all);
    const peers = closePeers(self, all, k);
    const stranger = all.find((n) => !nameEquals(n, self) && !peers.some((p) => nameEquals(p, n))) as Name;
    const before = ctx.state.store.lastFarmingRate;
    await expect(async () => farmingRateRefresh.handle(refresh(stranger, self, 99), ctx)).rejects.toThrow(NotClosePeerError);
    expect(ctx.state.farming.peers.size).toBe(0);
    expect(ctx.state.store.lastFarmingRate).toEqual(before);
    expect(groupFarmingValue(ctx.state)).toBe(1);
  });

  it('on a matrix change: forgets peers that left, sends its rate to the new close peers only', async () => {
    const self = newName();
    const old = Array.from({ length: k }, newName);
    const ctx = await replica(self, [self, ...old]);
    for (const peer of old) await deliver(ctx, peer, 5);
    const [gone] = old as [Name];
    const joined = newName();
    const after = [self, ...old.slice(1), joined];
    const change = new MatrixChange(self, [self, ...old], after, k);
    const outcome = onDataManagerChurn({ persona: 'data-manager', change }, ctx);
    expect(ctx.state.farming.peers.has(toHex(gone))).toBe(false);
    expect(ctx.state.farming.peers.size).toBe(k - 1);
    expect((outcome.send ?? []).map((out) => toHex(out.to.nae))).toEqual([toHex(joined)]);
    expect(onDataManagerChurn({ persona: 'pmid-node', change }, ctx)).toEqual({});
  });

  it('sends to every close peer each farmingRefreshMs, as a new message each time', async () => {
    const self = newName();
    const others = Array.from({ length: 2 }, newName);
    const clock = { ms: 5_000_000 };
    const ctx = await replica(self, [self, ...others], clock);
    const first = periodicFarmingRefresh(ctx);
    expect(first).toHaveLength(2);
    expect(periodicFarmingRefresh(ctx)).toEqual([]);
    clock.ms += ctx.state.config.farmingRefreshMs;
    const second = periodicFarmingRefresh(ctx);
    expect(second).toHaveLength(2);
    const sequenceOf = (out: (typeof first)[number] | undefined) =>
      farmingRateRefreshCodec.decode(out?.payload ?? new Uint8Array()).sequence;
    expect(sequenceOf(second[0])).toBeGreaterThan(sequenceOf(first[0]));
  });
});
