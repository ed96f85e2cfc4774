import { message } from '@safe/core';
import { type ChunkRef, loseCodec, recordDeletedCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** Lose<Data> | DataManager ->>>> | [Ac, Fw] PmidManager [Sy] -> PmidNode: delete it there, count it as lost. */
export const lose = message<ChunkRef, PmidManagerState>({
  type: 'Lose',
  from: ['data-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: loseCodec,
  handle(msg) {
    const pmid = msg.destination.nae;
    return { actions: [{ type: 'RecordDeleted', nae: pmid, payload: recordDeletedCodec.encode({ pmid, ...msg.payload, lost: true }) }] };
  },
});
