import { copyGroupName } from '@safe/chunks';
import { action, type Name, parseName } from '@safe/core';
import { holderLostCodec, type RecordLost, recordLostCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/**
 * Agreed: the node lost the copy. It leaves the account into the lost total (its rank falls), and
 * the copy group's DataManagers learn that this holder is gone (HolderLost), so they re-replicate.
 */
export const recordLost = action<RecordLost, PmidManagerState>({
  type: 'RecordLost',
  payload: recordLostCodec,
  async apply({ pmid, name, copy }, ctx) {
    if (!(await ctx.state.store.removeChunk(pmid, name, copy, true))) return undefined;
    return {
      send: [
        {
          type: 'HolderLost',
          to: { persona: 'data-manager', nae: copyGroupName(parseName(name, 'chunk name'), copy) },
          scope: 'close-group',
          as: pmid as Name,
          payload: holderLostCodec.encode({ name, copy, pmid }),
        },
      ],
    };
  },
});
