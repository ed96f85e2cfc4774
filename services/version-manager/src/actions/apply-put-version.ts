import { action, type ClientReplyValue, MalformedPayloadError } from '@safe/core';
import { answerOwner, refusal, versionsOk } from '../answers.js';
import { applyPutVersionCodec, type PutVersion } from '../messages.js';
import { putVersionArguments } from '../requests.js';
import { emptySdv, putVersion } from '../sdv.js';
import type { VersionManagerState } from '../state.js';

/**
 * Agreed: the SDV rules decide the PutVersion on this member's copy, which every member holds
 * alike. A new SDV takes the limits the request names; an existing one keeps its own.
 */
export const applyPutVersion = action<{ request: PutVersion | null; answers: Uint8Array }, VersionManagerState>({
  type: 'ApplyPutVersion',
  payload: applyPutVersionCodec,
  async apply({ request, answers }, ctx, nae) {
    if (request === null) throw new MalformedPayloadError('ApplyPutVersion without its request');
    const { old, next, maxVersions, maxBranches } = putVersionArguments(request);
    const reply = await ctx.state.store.update<ClientReplyValue>(nae, (current) => {
      const stored = current ?? {
        dataName: request.dataName as typeof nae,
        type: request.type,
        owner: request.owner as typeof nae,
        sdv: emptySdv(maxVersions, maxBranches),
      };
      try {
        return { next: { ...stored, sdv: putVersion(stored.sdv, old, next).sdv }, result: versionsOk([next]) };
      } catch (error) {
        return { result: refusal(error) };
      }
    });
    return { send: [answerOwner(request, answers, reply)] };
  },
});
