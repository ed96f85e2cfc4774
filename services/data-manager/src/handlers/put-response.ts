import { message, nameEquals, WrongSourceError } from '@safe/core';
import { type HolderAnswer, holderResultCodec, putResponseCodec } from '../messages.js';
import type { DataManagerState } from '../state.js';

/** PutResponse | PmidManager ->>>> | [Ac, Fw] DataManager [Sy]: a holder stored the copy, or could not. */
export const putResponse = message<HolderAnswer, DataManagerState>({
  type: 'PutResponse',
  from: ['pmid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: putResponseCodec,
  handle(msg) {
    const { name, copy, pmid, stored, context, size } = msg.payload;
    if (!nameEquals(msg.source.nae, pmid)) throw new WrongSourceError('a PmidManager group answers only for its own PmidNode');
    return {
      actions: [
        { type: 'HolderResult', nae: msg.destination.nae, payload: holderResultCodec.encode({ name, copy, pmid, stored, context, size }) },
      ],
    };
  },
});
