import { LossReason } from '@safe/chunks';
import { action, type Name } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { type HolderLoss, holderLossCodec, send } from '../messages.js';
import type { DataManagerState } from '../state.js';
import { markHolderLost } from './mark-holder-lost.js';

/**
 * Agreed: a holder failed an integrity check. The record treats it as a holder that lost its copy
 * (MarkHolderLost: failed, at the bottom, the copy re-replicated if short), and its PmidManagers
 * get Lose: they delete the copy on the node and add it to the node's lost total. A holder the
 * record does not list, or lists as failed already, changes nothing.
 */
export const loseHolder = action<HolderLoss, DataManagerState>({
  type: 'LoseHolder',
  payload: holderLossCodec,
  async apply(params, ctx, nae) {
    const marked = await markHolderLost.apply({ ...params, reason: LossReason.CORRUPT }, ctx, nae);
    if (marked === undefined) return undefined;
    const { name, copy, pmid } = params;
    return {
      send: [send(toPmidManager.lose, { nae: pmid as Name, scope: 'close-group' }, { name, copy }), ...(marked.send ?? [])],
    };
  },
});
