import { action, type Name, type Payload } from '@safe/core';
import { agreedMutation, answerOwner, type Decision, refusal, versionsOk } from '../answers.js';
import { applyPutVersionCodec, type PutVersion } from '../messages.js';
import { putVersionArguments } from '../requests.js';
import { emptySdv, putVersion } from '../sdv.js';
import type { VersionManagerState } from '../state.js';
import type { StoredSdv } from '../store.js';

type Params = Payload<typeof applyPutVersionCodec>;

/**
 * The SDV rules' decision on a PutVersion, on `current` (this member's copy, which every member
 * holds alike). A new SDV takes the limits the request names; an existing one keeps its own.
 */
function decide(request: PutVersion, current: StoredSdv | undefined): Decision {
  const { old, next, maxVersions, maxBranches } = putVersionArguments(request);
  const stored = current ?? {
    dataName: request.dataName as Name,
    type: request.type,
    owner: request.owner as Name,
    sdv: emptySdv(maxVersions, maxBranches),
  };
  try {
    return { next: { ...stored, sdv: putVersion(stored.sdv, old, next).sdv }, result: versionsOk([next]) };
  } catch (error) {
    return { result: refusal(error) };
  }
}

const { requestOf, apply } = agreedMutation('ApplyPutVersion', decide);

/** Agreed: the rules decide the PutVersion; the group's answer goes to the owner's MaidManagers. */
export const applyPutVersion = action<Params, VersionManagerState>({
  type: 'ApplyPutVersion',
  // A second root, maxVersions and maxBranches make the outcome depend on the order of the SDV's mutations.
  ordered: true,
  payload: applyPutVersionCodec,
  apply,
  // The version came inside a transferred SDV: the rules on it now give the answer the others gave
  // (a Put applied is a repeat now, which answers OK), and nothing is written.
  async owed(params, ctx, nae) {
    const request = requestOf(params);
    return { send: [answerOwner(request, params.answers, decide(request, await ctx.state.store.sdv(nae)).result)] };
  },
});
