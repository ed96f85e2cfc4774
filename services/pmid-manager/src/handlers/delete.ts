import { message } from '@safe/core';
import { type ChunkRef, deleteCodec, recordDeletedCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** Delete<Data> | DataManager ->>>> | [Ac, Fw] PmidManager [Sy] -> PmidNode. */
export const del = message<ChunkRef, PmidManagerState>({
  type: 'Delete',
  from: ['data-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: deleteCodec,
  handle(msg) {
    const pmid = msg.destination.nae;
    return { actions: [{ type: 'RecordDeleted', nae: pmid, payload: recordDeletedCodec.encode({ pmid, ...msg.payload, lost: false }) }] };
  },
});
