import { message, nameEquals, SafeError, shortName, toHex } from '@safe/core';
import { adoptIfNewcomer, checkedRate, type FarmingRateRefresh, farmingRateRefreshCodec } from '../farming/refresh.js';
import { closePeers } from '../farming-rate.js';
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
 * heard from (K+1)/2 peers takes their median (AdoptFarmingRate). A sender outside this replica's
 * close peers is refused and changes nothing.
 */
export const farmingRateRefresh = message<FarmingRateRefresh, DataManagerState>({
  type: 'FarmingRateRefresh',
  from: ['data-manager'],
  accumulate: 'single',
  firewall: false,
  sync: false,
  payload: farmingRateRefreshCodec,
  handle(msg, ctx) {
    const peers = closePeers(ctx.self, ctx.routing().view('data-manager').names(), ctx.params.closeGroupSize);
    if (!peers.some((peer) => nameEquals(peer, msg.sender)))
      throw new NotClosePeerError(`${shortName(msg.sender)} is not a close peer of this DataManager: its farming rate does not count`);
    ctx.state.farming.rates.set(toHex(msg.sender), checkedRate(msg.payload.rate));
    return adoptIfNewcomer(ctx);
  },
});
