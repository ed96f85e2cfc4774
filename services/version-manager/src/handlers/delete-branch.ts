import { fromWireVersion } from '@safe/chunks';
import { handles } from '@safe/core';
import { toVersionManager } from '@safe/messages';
import { applyDeleteBranchCodec } from '../messages.js';
import { checkMutation } from '../requests.js';

/** DeleteBranchTillFork | MaidManager =>>>> | [Ac, Fw, Sy, Uf] VersionManager: applied once agreed, as PutVersion. */
export const deleteBranchTillFork = handles(toVersionManager.deleteBranchTillFork, (msg) => {
  const nae = checkMutation(msg);
  fromWireVersion(msg.payload.tip, 'tip');
  return {
    actions: [
      { type: 'ApplyDeleteBranchTillFork', nae, payload: applyDeleteBranchCodec.encode({ request: msg.payload, answers: msg.id }) },
    ],
  };
});
