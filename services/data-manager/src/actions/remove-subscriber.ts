import { action } from '@safe/core';
import { type ChunkRef, removeSubscriberCodec } from '../messages.js';
import { deleteFrom } from '../rules.js';
import type { DataManagerState } from '../state.js';

/** Agreed: one subscriber fewer; at zero the record goes and every holder deletes its copy. */
export const removeSubscriber = action<ChunkRef, DataManagerState>({
  type: 'RemoveSubscriber',
  payload: removeSubscriberCodec,
  async apply({ name, copy }, ctx) {
    const holders = await ctx.state.store.removeSubscriber(name, copy, ctx.now());
    if (holders === undefined) return undefined;
    return { send: holders.map((pmid) => deleteFrom(pmid, name, copy)) };
  },
});
