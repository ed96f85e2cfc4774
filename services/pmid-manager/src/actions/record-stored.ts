import { LossReason } from '@safe/chunks';
import { action, type Name } from '@safe/core';
import { tellDataManagers, tellHolderLost } from '../answers.js';
import { type RecordStored, recordStoredCodec } from '../messages.js';
import { lossKey, type PmidManagerState, takeLostBeforeStored } from '../state.js';

/**
 * Agreed: the node holds the chunk; add it to the node's account and tell the DataManagers.
 *
 * A sacrificial copy the node already reported deleted for room (its loss agreed first:
 * actions/record-lost.ts) never enters the account; the DataManagers hear both that the node
 * stored it and that it gave it up, as when the loss comes second.
 */
export const recordStored = action<RecordStored, PmidManagerState>({
  type: 'RecordStored',
  payload: recordStoredCodec,
  async apply({ pmid, name, copy, size, context }, ctx) {
    const stored = tellDataManagers(pmid as Name, name, copy, true, '', context, size);
    const report = takeLostBeforeStored(ctx.state, lossKey(pmid, name, copy), ctx.now() - ctx.params.accumulatorMemoryMs);
    if (report !== undefined) return { send: [stored, tellHolderLost(pmid as Name, name, copy, LossReason.DELETED_FOR_ROOM, report)] };
    await ctx.state.store.recordStored(pmid, name, copy, size);
    return { send: [stored] };
  },
});
