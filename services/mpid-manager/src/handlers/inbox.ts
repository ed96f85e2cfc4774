import { MPID_LIMITS } from '@safe/chunks';
import { CLIENT_REPLY, clientReplyCodec, type HandlerContext, handles, InvalidNameError, reply, replyOk } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { applyAcknowledgeCodec, inboxCodec } from '../messages.js';
import { ownedMpid, wireOriginOf } from '../requests.js';
import { checkMessageId } from '../rules.js';
import type { MpidManagerState } from '../state.js';

/**
 * GetMessages | MpidNode =>>>> | [Ac, Fw] MpidManager: the node is online and takes what is held
 * for it, oldest first (README). From each member's own state: a message still on its way to one
 * member makes the answers differ for a moment, and the node asks again.
 */
export const getMessages = handles(toMpidManager.getMessages, async (msg, ctx: HandlerContext<MpidManagerState>) => {
  const { nae } = await ownedMpid(msg, ctx.state);
  const inbox = await ctx.state.store.inbox(nae, MPID_LIMITS.replyBytes);
  return { send: [reply(msg, CLIENT_REPLY, clientReplyCodec.encode(replyOk(inboxCodec.encode(inbox))))] };
});

/** Acknowledge | MpidNode =>>>> | [Ac, Fw, Sy] MpidManager: the node has the messages; once agreed they are no longer held. */
export const acknowledge = handles(toMpidManager.acknowledge, async (msg, ctx: HandlerContext<MpidManagerState>) => {
  const { nae } = await ownedMpid(msg, ctx.state);
  const { keys } = msg.payload;
  if (keys.length === 0 || keys.length > MPID_LIMITS.heldMessages) {
    throw new InvalidNameError(`an Acknowledge names 1 to ${MPID_LIMITS.heldMessages} messages, got ${keys.length}`);
  }
  for (const key of keys) checkMessageId(key.id);
  const payload = applyAcknowledgeCodec.encode({ mpid: nae, keys, origin: wireOriginOf(msg) });
  return { actions: [{ type: 'ApplyAcknowledge', nae, payload }] };
});
