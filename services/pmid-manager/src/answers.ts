import { type ChunkCopy, copyGroupName, type LossReason, type PutContext } from '@safe/chunks';
import { type Name, type Outbound, parseName } from '@safe/core';
import { dataPutResponseCodec, holderLostCodec } from './messages.js';

/** From `pmid`'s PmidManagers ->>>> the DataManager group of the copy. */
function toCopyGroup(pmid: Name, name: Uint8Array, copy: ChunkCopy): Pick<Outbound, 'to' | 'scope' | 'as'> {
  return { to: { persona: 'data-manager', nae: copyGroupName(parseName(name, 'chunk name'), copy) }, scope: 'close-group', as: pmid };
}

/** The DataManager group of the copy learns whether `pmid` stored it. */
export function tellDataManagers(
  pmid: Name,
  name: Uint8Array,
  copy: ChunkCopy,
  stored: boolean,
  error: string,
  context: PutContext | null | undefined,
  size: number,
): Outbound {
  return {
    type: 'PutResponse',
    ...toCopyGroup(pmid, name, copy),
    payload: dataPutResponseCodec.encode({ name, copy, pmid, stored, error, context, size }),
  };
}

/**
 * HolderLost ->>>> the copy's DataManagers: `pmid` no longer has it, and why. Its correlation is
 * the node's report, so every member sends the same message whichever way it came to send it
 * (the loss agreed after the store, or before it: actions/record-stored.ts).
 */
export function tellHolderLost(
  pmid: Name,
  name: Uint8Array,
  copy: ChunkCopy,
  reason: LossReason,
  report: Uint8Array | undefined,
): Outbound {
  return {
    type: 'HolderLost',
    ...toCopyGroup(pmid, name, copy),
    ...(report !== undefined && report.length > 0 ? { correlation: report } : {}),
    payload: holderLostCodec.encode({ name, copy, pmid, reason }),
  };
}
