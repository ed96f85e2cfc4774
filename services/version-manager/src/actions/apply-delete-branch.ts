import { fromWireVersion } from '@safe/chunks';
import { action, type Payload } from '@safe/core';
import { agreedMutation, answerOwner, type Decision, refusal, versionsOk } from '../answers.js';
import { applyDeleteBranchCodec, type DeleteBranchTillFork } from '../messages.js';
import { UnknownSdvError } from '../requests.js';
import { compareVersions, deleteBranchUntilFork, tipsOf } from '../sdv.js';
import type { VersionManagerState } from '../state.js';
import type { StoredSdv } from '../store.js';

type Params = Payload<typeof applyDeleteBranchCodec>;

/** The rules' decision on a DeleteBranchTillFork: the branch erased, answered with the tips left. */
function decide(request: DeleteBranchTillFork, current: StoredSdv | undefined): Decision {
  try {
    if (current === undefined) throw new UnknownSdvError();
    const sdv = deleteBranchUntilFork(current.sdv, fromWireVersion(request.tip, 'tip'));
    return { next: { ...current, sdv }, result: versionsOk(tipsOf(sdv)) };
  } catch (error) {
    return { result: refusal(error) };
  }
}

const { requestOf, apply } = agreedMutation('ApplyDeleteBranchTillFork', decide);

/** Agreed: the branch from the tip until its fork is erased; the answer lists the tips left. */
export const applyDeleteBranch = action<Params, VersionManagerState>({
  type: 'ApplyDeleteBranchTillFork',
  // A second root, maxVersions and maxBranches make the outcome depend on the order of the SDV's mutations.
  ordered: true,
  payload: applyDeleteBranchCodec,
  apply,
  // The decision came inside a transferred SDV: the tip gone, the others answered with the tips as
  // they are; the tip still there, they refused, as the rules on it now do. Nothing is written.
  async owed(params, ctx, nae) {
    const request = requestOf(params);
    const current = await ctx.state.store.sdv(nae);
    const tip = fromWireVersion(request.tip, 'tip');
    const erased = current === undefined || !current.sdv.entries.some((e) => compareVersions(e.version, tip) === 0);
    const reply = erased ? versionsOk(current === undefined ? [] : tipsOf(current.sdv)) : decide(request, current).result;
    return { send: [answerOwner(request, params.answers, reply)] };
  },
});
