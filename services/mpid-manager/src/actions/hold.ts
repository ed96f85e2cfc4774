import { action, MalformedPayloadError, type Name, type Outbound, type Payload, parseName, replyOk } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { type HeldMessage, holdMessageCodec, send } from '../messages.js';
import type { MpidManagerState } from '../state.js';

type Params = Payload<typeof holdMessageCodec>;

function messageOf(params: Params): HeldMessage {
  if (params.message == null) throw new MalformedPayloadError('HoldMessage without its message');
  return params.message;
}

/** The group's acceptance, to the sender's MpidManagers (MessageResult, answering the Message: Uf). */
function accepted(params: Params, message: HeldMessage): Outbound {
  const { recipient, origin, answers } = params;
  return send(
    toMpidManager.messageResult,
    { nae: message.sender as Name, scope: 'close-group', correlation: answers, answers },
    { recipient, origin, reply: replyOk() },
  );
}

/** Agreed: every member holds the admitted message (once: a repeat, or one its node acknowledged, changes nothing). */
export const holdMessage = action<Params, MpidManagerState>({
  type: 'HoldMessage',
  payload: holdMessageCodec,
  async apply(params, ctx) {
    const message = messageOf(params);
    await ctx.state.store.hold(parseName(params.recipient, 'recipient'), message);
    return { send: [accepted(params, message)] };
  },
  // The message came inside a transferred record (or was taken already): the answer the others gave.
  owed(params) {
    return { send: [accepted(params, messageOf(params))] };
  },
});
