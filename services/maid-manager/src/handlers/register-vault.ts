import { toWireOrigin } from '@safe/chunks';
import {
  FailedPreconditionError,
  type HandlerContext,
  handles,
  nameEquals,
  nameForPublicKey,
  originOf,
  PermissionDeniedError,
  UnknownClientError,
  verifyVaultRegistration,
} from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { registerVaultActionCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** Register vault: a PmidNode joins the client's account, signed by both the MAID and the PMID keys. */
export const registerVault = handles(toMaidManager.registerVault, async (msg, ctx: HandlerContext<MaidManagerState>) => {
  const client = msg.sender;
  if (!(await ctx.state.store.exists(client))) throw new UnknownClientError('unknown client: create an account first');
  verifyVaultRegistration(msg.payload);
  if (!nameEquals(nameForPublicKey(msg.payload.maidPublicKey), client)) {
    throw new PermissionDeniedError('the registration is signed by another client');
  }
  const pmid = nameForPublicKey(msg.payload.pmidPublicKey);
  if (!ctx.routing().view('pmid-node').has(pmid)) throw new FailedPreconditionError('the vault is not on line');
  const origin = originOf(msg);
  const payload = registerVaultActionCodec.encode({ client, pmid, origin: origin ? toWireOrigin(origin) : null });
  return { actions: [{ type: 'RegisterVault', nae: client, payload }] };
});
