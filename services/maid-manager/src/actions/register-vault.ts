import { action, type Name, type Payload } from '@safe/core';
import { getPmidHealthCodec, registerVaultActionCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** Agreed: the vault is the client's. Its space is asked of its PmidManagers (GetPMIDHealth); the client is answered then. */
export const registerVaultAction = action<Payload<typeof registerVaultActionCodec>, MaidManagerState>({
  type: 'RegisterVault',
  payload: registerVaultActionCodec,
  async apply({ client, pmid, origin }, ctx) {
    await ctx.state.store.registerVault(client, pmid);
    return {
      send: [
        {
          type: 'GetPmidHealth',
          to: { persona: 'pmid-manager', nae: pmid as Name },
          scope: 'close-group',
          payload: getPmidHealthCodec.encode({ pmid, client, origin }),
        },
      ],
    };
  },
});
