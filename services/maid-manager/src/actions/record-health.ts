import type { WireOrigin } from '@safe/chunks';
import { action } from '@safe/core';
import { answerWithAccount } from '../answers.js';
import { recordHealthCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

export const recordHealth = action<{ client: Uint8Array; pmid: Uint8Array; offered: number; origin: WireOrigin | null }, MaidManagerState>({
  type: 'RecordHealth',
  payload: recordHealthCodec,
  async apply({ client, pmid, offered, origin }, ctx) {
    await ctx.state.store.recordHealth(client, pmid, offered);
    return { send: await answerWithAccount(ctx.state, client, origin) };
  },
});
