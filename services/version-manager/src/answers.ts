import { toWireVersion, type VersionName } from '@safe/chunks';
import { type ClientReplyValue, type Name, type Outbound, replyError, replyOk, SafeError } from '@safe/core';
import { type DeleteBranchTillFork, type PutVersion, versionResultCodec, versionsReplyCodec } from './messages.js';

/**
 * The group's final answer to a mutation, to the owner's MaidManagers, who pass it on to the
 * client. It answers the VersionManager's request (`answers`, Uf): a repeat gets it from the firewall.
 */
export function answerOwner(request: PutVersion | DeleteBranchTillFork, answers: Uint8Array, reply: ClientReplyValue): Outbound {
  return {
    type: 'VersionResult',
    to: { persona: 'maid-manager', nae: request.owner as Name },
    scope: 'close-group',
    payload: versionResultCodec.encode({ dataName: request.dataName, type: request.type, origin: request.origin, reply }),
    correlation: answers,
    answers,
  };
}

export const versionsOk = (versions: readonly VersionName[]): ClientReplyValue =>
  replyOk(versionsReplyCodec.encode({ versions: versions.map(toWireVersion) }));

/** A rule of the SDV that said no becomes the answer; anything else is a fault of this replica. */
export function refusal(error: unknown): ClientReplyValue {
  if (error instanceof SafeError && error.kind !== 'internal') return replyError(error);
  throw error;
}
