import { handles } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { recordDeletedCodec } from '../messages.js';

/** Lose<Data> | DataManager ->>>> | [Ac, Fw] PmidManager [Sy] -> PmidNode: delete it there, count it as lost. */
export const lose = handles(toPmidManager.lose, (msg) => {
  const pmid = msg.destination.nae;
  return { actions: [{ type: 'RecordDeleted', nae: pmid, payload: recordDeletedCodec.encode({ pmid, ...msg.payload, lost: true }) }] };
});
