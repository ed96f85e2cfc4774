import { type HandlerContext, handles, NOTHING, nameEquals, SafeError, shortName, toHex } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { adoptIfNewcomer, checkedRate } from '../farming/refresh.js';
import { refreshTargets } from '../farming-rate.js';
import type { DataManagerState } from '../state.js';

/** A farming-rate refresh from a DataManager that is not one of this replica's close peers: it does not count. */
export class NotClosePeerError extends SafeError {
  constructor(message: string) {
    super('permission-denied', message);
  }
}

/**
 * FarmingRateRefresh | DataManager -> | DataManager (node-scoped, single): a close peer's farming
 * rate (farming/refresh.ts). Kept as that peer's latest value, one per peer; a newcomer that has
 * heard the own rates of (K+1)/2 peers takes their median (AdoptFarmingRate). A sender outside this
 * replica's close peers (the K DataManagers closest to it that count it among theirs too) is refused
 * and changes nothing.
 */
export const farmingRateRefresh = handles(toDataManager.farmingRateRefresh, (msg, ctx: HandlerContext<DataManagerState>) => {
  // The close peers that count this replica back are the ones that send to it (and the ones churn keeps).
  const close = refreshTargets(ctx.self, ctx.routing().view('data-manager').names(), ctx.params.closeGroupSize);
  if (!close.some((peer) => nameEquals(peer, msg.sender)))
    throw new NotClosePeerError(`${shortName(msg.sender)} is not a close peer of this DataManager: its farming rate does not count`);
  const { rate, moved, sequence } = msg.payload;
  const { peers } = ctx.state.farming;
  const latest = peers.get(toHex(msg.sender));
  // Refreshes can arrive out of order: an earlier one must not replace a later one.
  if (latest !== undefined && latest.sequence >= sequence) return NOTHING;
  peers.set(toHex(msg.sender), { rate: checkedRate(rate), moved, sequence });
  return adoptIfNewcomer(ctx);
});
