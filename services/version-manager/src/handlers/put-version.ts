import { handles } from '@safe/core';
import { toVersionManager } from '@safe/messages';
import { applyPutVersionCodec } from '../messages.js';
import { checkMutation, putVersionArguments } from '../requests.js';

/**
 * PutVersion | MaidManager =>>>> | [Ac, Fw, Sy, Uf] VersionManager. Nothing is decided here: the
 * SDV rules run once the group agreed the request (ApplyPutVersion), so every member decides it
 * on the same state and the answer is final.
 */
export const putVersion = handles(toVersionManager.putVersion, (msg) => {
  const nae = checkMutation(msg);
  putVersionArguments(msg.payload);
  return { actions: [{ type: 'ApplyPutVersion', nae, payload: applyPutVersionCodec.encode({ request: msg.payload, answers: msg.id }) }] };
});
