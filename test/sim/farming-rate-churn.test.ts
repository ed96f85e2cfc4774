import {
  awaitRecordLimits,
  type Identity,
  type Name,
  nameEquals,
  type ReceiveResult,
  sealEnvelope,
  toHex,
  transferAgreement,
} from '@safe/core';
import type { SimNode } from '@safe/core/sim';
import {
  closePeers,
  type DataManagerState,
  farmingRateRefreshCodec,
  groupFarmingRate,
  groupFarmingValue,
  refreshTargets,
} from '@safe/data-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const stateOf = (node: SimNode) => node.replica.state as DataManagerState;
const rateOf = (node: SimNode) => stateOf(node).store.lastFarmingRate?.rate;

/** Moves a DataManager's rate as `stored` sacrificial copies do (linear policy: +1 each), from the start value 1. */
async function moveTo(node: SimNode, rate: number): Promise<void> {
  const { store, config } = stateOf(node);
  while ((rate ?? 0) > ((await store.farmingRate(config.farmingPolicy)).rate ?? 0))
    await store.recordSacrificial(config.farmingPolicy, 'stored');
}

/** One periodic refresh round: the interval passes, every replica ticks, the refreshes are delivered. */
async function refreshRound(sim: SimNet): Promise<void> {
  const every = stateOf(sim.sim.nodes('data-manager')[0] as SimNode).config.farmingRefreshMs;
  sim.sim.clock.advance(every);
  await sim.sim.tickAll();
  await sim.settleChurn();
}

/** A FarmingRateRefresh signed by `from`, straight to `to`'s replica. */
function refreshFrom(from: Identity, to: SimNode, rate: number): Promise<ReceiveResult> {
  const envelope = sealEnvelope(
    {
      type: 'FarmingRateRefresh',
      source: { persona: 'data-manager', nae: from.name },
      authority: 'single',
      destination: { persona: 'data-manager', nae: to.info.name },
      scope: 'node',
      payload: farmingRateRefreshCodec.encode({ rate, moved: true, sequence: Number.MAX_SAFE_INTEGER }),
      correlation: Uint8Array.of(1, 2, 3),
    },
    from,
  );
  return to.replica.receive(envelope);
}

