import { copyGroupName } from '@safe/chunks';
import { InvalidNameError, message, nameEquals, parseName } from '@safe/core';
import { type ChunkRef, deleteCodec, removeSubscriberCodec } from '../messages.js';
import type { DataManagerState } from '../state.js';

/** Delete<Data> | MaidManager ->>>> | [Ac, Fw] DataManager [So, Sy]: one subscriber fewer. */
export const del = message<ChunkRef, DataManagerState>({
  type: 'Delete',
  from: ['maid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: deleteCodec,
  handle(msg) {
    const name = parseName(msg.payload.name, 'chunk name');
    if (!nameEquals(msg.destination.nae, copyGroupName(name, msg.payload.copy))) {
      throw new InvalidNameError('a Delete goes to the copy group of the chunk');
    }
    return { actions: [{ type: 'RemoveSubscriber', nae: msg.destination.nae, payload: removeSubscriberCodec.encode(msg.payload) }] };
  },
});
