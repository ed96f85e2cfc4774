import { LossReason } from '@safe/chunks';
import { action, type Name } from '@safe/core';
import { tellHolderLost } from '../answers.js';
import { type RecordLost, recordLostCodec } from '../messages.js';
import { lossKey, type PmidManagerState, rememberLostBeforeStored } from '../state.js';

/**
 * Agreed: the node no longer has the copy. It leaves the account, and the copy group's
 * DataManagers learn that this holder is gone and why (HolderLost), so they re-replicate. A lost
 * or corrupt copy goes into the node's lost total (its rank falls); a sacrificial copy deleted for
 * room does not: the network's rule made the node give it up, not the node's failing.
 *
 * A node deletes a sacrificial copy for room as soon as a must-store one needs it, which may be
 * right after it stored the sacrificial one: its report can then be agreed here before the store
 * is (two messages of the node, each synced on its own). Such a loss is remembered, and the
 * RecordStored that follows records nothing and passes the loss on (actions/record-stored.ts).
 */
export const recordLost = action<RecordLost, PmidManagerState>({
  type: 'RecordLost',
  payload: recordLostCodec,
  async apply({ pmid, name, copy, reason, report }, ctx) {
    if (!(await ctx.state.store.removeChunk(pmid, name, copy, reason !== LossReason.DELETED_FOR_ROOM))) {
      if (reason === LossReason.DELETED_FOR_ROOM)
        rememberLostBeforeStored(ctx.state, lossKey(pmid, name, copy), report ?? new Uint8Array(0), ctx.now());
      return undefined;
    }
    return { send: [tellHolderLost(pmid as Name, name, copy, reason, report)] };
  },
});
