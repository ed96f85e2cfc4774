import { action, type Payload, replyOk } from '@safe/core';
import { applyAcknowledgeCodec } from '../messages.js';
import { answerOrigin } from '../requests.js';
import type { MpidManagerState } from '../state.js';

type Params = Payload<typeof applyAcknowledgeCodec>;

/** Agreed: the acknowledged messages are no longer held, and a late copy of one is not held again. */
export const applyAcknowledge = action<Params, MpidManagerState>({
  type: 'ApplyAcknowledge',
  payload: applyAcknowledgeCodec,
  async apply(params, ctx, nae) {
    await ctx.state.store.acknowledge(nae, params.keys, ctx.now());
    return { send: answerOrigin(params.origin, replyOk()) };
  },
  // Reached in a transferred state: the messages are gone from it already, as the others answered.
  // Their keys are remembered all the same: a late copy (a resend, a replayed bus record) is not held again.
  async owed(params, ctx, nae) {
    await ctx.state.store.acknowledge(nae, params.keys, ctx.now());
    return { send: answerOrigin(params.origin, replyOk()) };
  },
});
