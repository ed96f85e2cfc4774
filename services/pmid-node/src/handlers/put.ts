import { LossReason } from '@safe/chunks';
import { answering, type HandlerContext, handles, SafeError } from '@safe/core';
import { toPmidManager, toPmidNode } from '@safe/messages';
import type { DiskCopy } from '../chunk-store.js';
import { reportLost } from '../lost.js';
import { send } from '../messages.js';
import type { PmidNodeState } from '../state.js';

/**
 * Put<Data> | PmidManager => | [Ac, Fw] PmidNode: store the copy, answer stored or why not. A
 * must-store copy that needed room took it from sacrificial copies (chunk-store.ts); each one
 * deleted is reported, Lost (DELETED_FOR_ROOM) -> its PmidManagers, who tell its DataManagers.
 */
export const put = handles(toPmidNode.put, async (msg, ctx: HandlerContext<PmidNodeState>) => {
  const { name, copy, context } = msg.payload;
  const { content } = msg;
  let error = '';
  let sacrificed: DiskCopy[] = [];
  try {
    sacrificed = await ctx.state.chunks.put(name, copy, content);
    ctx.state.account.stored(name, copy);
  } catch (e) {
    if (!(e instanceof SafeError) || e.kind === 'internal') throw e;
    error = e.message;
  }
  const answer = { name, copy, stored: error === '', error, size: content.length, context };
  const deleted = sacrificed.map((victim) => reportLost(ctx.self, victim, LossReason.DELETED_FOR_ROOM));
  return { send: [send(toPmidManager.putResponse, answering(msg), answer), ...deleted] };
});
