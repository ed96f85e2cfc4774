import { type ChunkCopy, copyGroupName, type LossReason, type PutContext } from '@safe/chunks';
import { type Destination, type Name, type Outbound, parseName } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { send } from './messages.js';

/** From `pmid`'s PmidManagers ->>>> the DataManager group of the copy. */
function toCopyGroup(pmid: Name, name: Uint8Array, copy: ChunkCopy): Destination {
  return { nae: copyGroupName(parseName(name, 'chunk name'), copy), scope: 'close-group', as: pmid };
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
  return send(toDataManager.putResponse, toCopyGroup(pmid, name, copy), { name, copy, pmid, stored, error, context, size });
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
  const correlation = report !== undefined && report.length > 0 ? { correlation: report } : {};
  return send(toDataManager.holderLost, { ...toCopyGroup(pmid, name, copy), ...correlation }, { name, copy, pmid, reason });
}
