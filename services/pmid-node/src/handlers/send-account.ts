import { LossReason } from '@safe/chunks';
import { type HandlerContext, handles, NOTHING, nameEquals, WrongSourceError } from '@safe/core';
import { toPmidNode } from '@safe/messages';
import { reportLost } from '../lost.js';
import type { PmidNodeState } from '../state.js';

/**
 * SendAccount | PmidManager -> | [Ac, Fw] PmidNode, on its rejoin: the copies it should hold, in
 * batches. Once a round is whole the node deletes what is not listed and reports each listed copy
 * it lacks or holds corrupt: Lost -> its PmidManagers. Only its own PmidManager group speaks for
 * its account (the runtime counts K − 1 copies from that group; this checks the group is its own).
 */
export const sendAccount = handles(toPmidNode.sendAccount, async (msg, ctx: HandlerContext<PmidNodeState>) => {
  if (!nameEquals(msg.source.nae, ctx.self)) throw new WrongSourceError('a SendAccount comes from the PmidManagers of this node');
  const listed = ctx.state.account.add(msg.payload);
  if (listed === undefined) return NOTHING;
  const lost = await ctx.state.account.reconcile(ctx.state.chunks, listed);
  return { send: lost.map((held) => reportLost(ctx.self, held, LossReason.LOST)) };
});
