import { MPID_LIMITS, mpidName } from '@safe/chunks';
import { InvalidNameError, nameEquals, PermissionDeniedError, SafeError } from '@safe/core';
import type { HeldMessage, MpidAccount } from './messages.js';

/** A message as it travels, checked: a sender whose name matches its text, an id and a body within bounds. */
export function checkHeldMessage(message: HeldMessage | null | undefined): HeldMessage {
  if (message == null) throw new InvalidNameError('a Message without its message');
  if (!nameEquals(mpidName(message.from), message.sender)) throw new InvalidNameError("the message's sender name does not match its text");
  checkMessageId(message.id);
  checkBody(message.body.length);
  return message;
}

export function checkMessageId(id: Uint8Array): void {
  if (id.length === 0 || id.length > MPID_LIMITS.idBytes)
    throw new InvalidNameError(`a message id is 1 to ${MPID_LIMITS.idBytes} bytes, got ${id.length}`);
}

export function checkBody(bytes: number): void {
  if (bytes > MPID_LIMITS.bodyBytes) {
    throw new SafeError('resource-exhausted', `a message body is at most ${MPID_LIMITS.bodyBytes} bytes, this one is ${bytes}`);
  }
}

/** The recipient's lists: a non-empty allow list admits only its names; the block list refuses its names. */
export function checkAdmitted(recipient: MpidAccount, from: string): void {
  const allowed = recipient.white.length === 0 || recipient.white.includes(from);
  if (!allowed || recipient.black.includes(from)) {
    throw new PermissionDeniedError(`${recipient.name} does not accept messages from ${from}`);
  }
}

/** What one public id may hold while its node is offline (README): past it the sender is refused. */
export function checkRoom(recipient: MpidAccount, held: { count: number; bytes: number }, body: number): void {
  if (held.count + 1 > MPID_LIMITS.heldMessages || held.bytes + body > MPID_LIMITS.heldBytes) {
    throw new SafeError(
      'resource-exhausted',
      `${recipient.name} holds ${held.count} messages (${held.bytes} bytes) while offline; a public id holds at most ${MPID_LIMITS.heldMessages} messages and ${MPID_LIMITS.heldBytes} bytes`,
    );
  }
}
