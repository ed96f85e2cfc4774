import { action, type Name } from '@safe/core';
import { toPmidNode } from '@safe/messages';
import { type RecordDeleted, recordDeletedCodec, send } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** Agreed: the chunk leaves the node's account (into its lost total for a Lose), and the node deletes it. */
export const recordDeleted = action<RecordDeleted, PmidManagerState>({
  type: 'RecordDeleted',
  payload: recordDeletedCodec,
  async apply({ pmid, name, copy, lost }, ctx) {
    await ctx.state.store.removeChunk(pmid, name, copy, lost);
    return {
      send: [send(toPmidNode.delete, { nae: pmid as Name, scope: 'node' }, { name, copy })],
    };
  },
});
