import { copyGroupName } from '@safe/chunks';
import { message, nameEquals, parseName, WrongSourceError } from '@safe/core';
import { type DataPutResponse, putResponseCodec, recordPutCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** PutResponse | DataManager ->>>> | [Ac, Fw] MaidManager [Sy]: a copy group stored the chunk (with its cost), or failed. */
export const putResponse = message<DataPutResponse, MaidManagerState>({
  type: 'PutResponse',
  from: ['data-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: putResponseCodec,
  handle(msg) {
    const { name, copy, client, origin, stored, error, cost, exists } = msg.payload;
    if (!nameEquals(msg.source.nae, copyGroupName(parseName(name, 'chunk name'), copy))) {
      throw new WrongSourceError('a DataManager group answers only for its own copy group');
    }
    const payload = recordPutCodec.encode({ client, name, copy, cost, stored, error, origin, exists });
    return { actions: [{ type: 'RecordPut', nae: msg.destination.nae, payload }] };
  },
});
