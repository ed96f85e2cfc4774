import {
  answerClient,
  type HandlerContext,
  handles,
  NOTHING,
  NotFoundError,
  nameEquals,
  type Outcome,
  replyError,
  replyOk,
} from '@safe/core';
import { toDataManager } from '@safe/messages';
import { continueRepair } from '../churn/repair.js';
import { continueCheck } from '../integrity/check.js';
import { getReplyCodec } from '../messages.js';
import { askHolder, carriesChunk } from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';

/** GetResponse | PmidNode => | DataManager: answer the waiting clients, or ask the next holder. */
export const getResponse = handles(toDataManager.getResponse, (msg, ctx: HandlerContext<DataManagerState>): Outcome | Promise<Outcome> => {
  const { name, copy, content } = msg.payload;
  const key = copyKey(name, copy);
  const pending = ctx.state.pendingGets.get(key);
  if (pending === undefined || !nameEquals(pending.current, msg.sender)) {
    return continueRepair(ctx, msg.sender, msg.payload).then((repair) => {
      const send = [...repair, ...continueCheck(ctx, msg.sender, msg.payload)];
      return send.length > 0 ? { send } : NOTHING;
    });
  }
  if (carriesChunk(msg.payload)) {
    ctx.state.pendingGets.delete(key);
    ctx.cache.insert(name, content);
    const answer = replyOk(getReplyCodec.encode({ content }));
    return { send: pending.waiting.map((origin) => answerClient(origin, answer)) };
  }
  const next = pending.remaining.shift();
  if (next !== undefined) {
    pending.current = next;
    pending.sentAt = ctx.now();
    return { send: [askHolder(next, name)] };
  }
  ctx.state.pendingGets.delete(key);
  const failure = replyError(new NotFoundError('no holder could return the chunk'));
  return { send: pending.waiting.map((origin) => answerClient(origin, failure)) };
});
