import { toWireOrigin } from '@safe/chunks';
import { message, originOf } from '@safe/core';
import { createAccountActionCodec, createAccountCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/**
 * An anonymous account packet creates the client's account (SPEC.md 3.2). Creating an account
 * that exists answers with it: the outcome is the same whichever member applied the group's
 * agreement first, and a client may safely repeat it.
 */
export const createAccount = message<Record<string, never>, MaidManagerState>({
  type: 'CreateAccount',
  from: ['client'],
  toOwnName: true,
  accumulate: 'single',
  firewall: true,
  sync: true,
  payload: createAccountCodec,
  handle(msg) {
    const origin = originOf(msg);
    const payload = createAccountActionCodec.encode({
      client: msg.sender,
      publicKey: new Uint8Array(0),
      origin: origin ? toWireOrigin(origin) : null,
    });
    return { actions: [{ type: 'CreateAccount', nae: msg.sender, payload }] };
  },
});
