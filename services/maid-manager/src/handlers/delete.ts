import { toWireOrigin } from '@safe/chunks';
import { message, originOf, parseName } from '@safe/core';
import { deleteRequestCodec, recordDeleteCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** Delete<Data> | MaidNode =>>>> | [Ac, Fw] MaidManager [So, Sy] ->>>> DataManager. Always answers success. */
export const del = message<{ name: Uint8Array; nonce: Uint8Array }, MaidManagerState>({
  type: 'Delete',
  from: ['client'],
  toOwnName: true,
  accumulate: 'single',
  firewall: true,
  sync: true,
  payload: deleteRequestCodec,
  handle(msg) {
    const name = parseName(msg.payload.name, 'chunk name');
    const origin = originOf(msg);
    const payload = recordDeleteCodec.encode({ client: msg.sender, name, origin: origin ? toWireOrigin(origin) : null });
    return { actions: [{ type: 'RecordDelete', nae: msg.sender, payload }] };
  },
});
