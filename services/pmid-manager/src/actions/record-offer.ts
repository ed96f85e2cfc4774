import { action, type Name } from '@safe/core';
import { recordOfferCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';
import { tellShares } from '../vault-shares.js';

/** Agreed: what the node offers. The accounts sharing it are told their new share when it changed. */
export const recordOffer = action<{ pmid: Uint8Array; capacity: number }, PmidManagerState>({
  type: 'RecordOffer',
  payload: recordOfferCodec,
  async apply({ pmid, capacity }, ctx) {
    const { store } = ctx.state;
    const before = await store.account(pmid);
    await store.recordOffer(pmid, capacity);
    const after = await store.account(pmid);
    if (after === undefined || before?.offered === capacity) return undefined;
    const clients = await store.clients(pmid);
    return clients.length === 0 ? undefined : { send: tellShares(pmid as Name, after, clients) };
  },
});
