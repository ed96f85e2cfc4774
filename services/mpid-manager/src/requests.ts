import { fromWireOrigin, toWireOrigin, type WireOrigin } from '@safe/chunks';
import {
  answerClient,
  type ClientReplyValue,
  type Incoming,
  InvalidNameError,
  type Name,
  nameEquals,
  type Outbound,
  originOf,
  PermissionDeniedError,
  parseName,
  RecordMissingError,
  replyError,
  SafeError,
} from '@safe/core';
import type { MpidAccount } from './messages.js';
import type { MpidManagerState } from './state.js';

/**
 * An MPID this replica does not hold. A member that just entered the MPID's close group may still
 * be sent it by account transfer, so the runtime holds such a request for a while before answering this.
 */
export class UnknownMpidError extends RecordMissingError {
  constructor() {
    super('not-found', 'no public id with this name');
  }
}

/**
 * The MPID a client's request names, checked: the request went to its close group, the MPID is
 * registered, and the client sending it owns it (only the owner sends as it, reads or changes its lists).
 */
export async function ownedMpid(
  msg: Incoming<{ mpid: Uint8Array }>,
  state: MpidManagerState,
): Promise<{ nae: Name; account: MpidAccount }> {
  const nae = parseName(msg.payload.mpid, 'public id');
  if (!nameEquals(msg.destination.nae, nae)) throw new InvalidNameError("a request goes to the close group of its public id's name");
  const account = await state.store.account(nae);
  if (account === undefined) throw new UnknownMpidError();
  if (!nameEquals(account.owner as Name, msg.sender))
    throw new PermissionDeniedError(`this account does not own the public id ${account.name}`);
  return { nae, account };
}

/** Where the client's answer goes once the group decided, as it travels in a payload. */
export function wireOriginOf(msg: Incoming<unknown>): WireOrigin | null | undefined {
  const origin = originOf(msg);
  return origin ? toWireOrigin(origin) : null;
}

/** The answer to a client whose origin travelled in a payload (none: nobody is waiting). */
export function answerOrigin(origin: WireOrigin | null | undefined, reply: ClientReplyValue): Outbound[] {
  const to = fromWireOrigin(origin);
  return to === undefined ? [] : [answerClient(to, reply)];
}

/** A rule that said no becomes the answer; anything else is a fault of this replica. */
export function refusal(error: unknown): ClientReplyValue {
  if (error instanceof SafeError && error.kind !== 'internal') return replyError(error);
  throw error;
}
