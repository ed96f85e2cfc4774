import {
  action,
  type ChurnEvent,
  type HandlerContext,
  MalformedPayloadError,
  type Name,
  NOTHING,
  type Outbound,
  type Outcome,
  protoCodec,
  registerProtoFile,
  toHex,
  transferAgreement,
} from '@safe/core';
import { adoptedFarmingRate, closePeers, groupFarmingRate, refreshTargets } from '../farming-rate.js';
import type { DataManagerState } from '../state.js';

/**
 * The farming rate travels between close peers (SPEC.md 3.3: "transferred on churn as a refresh,
 * and the group's value is the median of members' values"): on a matrix change of the DataManagers
 * each member sends its rate to the close peers it did not have, and every
 * `farmingRefreshMs` to all of them, so the values converge. A newcomer takes the median of what
 * its peers sent (AdoptFarmingRate); every replica's group value is the median of its own rate and
 * its peers' latest.
 */
registerProtoFile('safe/v1/farming_rate.proto');

export interface FarmingRateRefresh {
  rate: number;
}
export const farmingRateRefreshCodec = protoCodec<FarmingRateRefresh>('safe.v1.data_manager.FarmingRateRefresh');

/** A rate is a price: a non-negative safe integer, whatever a peer sends. */
export function checkedRate(rate: number): number {
  if (!Number.isSafeInteger(rate) || rate < 0) throw new MalformedPayloadError(`a farming rate is a non-negative integer, got ${rate}`);
  return rate;
}

/** This replica's group value: the median of its own rate and its close peers' latest; undefined before its own is read. */
export function groupFarmingValue(state: DataManagerState): number | undefined {
  const own = state.store.lastFarmingRate?.rate;
  if (own === undefined) return undefined;
  return groupFarmingRate([own, ...state.farming.rates.values()]);
}

function dataManagers(ctx: HandlerContext<DataManagerState>): readonly Name[] {
  return ctx.routing().view('data-manager').names();
}

/** This replica's rate to each of `targets`, node-scoped, speaking for itself. */
export function sendFarmingRate(ctx: HandlerContext<DataManagerState>, targets: readonly Name[]): Outbound[] {
  const rate = ctx.state.store.lastFarmingRate?.rate;
  if (rate === undefined || targets.length === 0) return [];
  const { farming } = ctx.state;
  // The correlation makes each refresh its own message: the same rate sent again after another one
  // must not be taken for a repeat of the first and dropped.
  const correlation = new Uint8Array(12);
  const view = new DataView(correlation.buffer);
  view.setFloat64(0, ctx.now());
  view.setUint32(8, ++farming.sent);
  const payload = farmingRateRefreshCodec.encode({ rate });
  return targets.map(
    (peer): Outbound => ({
      type: 'FarmingRateRefresh',
      to: { persona: 'data-manager', nae: peer },
      scope: 'node',
      authority: 'single',
      payload,
      correlation,
    }),
  );
}

/**
 * onChurn among the DataManagers: peers that are no longer close are forgotten (at most K rates
 * kept), and the new close peers get this replica's rate.
 */
export function onDataManagerChurn({ persona, change }: ChurnEvent, ctx: HandlerContext<DataManagerState>): Outcome {
  if (persona !== 'data-manager') return NOTHING;
  const k = ctx.params.closeGroupSize;
  const current = new Set(closePeers(ctx.self, change.newNodes, k).map(toHex));
  for (const peer of [...ctx.state.farming.rates.keys()]) if (!current.has(peer)) ctx.state.farming.rates.delete(peer);
  const before = new Set(refreshTargets(ctx.self, change.oldNodes, k).map(toHex));
  const fresh = refreshTargets(ctx.self, change.newNodes, k).filter((peer) => !before.has(toHex(peer)));
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
 * the median of its peers' rates once (K+1)/2 of them sent theirs, and follows it as more arrive,
 * so the order they arrive in does not decide what it ends with.
 */
export function adoptIfNewcomer(ctx: HandlerContext<DataManagerState>): Outcome {
  const { store, farming } = ctx.state;
  if (store.farmingRateMoved !== false) return NOTHING;
  const rate = adoptedFarmingRate([...farming.rates.values()], transferAgreement(ctx.params));
  if (rate === undefined || rate === store.lastFarmingRate?.rate) return NOTHING;
  return { actions: [{ type: adoptFarmingRate.type, nae: ctx.self, payload: farmingRateRefreshCodec.encode({ rate }) }] };
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
    ctx.log.info({ rate: now.rate, peers: ctx.state.farming.rates.size }, 'farming rate adopted from the close peers');
    return { send: sendFarmingRate(ctx, refreshTargets(ctx.self, dataManagers(ctx), ctx.params.closeGroupSize)) };
  },
});
