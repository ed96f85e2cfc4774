import {
  type HandlerContext,
  handles,
  type Name,
  NOTHING,
  NotFoundError,
  nameEquals,
  type Outbound,
  type Outcome,
  replyError,
  replyOk,
} from '@safe/core';
import { toDataManager } from '@safe/messages';
import { continueRepair } from '../churn/repair.js';
import { continueCheck } from '../integrity/check.js';
import type { GetResponse } from '../messages.js';
import { askNext, endGet } from '../pending-gets.js';
import { carriesChunk } from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * GetResponse | PmidNode => | DataManager: answer the waiting clients, or ask the next holder. The
 * chunk is self-validating, so it answers a pending Get from whichever holder it comes: one asked
 * earlier that answers late, or one a faster member moved on to (this member's own ask of it came
 * late there and goes unanswered: the holder answers the first copy, to the whole group).
 */
export const getResponse = handles(toDataManager.getResponse, async (msg, ctx: HandlerContext<DataManagerState>): Promise<Outcome> => {
  // The chunk came as the message's content, checked against the digest its id covers; that one
  // digest is what carriesChunk checks against the name and what the replies to the clients name.
  const answer: GetResponse = { ...msg.payload, content: msg.content };
  const { name, copy, content } = answer;
  const key = copyKey(name, copy);
  const pending = ctx.state.pendingGets.get(key);
  const fromCurrent = pending !== undefined && nameEquals(pending.current, msg.sender);
  if (pending !== undefined && carriesChunk(answer)) {
    ctx.cache.insert(name, content);
    const answers = endGet(ctx, key, replyOk(), content);
    return { send: [...answers, ...(fromCurrent ? [] : await continueOthers(ctx, msg.sender, answer))] };
  }
  if (pending === undefined || !fromCurrent) {
    const send = await continueOthers(ctx, msg.sender, answer);
    return send.length > 0 ? { send } : NOTHING;
  }
  const next = askNext(ctx, pending);
  if (next !== undefined) return { send: [next] };
  return { send: endGet(ctx, key, replyError(new NotFoundError('no holder could return the chunk'))) };
});

/** The answer for a re-replication or an integrity check reading from the holder, if one is. */
async function continueOthers(ctx: HandlerContext<DataManagerState>, sender: Name, answer: GetResponse): Promise<Outbound[]> {
  return [...(await continueRepair(ctx, sender, answer)), ...continueCheck(ctx, sender, answer)];
}
