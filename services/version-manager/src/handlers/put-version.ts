import { message } from '@safe/core';
import { applyPutVersionCodec, type PutVersion, putVersionCodec } from '../messages.js';
import { checkMutation, putVersionArguments } from '../requests.js';
import type { VersionManagerState } from '../state.js';

/**
 * PutVersion | MaidManager =>>>> | [Ac, Fw, Sy, Uf] VersionManager. Nothing is decided here: the
 * SDV rules run once the group agreed the request (ApplyPutVersion), so every member decides it
 * on the same state and the answer is final.
 */
export const putVersion = message<PutVersion, VersionManagerState>({
  type: 'PutVersion',
  from: ['maid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: putVersionCodec,
  handle(msg) {
    const nae = checkMutation(msg);
    putVersionArguments(msg.payload);
    return { actions: [{ type: 'ApplyPutVersion', nae, payload: applyPutVersionCodec.encode({ request: msg.payload, answers: msg.id }) }] };
  },
});