describe('the farming rate on DataManager churn (SPEC.md 3.3: transferred as a refresh, the group value is the median)', () => {
  it('K+1 DataManagers: newcomers adopt the group median, every replica agrees on it, strangers change nothing', async () => {
    net = await SimNet.start({ seed: 71, reorder: true, duplicateRate: 0.1, counts: { 'data-manager': 3 } });
    const old = net.sim.nodes('data-manager');
    const rates = [3, 7, 11];
    for (const [i, node] of old.entries()) await moveTo(node, rates[i] ?? 0);
    await refreshRound(net);
    for (const node of old) expect(groupFarmingValue(stateOf(node))).toBe(7);

    // Two DataManagers join, one at a time: K + 1 = 5, so each is every other's close peer.
    const newcomers = [await net.add('data-manager')];
    await net.settleChurn();
    newcomers.push(await net.add('data-manager'));
    await net.settleChurn();
    expect(net.sim.nodes('data-manager')).toHaveLength(net.sim.params.closeGroupSize + 1);
    for (const node of newcomers) {
      expect(rateOf(node), 'the newcomer took the median of what its peers sent').toBe(7);
      expect(stateOf(node).store.farmingRateMoved).toBe(false);
    }
    for (const node of old) expect(rateOf(node), 'an old member keeps its own rate').toBe(rates[old.indexOf(node)]);
    // The newcomers told their peers on adopting: no refresh round needed for every replica to agree.
    const values = net.sim.nodes('data-manager').map((node) => groupFarmingValue(stateOf(node)));
    expect(values).toEqual(values.map(() => 7));
    for (const node of net.sim.nodes('data-manager')) expect(stateOf(node).farming.peers.size).toBe(4);

    // A node that is not a DataManager of this network: its copy waits for a view that knows it
    // (one that just joined may send before this view caught up), then is refused; nothing moves.
    const stranger = net.sim.newIdentity();
    const target = newcomers[0] as SimNode;
    expect(await refreshFrom(stranger, target, 1000)).toBe('held');
    net.sim.clock.advance(awaitRecordLimits(net.sim.params).ms);
    await target.replica.tick();
    expect(rateOf(target)).toBe(7);
    expect(groupFarmingValue(stateOf(target))).toBe(7);
    expect(stateOf(target).farming.peers.has(toHex(stranger.name))).toBe(false);

    // A DataManager that leaves is forgotten by its peers.
    const [leaving] = old as [SimNode];
    await net.leave(leaving.info.name);
    await net.settleChurn();
    for (const node of net.sim.nodes('data-manager')) expect(stateOf(node).farming.peers.has(toHex(leaving.info.name))).toBe(false);
  });

  it('a larger network: each group value is the median of its own and its close peers’ rates; a known DataManager that is not a close peer is refused', async () => {
    net = await SimNet.start({ seed: 72, reorder: true, counts: { 'data-manager': 8 } });
    const k = net.sim.params.closeGroupSize;
    for (const [i, node] of net.sim.nodes('data-manager').entries()) await moveTo(node, 2 + 3 * i);
    await refreshRound(net);
    const newcomers = [await net.add('data-manager'), await net.add('data-manager')];
    await net.settleChurn();

    const all = net.sim.nodes('data-manager');
    const names = all.map((n) => n.info.name);
    const byName = new Map(all.map((n) => [toHex(n.info.name), n]));
    const actual = (name: Name) => rateOf(byName.get(toHex(name)) as SimNode) ?? Number.NaN;
    const oldRates = all.filter((n) => !newcomers.includes(n)).map(rateOf) as number[];
    for (const node of newcomers) {
      // What a newcomer hears: the close peers that count it back (closeness is not symmetric).
      const heard = refreshTargets(node.info.name, names, k);
      expect(heard.length).toBeGreaterThanOrEqual(transferAgreement(net.sim.params));
      const expected = groupFarmingRate(heard.map(actual));
      expect(rateOf(node), `newcomer ${toHex(node.info.name).slice(0, 8)}`).toBe(expected);
      // Within the old members' range, whatever it heard.
      expect(rateOf(node)).toBeGreaterThanOrEqual(Math.min(...oldRates));
      expect(rateOf(node)).toBeLessThanOrEqual(Math.max(...oldRates));
    }
    // One more round: every replica has its peers' latest values.
    await refreshRound(net);
    for (const node of all) {
      const peers = refreshTargets(node.info.name, names, k);
      const own = rateOf(node) ?? Number.NaN;
      expect(groupFarmingValue(stateOf(node)), `DataManager ${toHex(node.info.name).slice(0, 8)}`).toBe(
        groupFarmingRate([own, ...peers.map(actual)]),
      );
      expect(stateOf(node).farming.peers.size).toBeLessThanOrEqual(k);
    }

    // A DataManager of the network, but not among the target's close peers: refused, nothing changes.
    const target = all.find((node) =>
      all.some((other) => other !== node && !closePeers(node.info.name, names, k).some((p) => nameEquals(p, other.info.name))),
    ) as SimNode;
    const outsider = all.find(
      (other) => other !== target && !closePeers(target.info.name, names, k).some((p) => nameEquals(p, other.info.name)),
    ) as SimNode;
    const identity = net.identities.get(toHex(outsider.info.name)) as Identity;
    const before = { rate: rateOf(target), group: groupFarmingValue(stateOf(target)), heard: [...stateOf(target).farming.peers.entries()] };
    expect(await refreshFrom(identity, target, 10_000)).toBe('handled');
    expect({
      rate: rateOf(target),
      group: groupFarmingValue(stateOf(target)),
      heard: [...stateOf(target).farming.peers.entries()],
    }).toEqual(before);
  });
});
