import { action, type Name, nameEquals, parseName } from '@safe/core';
import { repairDeparted } from '../churn/repair.js';
import { type ChunkRef, holderCorruptCodec, pmidLoseCodec } from '../messages.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * Agreed: a holder failed an integrity check. It stays in the record as `failed` (not counted as
 * a live holder, never asked for a Get, never chosen again for this copy), its PmidManagers get
 * Lose (they delete the copy on the node and add it to the node's lost total), and the copy is
 * stored again through churn/repair.ts like one whose holder left. A holder the record does not
 * list as a holder in good standing changes nothing.
 */
export const loseHolder = action<ChunkRef & { pmid: Uint8Array }, DataManagerState>({
  type: 'LoseHolder',
  payload: holderCorruptCodec,
  async apply({ name, copy, pmid }, ctx) {
    const { store, config } = ctx.state;
    const chunk = parseName(name, 'chunk name');
    const record = await store.record(chunk, copy);
    if (record === undefined) return undefined;
    const holder = (await store.holders(record.id)).find((h) => nameEquals(h.pmid, pmid as Name));
    if (holder === undefined || holder.state === 'failed') return undefined;
    await store.markHolder(chunk, copy, record.size, pmid, 'failed', config.maxHolders);
    ctx.state.lostCopies.set(copyKey(chunk, copy), { name: chunk, copy, size: record.size });
    return {
      send: [
        {
          type: 'Lose',
          to: { persona: 'pmid-manager', nae: pmid as Name },
          scope: 'close-group',
          payload: pmidLoseCodec.encode({ name, copy }),
        },
        ...(await repairDeparted(ctx)),
      ],
    };
  },
});
