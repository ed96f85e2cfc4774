import { type HandlerContext, handles, NOTHING, parseName } from '@safe/core';
import { toPmidNode } from '@safe/messages';
import type { PmidNodeState } from '../state.js';

/** Delete<Data> | PmidManager -> | [Ac, Fw] PmidNode. */
export const del = handles(toPmidNode.delete, async (msg, ctx: HandlerContext<PmidNodeState>) => {
  await ctx.state.chunks.delete(parseName(msg.payload.name, 'chunk name'), msg.payload.copy);
  return NOTHING;
});
