import { toWireOrigin } from '@safe/chunks';
import { handles, originOf } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { createAccountActionCodec } from '../messages.js';

/**
 * An anonymous account packet creates the client's account (SPEC.md 3.2). Creating an account
 * that exists answers with it: the outcome is the same whichever member applied the group's
 * agreement first, and a client may safely repeat it.
 */
export const createAccount = handles(toMaidManager.createAccount, (msg) => {
  const origin = originOf(msg);
  const payload = createAccountActionCodec.encode({
    client: msg.sender,
    publicKey: new Uint8Array(0),
    origin: origin ? toWireOrigin(origin) : null,
  });
  return { actions: [{ type: 'CreateAccount', nae: msg.sender, payload }] };
});
