import { type ChunkCopy, copyGroupName, type PutContext } from '@safe/chunks';
import { type Name, type Outbound, parseName } from '@safe/core';
import { dataPutResponseCodec } from './messages.js';

/** The DataManager group of the copy learns whether `pmid` stored it. */
export function tellDataManagers(
  pmid: Name,
  name: Uint8Array,
  copy: ChunkCopy,
  stored: boolean,
  error: string,
  context: PutContext | null,
  size: number,
): Outbound {
  return {
    type: 'PutResponse',
    to: { persona: 'data-manager', nae: copyGroupName(parseName(name, 'chunk name'), copy) },
    scope: 'close-group',
    as: pmid,
    payload: dataPutResponseCodec.encode({ name, copy, pmid, stored, error, context, size }),
  };
}
