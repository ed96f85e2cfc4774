import { action } from '@safe/core';
import { recordOfferCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

export const recordOffer = action<{ pmid: Uint8Array; capacity: number }, PmidManagerState>({
  type: 'RecordOffer',
  payload: recordOfferCodec,
  async apply({ pmid, capacity }, ctx) {
    await ctx.state.store.recordOffer(pmid, capacity);
    return undefined;
  },
});
