import type { ChunkCopy } from '@safe/chunks';
import { action, type Name } from '@safe/core';
import { nodeDeleteCodec, recordDeletedCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** Agreed: the chunk leaves the node's account, and the node deletes it. */
export const recordDeleted = action<{ pmid: Uint8Array; name: Uint8Array; copy: ChunkCopy }, PmidManagerState>({
  type: 'RecordDeleted',
  payload: recordDeletedCodec,
  async apply({ pmid, name, copy }, ctx) {
    await ctx.state.store.removeChunk(pmid, name, copy, false);
    return {
      send: [{ type: 'Delete', to: { persona: 'pmid-node', nae: pmid as Name }, scope: 'node', payload: nodeDeleteCodec.encode({ name, copy }) }],
    };
  },
});
