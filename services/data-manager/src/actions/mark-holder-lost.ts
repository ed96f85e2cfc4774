import { action } from '@safe/core';
import { repairDeparted } from '../churn/repair.js';
import { type HolderLost, holderCorruptCodec } from '../messages.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * Agreed: the holder no longer has the copy. It stays in the record as failed (store.ts
 * markHolderLost), so it is no live holder and not chosen for this copy again; the copy joins
 * those waiting for re-replication (churn/repair.ts), which stores it again on the next
 * deterministic PmidNode if it is now below its count. A holder the record does not list, or
 * lists as failed already, changes nothing.
 */
export const markHolderLost = action<HolderLost, DataManagerState>({
  type: 'MarkHolderLost',
  payload: holderCorruptCodec,
  async apply({ name, copy, pmid }, ctx) {
    const held = await ctx.state.store.markHolderLost(name, copy, pmid);
    if (held === undefined) return undefined;
    ctx.state.lostCopies.set(copyKey(held.name, held.copy), held);
    return { send: await repairDeparted(ctx) };
  },
});
