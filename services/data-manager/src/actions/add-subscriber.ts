import { action, type Payload } from '@safe/core';
import { addSubscriberCodec } from '../messages.js';
import { oweStoreAnswer } from '../rules.js';
import type { DataManagerState } from '../state.js';

/**
 * Agreed: Put of an existing chunk, one more subscriber; the client is still charged. If the
 * chunk's first store is still under way, the answer waits for it: acknowledged means retrievable.
 * A member whose record came by account transfer with the subscriber in it owes the same answer.
 */
export const addSubscriber = action<Payload<typeof addSubscriberCodec>, DataManagerState>({
  type: 'AddSubscriber',
  payload: addSubscriberCodec,
  async apply({ name, copy, context }, ctx) {
    if ((await ctx.state.store.addSubscriber(name, copy)) === undefined) return undefined;
    return oweStoreAnswer(ctx, name, copy, context);
  },
  owed: ({ name, copy, context }, ctx) => oweStoreAnswer(ctx, name, copy, context),
});
