import { action, type Payload } from '@safe/core';
import { answerWithAccount } from '../answers.js';
import { createAccountActionCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

export const createAccountAction = action<Payload<typeof createAccountActionCodec>, MaidManagerState>({
  type: 'CreateAccount',
  payload: createAccountActionCodec,
  async apply({ client, origin }, ctx) {
    await ctx.state.store.createAccount(client);
    return { send: await answerWithAccount(ctx.state, client, origin) };
  },
});
