import {
  answering,
  type ClientReplyValue,
  type HandlerContext,
  handles,
  InvalidNameError,
  nameEquals,
  parseName,
  replyOk,
  WrongSourceError,
} from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { holdMessageCodec, send } from '../messages.js';
import { answerOrigin, refusal, UnknownMpidError } from '../requests.js';
import { checkAdmitted, checkHeldMessage, checkRoom } from '../rules.js';
import type { MpidManagerState } from '../state.js';

/**
 * Message | sender's MpidManager =>>>> | [Ac, Fw, Sy] the recipient's MpidManager [So]: the lists
 * decide, and an admitted message is held (HoldMessage, once floor(K/2)+1 members admitted it:
 * a list change reaches members at different moments, and what one member holds all must) until
 * the recipient's node takes and acknowledges it (README: "online"). Every answer goes back to the
 * sender's group as MessageResult, so the sender hears why: a refusal at once, holding nothing;
 * the acceptance once the hold is agreed (actions/hold.ts).
 */
export const receiveMessage = handles(toMpidManager.message, async (msg, ctx: HandlerContext<MpidManagerState>) => {
  const recipient = parseName(msg.payload.recipient, 'recipient');
  if (!nameEquals(msg.destination.nae, recipient)) throw new InvalidNameError("a message goes to the close group of its recipient's name");
  const held = checkHeldMessage(msg.payload.message);
  if (!nameEquals(msg.source.nae, held.sender)) throw new WrongSourceError("a message comes from its sender's MpidManagers");
  const answer = (result: ClientReplyValue) =>
    send(toMpidManager.messageResult, answering(msg), { recipient, origin: msg.payload.origin, reply: result });
  try {
    const account = await ctx.state.store.account(recipient);
    if (account === undefined) throw new UnknownMpidError();
    checkAdmitted(account, held.from);
    const key = { sender: held.sender, id: held.id };
    // A copy of a message held or taken already (a resend) is accepted again and held once.
    if ((await ctx.state.store.isHeld(recipient, key)) || (await ctx.state.store.wasAcknowledged(recipient, key))) {
      return { send: [answer(replyOk())] };
    }
    checkRoom(account, await ctx.state.store.heldTotals(recipient), held.body.length);
    const payload = holdMessageCodec.encode({ recipient, message: held, origin: msg.payload.origin, answers: msg.id });
    return { actions: [{ type: 'HoldMessage', nae: recipient, payload }] };
  } catch (error) {
    return { send: [answer(refusal(error))] };
  }
});

/** MessageResult | recipient's MpidManager ->>>> | [Ac, Fw] the sender's MpidManager [So]: the answer, passed on to the client. */
export const messageResult = handles(toMpidManager.messageResult, (msg) => {
  if (!nameEquals(msg.source.nae, parseName(msg.payload.recipient, 'recipient'))) {
    throw new WrongSourceError("a message's answer comes from its recipient's MpidManagers");
  }
  if (msg.payload.reply == null) return {};
  return { send: answerOrigin(msg.payload.origin, msg.payload.reply) };
});
