import { CLIENT_REPLY, clientReplyCodec, message, reply, replyOk, UnknownClientError } from '@safe/core';
import { accountInfoCodec, getAccountCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** The client's account as this replica holds it: stored, available, registered vaults. */
export const getAccount = message<{ nonce: Uint8Array }, MaidManagerState>({
  type: 'GetAccount',
  from: ['client'],
  toOwnName: true,
  accumulate: 'single',
  firewall: true,
  sync: false,
  payload: getAccountCodec,
  async handle(msg, ctx) {
    const account = await ctx.state.store.account(msg.sender);
    if (account === undefined) throw new UnknownClientError('unknown client: create an account first');
    return { send: [reply(msg, CLIENT_REPLY, clientReplyCodec.encode(replyOk(accountInfoCodec.encode(account))))] };
  },
});
