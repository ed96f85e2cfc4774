import { checkMpidText, mpidName } from '@safe/chunks';
import { type HandlerContext, handles } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { send } from '../messages.js';
import { ownedMpid, wireOriginOf } from '../requests.js';
import { checkBody, checkMessageId } from '../rules.js';
import type { MpidManagerState } from '../state.js';

/**
 * Message | MpidNode =>>>> | [Ac, Fw] the sender's MpidManager [So] =>>>> the recipient's
 * MpidManagers: the client owns the MPID it sends as; the answer comes back as MessageResult.
 */
export const sendMessage = handles(toMpidManager.sendMessage, async (msg, ctx: HandlerContext<MpidManagerState>) => {
  const { from, to, id, body, sentAt } = msg.payload;
  checkMessageId(id);
  checkBody(body.length);
  const recipient = mpidName(checkMpidText(to, 'recipient'));
  const { nae, account } = await ownedMpid({ ...msg, payload: { mpid: from } }, ctx.state);
  const held = { sender: nae, from: account.name, id, sentAt, body };
  const payload = { recipient, message: held, origin: wireOriginOf(msg) };
  return { send: [send(toMpidManager.message, { nae: recipient, scope: 'close-group' }, payload)] };
});
