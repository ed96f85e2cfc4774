import { copyGroupName } from '@safe/chunks';
import { action, type Name, parseName } from '@safe/core';
import { holderLostCodec, type RecordLost, recordLostCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/**
 * Agreed: the node no longer has the copy. It leaves the account, and the copy group's
 * DataManagers learn that this holder is gone and why (HolderLost), so they re-replicate. A lost
 * or corrupt copy goes into the node's lost total (its rank falls); a sacrificial copy deleted for
 * room does not: the network's rule made the node give it up, not the node's failing.
 */
export const recordLost = action<RecordLost, PmidManagerState>({
  type: 'RecordLost',
  payload: recordLostCodec,
  async apply({ pmid, name, copy, reason }, ctx) {
    if (!(await ctx.state.store.removeChunk(pmid, name, copy, reason !== 'DELETED_FOR_ROOM'))) return undefined;
    return {
      send: [
        {
          type: 'HolderLost',
          to: { persona: 'data-manager', nae: copyGroupName(parseName(name, 'chunk name'), copy) },
          scope: 'close-group',
          as: pmid as Name,
          payload: holderLostCodec.encode({ name, copy, pmid, reason }),
        },
      ],
    };
  },
});
