import { action, type Payload } from '@safe/core';
import { addSubscriberCodec } from '../messages.js';
import { oweStoreAnswer } from '../rules.js';
import { copyKey, type DataManagerState, rememberNewest } from '../state.js';

/**
 * Agreed: Put of an existing chunk, one more subscriber; the client is still charged. If the
 * chunk's first store is still under way, the answer waits for it: acknowledged means retrievable.
 * A member whose record came by account transfer with the subscriber in it owes the same answer.
 * Where the record is not here yet (its CreateRecord, a concurrent Put's, is still to be agreed
 * here), the subscriber waits for it: `subscribersAhead`, added by CreateRecord.
 */
export const addSubscriber = action<Payload<typeof addSubscriberCodec>, DataManagerState>({
  type: 'AddSubscriber',
  payload: addSubscriberCodec,
  async apply({ name, copy, context }, ctx) {
    if ((await ctx.state.store.addSubscriber(name, copy)) === undefined) {
      const { state } = ctx;
      const key = copyKey(name, copy);
      const contexts = [...(state.subscribersAhead.get(key)?.contexts ?? []), context];
      rememberNewest(state.subscribersAhead, key, { contexts, at: ctx.now() }, Math.max(1, state.config.pendingContentLimit));
      return undefined;
    }
    return oweStoreAnswer(ctx, name, copy, context);
  },
  owed: ({ name, copy, context }, ctx) => oweStoreAnswer(ctx, name, copy, context),
});
