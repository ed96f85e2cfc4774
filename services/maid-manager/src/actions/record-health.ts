import { action, type Payload } from '@safe/core';
import { answerWithAccount } from '../answers.js';
import { recordHealthCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

export const recordHealth = action<Payload<typeof recordHealthCodec>, MaidManagerState>({
  type: 'RecordHealth',
  payload: recordHealthCodec,
  async apply({ client, pmid, offered, origin }, ctx) {
    await ctx.state.store.recordHealth(client, pmid, offered);
    return { send: await answerWithAccount(ctx.state, client, origin) };
  },
});
