import { toWireOrigin } from '@safe/chunks';
import { handles, originOf, parseName } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { recordDeleteCodec } from '../messages.js';

/** Delete<Data> | MaidNode =>>>> | [Ac, Fw] MaidManager [So, Sy] ->>>> DataManager. Always answers success. */
export const del = handles(toMaidManager.delete, (msg) => {
  const name = parseName(msg.payload.name, 'chunk name');
  const origin = originOf(msg);
  const payload = recordDeleteCodec.encode({ client: msg.sender, name, origin: origin ? toWireOrigin(origin) : null });
  return { actions: [{ type: 'RecordDelete', nae: msg.sender, payload }] };
});
