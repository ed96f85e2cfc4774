import type { ChunkCopy, PutContext } from '@safe/chunks';
import { action, type Name } from '@safe/core';
import { tellDataManagers } from '../answers.js';
import { recordStoredCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** Agreed: the node holds the chunk; add it to the node's account and tell the DataManagers. */
export const recordStored = action<
  { pmid: Uint8Array; name: Uint8Array; copy: ChunkCopy; size: number; context: PutContext | null },
  PmidManagerState
>({
  type: 'RecordStored',
  payload: recordStoredCodec,
  async apply({ pmid, name, copy, size, context }, ctx) {
    await ctx.state.store.recordStored(pmid, name, copy, size);
    return { send: [tellDataManagers(pmid as Name, name, copy, true, '', context, size)] };
  },
});
