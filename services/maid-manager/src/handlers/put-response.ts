import { copyGroupName } from '@safe/chunks';
import { handles, nameEquals, parseName, WrongSourceError } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { recordPutCodec } from '../messages.js';

/** PutResponse | DataManager ->>>> | [Ac, Fw] MaidManager [Sy]: a copy group stored the chunk (with its cost), or failed. */
export const putResponse = handles(toMaidManager.putResponse, (msg) => {
  const { name, copy, client, origin, stored, error, cost, exists } = msg.payload;
  if (!nameEquals(msg.source.nae, copyGroupName(parseName(name, 'chunk name'), copy))) {
    throw new WrongSourceError('a DataManager group answers only for its own copy group');
  }
  const payload = recordPutCodec.encode({ client, name, copy, cost, stored, error, origin, exists });
  return { actions: [{ type: 'RecordPut', nae: msg.destination.nae, payload }] };
});
