import type { WireOrigin } from '@safe/chunks';
import { type Name, nameEquals, type Outbound, type PayloadOf, sha512 } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { send } from './messages.js';
import { pmidRank } from './rank.js';
import type { PmidAccount } from './store.js';

const SHARE_TAG = new TextEncoder().encode('vault share');

/**
 * A vault's offer is shared by the client accounts that registered it: each is promised an equal
 * part, so what the accounts are promised never adds up to more than the vault offers.
 */
export function shareOf(offered: number, clients: number): number {
  return Math.floor(offered / Math.max(1, clients));
}

/** PmidHealth for `client`: the vault's totals, with the offer as the client's share of it. */
export function healthPayload(
  pmid: Uint8Array,
  account: PmidAccount,
  clients: number,
  client: Uint8Array,
  origin: WireOrigin | null | undefined,
): PayloadOf<typeof toMaidManager.pmidHealth> {
  return {
    pmid,
    ...account,
    offered: shareOf(account.offered, clients),
    rank: pmidRank(account),
    client,
    origin,
  };
}

/**
 * Tells the MaidManagers of every client sharing the vault (but `except`) its share now: one
 * joined, or the offer changed. The correlation names the share, so every member of the
 * PmidManager group sends the same message and the client's MaidManagers accumulate it.
 */
export function tellShares(pmid: Name, account: PmidAccount, clients: readonly Uint8Array[], except?: Uint8Array): Outbound[] {
  const count = new Uint8Array(16);
  new DataView(count.buffer).setFloat64(0, clients.length);
  new DataView(count.buffer).setFloat64(8, account.offered);
  return clients
    .filter((client) => except === undefined || !nameEquals(client, except))
    .map((client) =>
      send(
        toMaidManager.pmidHealth,
        { nae: client as Name, scope: 'close-group', as: pmid, correlation: sha512(SHARE_TAG, pmid, client, count) },
        healthPayload(pmid, account, clients.length, client, null),
      ),
    );
}
