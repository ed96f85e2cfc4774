import { copyGroupName } from '@safe/chunks';
import { handles, InvalidNameError, nameEquals, parseName } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { removeSubscriberCodec } from '../messages.js';

/** Delete<Data> | MaidManager ->>>> | [Ac, Fw] DataManager [So, Sy]: one subscriber fewer. */
export const del = handles(toDataManager.delete, (msg) => {
  const name = parseName(msg.payload.name, 'chunk name');
  if (!nameEquals(msg.destination.nae, copyGroupName(name, msg.payload.copy))) {
    throw new InvalidNameError('a Delete goes to the copy group of the chunk');
  }
  return { actions: [{ type: 'RemoveSubscriber', nae: msg.destination.nae, payload: removeSubscriberCodec.encode(msg.payload) }] };
});
