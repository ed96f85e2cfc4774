import { fromWireVersion } from '@safe/chunks';
import { action, type ClientReplyValue, MalformedPayloadError } from '@safe/core';
import { answerOwner, refusal, versionsOk } from '../answers.js';
import { applyDeleteBranchCodec, type DeleteBranchTillFork } from '../messages.js';
import { UnknownSdvError } from '../requests.js';
import { deleteBranchUntilFork, tipsOf } from '../sdv.js';
import type { VersionManagerState } from '../state.js';

/** Agreed: the branch from the tip until its fork is erased; the answer lists the tips left. */
export const applyDeleteBranch = action<{ request: DeleteBranchTillFork | null; answers: Uint8Array }, VersionManagerState>({
  type: 'ApplyDeleteBranchTillFork',
  payload: applyDeleteBranchCodec,
  async apply({ request, answers }, ctx, nae) {
    if (request === null) throw new MalformedPayloadError('ApplyDeleteBranchTillFork without its request');
    const tip = fromWireVersion(request.tip, 'tip');
    const reply = await ctx.state.store.update<ClientReplyValue>(nae, (current) => {
      try {
        if (current === undefined) throw new UnknownSdvError();
        const sdv = deleteBranchUntilFork(current.sdv, tip);
        return { next: { ...current, sdv }, result: versionsOk(tipsOf(sdv)) };
      } catch (error) {
        return { result: refusal(error) };
      }
    });
    return { send: [answerOwner(request, answers, reply)] };
  },
});
