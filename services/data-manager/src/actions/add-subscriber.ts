import type { PutContext } from '@safe/chunks';
import { action } from '@safe/core';
import { addSubscriberCodec, type ChunkRef } from '../messages.js';
import { awaitStore, tellMaidManagers } from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * Agreed: Put of an existing chunk, one more subscriber; the client is still charged. If the
 * chunk's first store is still under way, the answer waits for it: acknowledged means retrievable.
 */
export const addSubscriber = action<ChunkRef & { context: PutContext | null }, DataManagerState>({
  type: 'AddSubscriber',
  payload: addSubscriberCodec,
  async apply({ name, copy, context }, ctx) {
    const record = await ctx.state.store.addSubscriber(name, copy);
    if (record === undefined) return undefined;
    if (record.stored >= ctx.state.config.copiesPerGroup)
      return { send: tellMaidManagers(context, name, copy, { stored: true, cost: record.size }) };
    awaitStore(ctx.state, copyKey(name, copy), context);
    return undefined;
  },
});
