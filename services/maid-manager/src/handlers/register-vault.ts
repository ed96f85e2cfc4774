import { toWireOrigin } from '@safe/chunks';
import {
  FailedPreconditionError,
  message,
  nameEquals,
  nameForPublicKey,
  originOf,
  PermissionDeniedError,
  UnknownClientError,
  type VaultRegistration,
  verifyVaultRegistration,
} from '@safe/core';
import { registerVaultActionCodec, vaultRegistrationCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** Register vault: a PmidNode joins the client's account, signed by both the MAID and the PMID keys. */
export const registerVault = message<VaultRegistration, MaidManagerState>({
  type: 'RegisterVault',
  from: ['client'],
  toOwnName: true,
  accumulate: 'single',
  firewall: true,
  sync: true,
  payload: vaultRegistrationCodec,
  async handle(msg, ctx) {
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
  },
});
