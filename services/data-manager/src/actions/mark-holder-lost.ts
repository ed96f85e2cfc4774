import type { LossReason } from '@safe/chunks';
import { action, protoCodec } from '@safe/core';
import { repairDeparted } from '../churn/repair.js';
import type { HolderLost } from '../messages.js';
import { copyKey, type DataManagerState } from '../state.js';
import { moveFarmingRate } from './holder-result.js';

/** HolderLost with why the holder lost the copy (LOST when an older sender leaves it out). */
export type HolderLoss = HolderLost & { reason?: LossReason };
export const holderLossCodec = protoCodec<HolderLoss>('safe.v1.data_manager.HolderLost');

/**
 * Agreed: the holder no longer has the copy. It stays in the record as failed (store.ts
 * markHolderLost), so it is no live holder and not chosen for this copy again; the copy joins
 * those waiting for re-replication (churn/repair.ts), which stores it again on the next
 * deterministic PmidNode if it is now below its count. A holder the record does not list, or
 * lists as failed already, changes nothing.
 *
 * A sacrificial copy deleted to make room for a must-store one (SPEC.md 3.3) moves the farming
 * rate by 'deleted' and is not re-stored at once: room is short right now, so it waits for the
 * repair retry (onTick), which stores it again as room returns (and counts 'stored' then).
 */
export const markHolderLost = action<HolderLoss, DataManagerState>({
  type: 'MarkHolderLost',
  payload: holderLossCodec,
  async apply({ name, copy, pmid, reason }, ctx) {
    const held = await ctx.state.store.markHolderLost(name, copy, pmid);
    if (held === undefined) return undefined;
    ctx.state.lostCopies.set(copyKey(held.name, held.copy), held);
    if (reason === 'DELETED_FOR_ROOM') {
      await moveFarmingRate(ctx, 'deleted');
      return undefined;
    }
    return { send: await repairDeparted(ctx) };
  },
});
