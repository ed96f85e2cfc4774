import { fromWireVersion } from '@safe/chunks';
import { message } from '@safe/core';
import { applyDeleteBranchCodec, type DeleteBranchTillFork, deleteBranchCodec } from '../messages.js';
import { checkMutation } from '../requests.js';
import type { VersionManagerState } from '../state.js';

/** DeleteBranchTillFork | MaidManager =>>>> | [Ac, Fw, Sy, Uf] VersionManager: applied once agreed, as PutVersion. */
export const deleteBranchTillFork = message<DeleteBranchTillFork, VersionManagerState>({
  type: 'DeleteBranchTillFork',
  from: ['maid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: deleteBranchCodec,
  handle(msg) {
    const nae = checkMutation(msg);
    fromWireVersion(msg.payload.tip, 'tip');
    return {
      actions: [
        { type: 'ApplyDeleteBranchTillFork', nae, payload: applyDeleteBranchCodec.encode({ request: msg.payload, answers: msg.id }) },
      ],
    };
  },
});
