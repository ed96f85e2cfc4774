/**
 * The farming rate (SPEC.md 3.3): a DataManager group's measure of storage supply and demand,
 * moved by what happens to sacrificial (third) copies, the network's measuring stick. The seeds
 * give two policies; which one runs is configuration (`SAFE_DM_FARMING_POLICY`).
 *
 * - `linear` (seed 004, the later draft, the default): starts at 1; +1 for every sacrificial copy
 *   stored on both of its holders; −1 for every sacrificial copy that could not be stored or was
 *   deleted to make room. It does not go below 0: a rate is a price, never negative.
 * - `exponential` (seed 001): starts at 2^10; a failed third-copy store halves it (>> 1, never
 *   below 1, or it could never double again); a successful one doubles it (<< 1) only when it is
 *   the store that leaves no failed third copy outstanding: "if there are no currently failed
 *   stores the farming rate is not altered".
 *
 * Every member of the group holds a rate; on churn members send theirs to the newcomer as a
 * refresh, and the group's value is the median of its members' (seed 004: "the account type is
 * orderable and the routing sentinel will get the median value"). A DataManager's group here is
 * itself and its close peers: the K DataManagers closest to its name (farming/refresh.ts sends the
 * refreshes, handlers/farming-rate-refresh.ts takes them in).
 */
import { closestNames, lowerMedian, type Name, nameEquals } from '@safe/core';

export const FARMING_POLICIES = ['linear', 'exponential'] as const;
export type FarmingPolicy = (typeof FARMING_POLICIES)[number];

export interface FarmingRate {
  readonly rate: number;
  /** Sacrificial copies that failed and are not stored again yet (the exponential policy waits for them). */
  readonly failedOutstanding: number;
}

/** What happened to one sacrificial copy. */
export type SacrificialEvent = 'stored' | 'failed' | 'deleted';

export const EXPONENTIAL_START = 2 ** 10;

export function initialFarmingRate(policy: FarmingPolicy): FarmingRate {
  return { rate: policy === 'linear' ? 1 : EXPONENTIAL_START, failedOutstanding: 0 };
}

/** The rate after one sacrificial copy's outcome. Pure: every member that agrees on the events agrees on the rate. */
export function nextFarmingRate(policy: FarmingPolicy, current: FarmingRate, event: SacrificialEvent): FarmingRate {
  if (policy === 'linear') {
    if (event === 'stored') return { ...current, rate: current.rate + 1 };
    return { ...current, rate: Math.max(0, current.rate - 1) };
  }
  if (event !== 'stored') {
    return { rate: Math.max(1, current.rate >> 1), failedOutstanding: current.failedOutstanding + 1 };
  }
  if (current.failedOutstanding === 0) return current;
  const failedOutstanding = current.failedOutstanding - 1;
  // Kept a safe integer: doubling past 2^52 would stop being exact.
  return { rate: failedOutstanding === 0 ? Math.min(current.rate * 2, 2 ** 52) : current.rate, failedOutstanding };
}

/** A DataManager's close peers: the `k` DataManagers closest to its name, itself left out. */
export function closePeers(self: Name, dataManagers: readonly Name[], k: number): Name[] {
  return closestNames(
    self,
    dataManagers.filter((n) => !nameEquals(n, self)),
    k,
  );
}

/**
 * The close peers a DataManager exchanges rates with: those that count it among their own close
 * peers too (closeness is not symmetric). It sends its rate to them, and theirs are the only
 * refreshes it takes, so each side keeps what the other sends and no refresh is sent to be refused.
 */
export function refreshTargets(self: Name, dataManagers: readonly Name[], k: number): Name[] {
  return closePeers(self, dataManagers, k).filter((peer) => closePeers(peer, dataManagers, k).some((n) => nameEquals(n, self)));
}

/**
 * What a newcomer (a replica whose rate never moved) takes as its own: the median of the rates its
 * close peers sent, once `agreement` ((K+1)/2, as for account transfer) of them have; before that
 * undefined, so one peer alone cannot set it.
 */
export function adoptedFarmingRate(heard: readonly number[], agreement: number): number | undefined {
  return heard.length >= agreement ? groupFarmingRate(heard) : undefined;
}

/**
 * The group's value from its members' rates: the median (of an even count, the lower middle, so
 * the value is always one some member holds). Undefined for no members.
 */
export function groupFarmingRate(rates: readonly number[]): number | undefined {
  return lowerMedian(rates);
}
