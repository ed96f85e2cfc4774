import { toWireVersion, type VersionName } from '@safe/chunks';
import {
  type ClientReplyValue,
  type HandlerContext,
  MalformedPayloadError,
  type Name,
  type Outbound,
  type Outcome,
  replyError,
  replyOk,
  SafeError,
} from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { type DeleteBranchTillFork, type PutVersion, send, versionsReplyCodec } from './messages.js';
import type { VersionManagerState } from './state.js';
import type { StoredSdv } from './store.js';

/**
 * The group's final answer to a mutation, to the owner's MaidManagers, who pass it on to the
 * client. It answers the VersionManager's request (`answers`, Uf): a repeat gets it from the firewall.
 */
export function answerOwner(request: PutVersion | DeleteBranchTillFork, answers: Uint8Array, reply: ClientReplyValue): Outbound {
  const { dataName, type, origin } = request;
  return send(
    toMaidManager.versionResult,
    { nae: request.owner as Name, scope: 'close-group', correlation: answers, answers },
    { dataName, type, origin, reply },
  );
}

export const versionsOk = (versions: readonly VersionName[]): ClientReplyValue =>
  replyOk(versionsReplyCodec.encode({ versions: versions.map(toWireVersion) }));

/** A rule of the SDV that said no becomes the answer; anything else is a fault of this replica. */
export function refusal(error: unknown): ClientReplyValue {
  if (error instanceof SafeError && error.kind !== 'internal') return replyError(error);
  throw error;
}

/** The rules' decision on a mutation, on this member's copy: what to write (none: refused) and the answer. */
export type Decision = { next?: StoredSdv; result: ClientReplyValue };
type Request = PutVersion | DeleteBranchTillFork;

/**
 * An agreed mutation's request (refused when missing), and its apply: the rules decide on this
 * member's copy, which every member holds alike, the decision is written, and the group's answer
 * goes to the owner's MaidManagers.
 */
export function agreedMutation<R extends Request>(type: string, decide: (request: R, current: StoredSdv | undefined) => Decision) {
  const requestOf = (params: { request?: R | null }): R => {
    if (params.request == null) throw new MalformedPayloadError(`${type} without its request`);
    return params.request;
  };
  return {
    requestOf,
    async apply(
      params: { request?: R | null; answers: Uint8Array },
      ctx: HandlerContext<VersionManagerState>,
      nae: Name,
    ): Promise<Outcome> {
      const request = requestOf(params);
      const reply = await ctx.state.store.update(nae, (current) => decide(request, current));
      return { send: [answerOwner(request, params.answers, reply)] };
    },
  };
}
