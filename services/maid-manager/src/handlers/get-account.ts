import { CLIENT_REPLY, clientReplyCodec, type HandlerContext, handles, reply, replyOk, UnknownClientError } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { accountInfoCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** The client's account as this replica holds it: stored, available, registered vaults. */
export const getAccount = handles(toMaidManager.getAccount, async (msg, ctx: HandlerContext<MaidManagerState>) => {
  const account = await ctx.state.store.account(msg.sender);
  if (account === undefined) throw new UnknownClientError('unknown client: create an account first');
  return { send: [reply(msg, CLIENT_REPLY, clientReplyCodec.encode(replyOk(accountInfoCodec.encode(account))))] };
});
