import { handles, nameEquals, WrongSourceError } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { holderResultCodec } from '../messages.js';

/** PutResponse | PmidManager ->>>> | [Ac, Fw] DataManager [Sy]: a holder stored the copy, or could not. */
export const putResponse = handles(toDataManager.putResponse, (msg) => {
  const { name, copy, pmid, stored, context, size } = msg.payload;
  if (!nameEquals(msg.source.nae, pmid)) throw new WrongSourceError('a PmidManager group answers only for its own PmidNode');
  return {
    actions: [
      { type: 'HolderResult', nae: msg.destination.nae, payload: holderResultCodec.encode({ name, copy, pmid, stored, context, size }) },
    ],
  };
});
