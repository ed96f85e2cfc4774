import {
  action,
  type ChurnEvent,
  type Codec,
  type HandlerContext,
  MalformedPayloadError,
  NAME_BYTES,
  type Name,
  NOTHING,
  nameFromHex,
  type Outbound,
  type Outcome,
  toHex,
} from '@safe/core';
import { abandonRepairsVia, repairDeparted } from '../churn/repair.js';
import { startIntegrityChecks } from '../integrity/check.js';
import type { DataManagerState } from '../state.js';
import type { HeldCopy } from '../store.js';

/** PmidNodes that left and came back in one matrix change of the PmidNodes' XOR space. */
export interface PmidChurn {
  readonly departed: readonly Name[];
  readonly returned: readonly Name[];
}

/** Local action (never synced, never on the wire between nodes): a count, then the names back to back. */
export const pmidChurnCodec: Codec<PmidChurn> = {
  typeName: 'data_manager.PmidChurn',
  encode({ departed, returned }) {
    const out = new Uint8Array(4 + (departed.length + returned.length) * NAME_BYTES);
    new DataView(out.buffer).setUint32(0, departed.length);
    for (const [i, name] of [...departed, ...returned].entries()) out.set(name, 4 + i * NAME_BYTES);
    return out;
  },
  decode(bytes) {
    const count = (bytes.length - 4) / NAME_BYTES;
    const departedCount = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) : -1;
    if (!Number.isInteger(count) || departedCount < 0 || departedCount > count)
      throw new MalformedPayloadError('a PmidChurn is a count and whole names');
    const names = Array.from({ length: count }, (_, i) => bytes.slice(4 + i * NAME_BYTES, 4 + (i + 1) * NAME_BYTES) as Name);
    return { departed: names.slice(0, departedCount), returned: names.slice(departedCount) };
  },
};

/**
 * Every member applies this itself from the matrix change it sees (the online state of PmidNodes
 * is the routing view, SPEC.md 3.3): a departed holder stays in its records (it keeps its chunks)
 * but drops to the bottom of each list, so it is the first trimmed; a returning one goes to the
 * top. Then the copies left below their count are stored again (churn/repair.ts).
 */
export const pmidChurn = action<PmidChurn, DataManagerState>({
  type: 'PmidChurn',
  payload: pmidChurnCodec,
  async apply({ departed, returned }, ctx) {
    const { store } = ctx.state;
    const fresh = new Map<string, HeldCopy[]>();
    for (const pmid of [...departed].sort(Buffer.compare)) {
      fresh.set(toHex(pmid), await store.moveHolderToBottom(pmid));
      ctx.state.departed.add(toHex(pmid));
    }
    for (const pmid of [...returned].sort(Buffer.compare)) {
      await store.moveHolderToTop(pmid);
      ctx.state.departed.delete(toHex(pmid));
    }
    abandonRepairsVia(ctx, departed);
    // The remaining holders of a departed one's copies are what re-replication reads from: they get
    // an integrity check. (A returning PmidNode's own disk is checked by its PmidManagers' SendAccount.)
    const checks: Outbound[] = [];
    for (const [pmid, copies] of fresh) checks.push(...(await startIntegrityChecks(ctx, copies, nameFromHex(pmid))));
    return { send: [...(await repairDeparted(ctx, fresh)), ...checks] };
  },
});

/** onChurn: a matrix change among the PmidNodes becomes this replica's PmidChurn; other personas' churn is not the DataManager's concern here. */
export function onPmidChurn({ persona, change }: ChurnEvent, ctx: HandlerContext<DataManagerState>): Outcome {
  if (persona !== 'pmid-node') return NOTHING;
  return {
    actions: [
      { type: pmidChurn.type, nae: ctx.self, payload: pmidChurnCodec.encode({ departed: change.removed, returned: change.added }) },
    ],
  };
}
