import { checkMpidText } from '@safe/chunks';
import { CLIENT_REPLY, clientReplyCodec, message, reply, replyOk } from '@safe/core';
import { applyListChangeCodec, listChangeCodec, listRequestCodec, listsCodec } from '../messages.js';
import { ownedMpid, wireOriginOf } from '../requests.js';
import type { MpidManagerState } from '../state.js';

/**
 * AddToWhiteList, RemoveFromWhiteList, AddToBlackList, RemoveFromBlackList | MpidNode ->>>> |
 * [Ac, Fw, Sy] MpidManager: the owner changes its lists; applied once the group agreed (ApplyListChange).
 */
function listChange(type: string, black: boolean, add: boolean) {
  return message<{ mpid: Uint8Array; entry: string }, MpidManagerState>({
    type,
    from: ['client'],
    accumulate: 'single',
    firewall: true,
    sync: true,
    payload: listChangeCodec,
    async handle(msg, ctx) {
      const { nae } = await ownedMpid(msg, ctx.state);
      const entry = checkMpidText(msg.payload.entry, 'list entry');
      const payload = applyListChangeCodec.encode({ mpid: nae, black, add, entry, origin: wireOriginOf(msg) });
      return { actions: [{ type: 'ApplyListChange', nae, payload }] };
    },
  });
}

export const addToWhiteList = listChange('AddToWhiteList', false, true);
export const removeFromWhiteList = listChange('RemoveFromWhiteList', false, false);
export const addToBlackList = listChange('AddToBlackList', true, true);
export const removeFromBlackList = listChange('RemoveFromBlackList', true, false);

/** WhiteList, BlackList | MpidNode =>>>> | [Ac, Fw] MpidManager: the owner reads one of its lists. */
function listRead(type: string, black: boolean) {
  return message<{ mpid: Uint8Array; nonce: Uint8Array }, MpidManagerState>({
    type,
    from: ['client'],
    accumulate: 'single',
    firewall: true,
    sync: false,
    payload: listRequestCodec,
    async handle(msg, ctx) {
      const { account } = await ownedMpid(msg, ctx.state);
      const lists = black ? { white: [], black: account.black } : { white: account.white, black: [] };
      return { send: [reply(msg, CLIENT_REPLY, clientReplyCodec.encode(replyOk(listsCodec.encode(lists))))] };
    },
  });
}

export const whiteList = listRead('WhiteList', false);
export const blackList = listRead('BlackList', true);
