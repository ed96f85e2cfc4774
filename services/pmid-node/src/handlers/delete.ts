import { message, NOTHING, parseName } from '@safe/core';
import { type ChunkRef, deleteCodec } from '../messages.js';
import type { PmidNodeState } from '../state.js';

/** Delete<Data> | PmidManager -> | [Ac, Fw] PmidNode. */
export const del = message<ChunkRef, PmidNodeState>({
  type: 'Delete',
  from: ['pmid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: false,
  payload: deleteCodec,
  async handle(msg, ctx) {
    await ctx.state.chunks.delete(parseName(msg.payload.name, 'chunk name'), msg.payload.copy);
    return NOTHING;
  },
});
