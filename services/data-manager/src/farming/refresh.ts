import {
  action,
  type ChurnEvent,
  type Fields,
  type HandlerContext,
  MalformedPayloadError,
  type Name,
  NOTHING,
  type Outbound,
  type Outcome,
  toHex,
  transferAgreement,
} from '@safe/core';
import { toDataManager } from '@safe/messages';
import type { FarmingRateRefresh as FarmingRateRefreshMessage } from '@safe/proto/farming_rate';
import { adoptedFarmingRate, groupFarmingRate, refreshTargets } from '../farming-rate.js';
import { send } from '../messages.js';
import type { DataManagerState } from '../state.js';

/**
 * The farming rate travels between close peers (SPEC.md 3.3: "transferred on churn as a refresh,
 * and the group's value is the median of members' values"): on a matrix change of the DataManagers
 * each member sends its rate to the close peers it did not have, and every `farmingRefreshMs` to
 * all of them, so the values converge. Close peers here are the K DataManagers closest to a replica
 * that count it among theirs too (refreshTargets): those are the ones that send to it. A newcomer
 * takes the median of its peers' own rates (AdoptFarmingRate); every replica's group value is the
 * median of its own rate and its peers' latest.
 */
export type FarmingRateRefresh = Fields<FarmingRateRefreshMessage>;
/** Its row's codec, by the name this package exports it under (the sim tests read refreshes with it). */
export const farmingRateRefreshCodec = toDataManager.farmingRateRefresh.payload;

/** A rate is a price: a non-negative safe integer, whatever a peer sends. */
export function checkedRate(rate: number): number {
  if (!Number.isSafeInteger(rate) || rate < 0) throw new MalformedPayloadError(`a farming rate is a non-negative integer, got ${rate}`);
  return rate;
}

/** This replica's group value: the median of its own rate and its close peers' latest; undefined before its own is read. */
export function groupFarmingValue(state: DataManagerState): number | undefined {
  const own = state.store.lastFarmingRate?.rate;
  if (own === undefined) return undefined;
  return groupFarmingRate([own, ...[...state.farming.peers.values()].map((peer) => peer.rate)]);
}

function dataManagers(ctx: HandlerContext<DataManagerState>): readonly Name[] {
  return ctx.routing().view('data-manager').names();
}

/** This replica's rate to each of `targets`, node-scoped, speaking for itself. */
export function sendFarmingRate(ctx: HandlerContext<DataManagerState>, targets: readonly Name[]): Outbound[] {
  const { lastFarmingRate, farmingRateMoved } = ctx.state.store;
  if (lastFarmingRate === undefined || targets.length === 0) return [];
  const { farming } = ctx.state;
  // Later than any refresh sent before, across restarts too (the clock moves on); each refresh is
  // thereby also a message of its own, never taken for a repeat of an earlier one with the same rate.
  farming.sequence = Math.max(Math.floor(ctx.now()), farming.sequence + 1);
  const refresh = { rate: lastFarmingRate.rate, moved: farmingRateMoved === true, sequence: farming.sequence };
  return targets.map((peer) => send(toDataManager.farmingRateRefresh, { nae: peer, scope: 'node', authority: 'single' }, refresh));
}

/**
 * onChurn among the DataManagers: the new close peers get this replica's rate, and a peer that is
 * no longer a close peer counting this one back is forgotten (at most K rates kept): it sends no
 * refreshes any more, so its value would only go stale.
 */
export function onDataManagerChurn({ persona, change }: ChurnEvent, ctx: HandlerContext<DataManagerState>): Outcome {
  if (persona !== 'data-manager') return NOTHING;
  const k = ctx.params.closeGroupSize;
  const targets = refreshTargets(ctx.self, change.newNodes, k);
  const current = new Set(targets.map(toHex));
  const { farming } = ctx.state;
  for (const peer of [...farming.peers.keys()]) if (!current.has(peer)) farming.peers.delete(peer);
  const before = new Set(refreshTargets(ctx.self, change.oldNodes, k).map(toHex));
  const fresh = targets.filter((peer) => !before.has(toHex(peer)));
  const send = sendFarmingRate(ctx, fresh);
  return send.length > 0 ? { send } : NOTHING;
}

/** onTick: every `farmingRefreshMs` (0: never) the rate goes to all close peers. */
export function periodicFarmingRefresh(ctx: HandlerContext<DataManagerState>): Outbound[] {
  const every = ctx.state.config.farmingRefreshMs;
  if (every === 0 || ctx.now() - ctx.state.farming.lastSentAt < every) return [];
  ctx.state.farming.lastSentAt = ctx.now();
  return sendFarmingRate(ctx, refreshTargets(ctx.self, dataManagers(ctx), ctx.params.closeGroupSize));
}

/**
 * After a peer's rate came in: a replica whose rate no sacrificial copy moved (a newcomer) takes
 * the median of its peers' own rates (not those they adopted) once (K+1)/2 peers sent theirs, and
 * follows it as more arrive, so the order they arrive in does not decide what it ends with.
 */
export function adoptIfNewcomer(ctx: HandlerContext<DataManagerState>): Outcome {
  const { store, farming } = ctx.state;
  if (store.farmingRateMoved !== false) return NOTHING;
  const measured = [...farming.peers.values()].filter((peer) => peer.moved).map((peer) => peer.rate);
  const rate = adoptedFarmingRate(measured, transferAgreement(ctx.params));
  if (rate === undefined || rate === store.lastFarmingRate?.rate) return NOTHING;
  return {
    actions: [{ type: adoptFarmingRate.type, nae: ctx.self, payload: farmingRateRefreshCodec.encode({ rate, moved: false, sequence: 0 }) }],
  };
}

/**
 * Local action (this replica's own table, never synced): the newcomer writes its peers' median as
 * its rate, unless a sacrificial copy moved it first, and tells its close peers the new value.
 */
export const adoptFarmingRate = action<FarmingRateRefresh, DataManagerState>({
  type: 'AdoptFarmingRate',
  payload: farmingRateRefreshCodec,
  async apply({ rate }, ctx) {
    const { store, config } = ctx.state;
    const before = store.lastFarmingRate?.rate;
    const now = await store.adoptFarmingRate(config.farmingPolicy, checkedRate(rate));
    if (now.rate === before) return undefined;
    ctx.log.info({ rate: now.rate, peers: ctx.state.farming.peers.size }, 'farming rate adopted from the close peers');
    return { send: sendFarmingRate(ctx, refreshTargets(ctx.self, dataManagers(ctx), ctx.params.closeGroupSize)) };
  },
});
