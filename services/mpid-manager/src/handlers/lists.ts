import { checkMpidText } from '@safe/chunks';
import { CLIENT_REPLY, clientReplyCodec, type HandlerContext, handles, reply, replyOk } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { applyListChangeCodec, listsCodec } from '../messages.js';
import { ownedMpid, wireOriginOf } from '../requests.js';
import type { MpidManagerState } from '../state.js';

/**
 * AddToWhiteList, RemoveFromWhiteList, AddToBlackList, RemoveFromBlackList | MpidNode ->>>> |
 * [Ac, Fw, Sy] MpidManager: the owner changes its lists; applied once the group agreed (ApplyListChange).
 */
function listChange(row: typeof toMpidManager.addToWhiteList, black: boolean, add: boolean) {
  return handles(row, async (msg, ctx: HandlerContext<MpidManagerState>) => {
    const { nae } = await ownedMpid(msg, ctx.state);
    const entry = checkMpidText(msg.payload.entry, 'list entry');
    const payload = applyListChangeCodec.encode({ mpid: nae, black, add, entry, origin: wireOriginOf(msg) });
    return { actions: [{ type: 'ApplyListChange', nae, payload }] };
  });
}

export const addToWhiteList = listChange(toMpidManager.addToWhiteList, false, true);
export const removeFromWhiteList = listChange(toMpidManager.removeFromWhiteList, false, false);
export const addToBlackList = listChange(toMpidManager.addToBlackList, true, true);
export const removeFromBlackList = listChange(toMpidManager.removeFromBlackList, true, false);

/** WhiteList, BlackList | MpidNode =>>>> | [Ac, Fw] MpidManager: the owner reads one of its lists. */
function listRead(row: typeof toMpidManager.whiteList, black: boolean) {
  return handles(row, async (msg, ctx: HandlerContext<MpidManagerState>) => {
    const { account } = await ownedMpid(msg, ctx.state);
    const lists = black ? { white: [], black: account.black } : { white: account.white, black: [] };
    return { send: [reply(msg, CLIENT_REPLY, clientReplyCodec.encode(replyOk(listsCodec.encode(lists))))] };
  });
}

export const whiteList = listRead(toMpidManager.whiteList, false);
export const blackList = listRead(toMpidManager.blackList, true);
