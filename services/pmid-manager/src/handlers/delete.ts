import { handles } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { recordDeletedCodec } from '../messages.js';

/** Delete<Data> | DataManager ->>>> | [Ac, Fw] PmidManager [Sy] -> PmidNode. */
export const del = handles(toPmidManager.delete, (msg) => {
  const pmid = msg.destination.nae;
  return { actions: [{ type: 'RecordDeleted', nae: pmid, payload: recordDeletedCodec.encode({ pmid, ...msg.payload, lost: false }) }] };
});
