import { action, type Name, type Payload } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { registerVaultActionCodec, send } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** Agreed: the vault is the client's. Its space is asked of its PmidManagers (GetPMIDHealth); the client is answered then. */
export const registerVaultAction = action<Payload<typeof registerVaultActionCodec>, MaidManagerState>({
  type: 'RegisterVault',
  payload: registerVaultActionCodec,
  async apply({ client, pmid, origin }, ctx) {
    await ctx.state.store.registerVault(client, pmid);
    return {
      send: [send(toPmidManager.getPmidHealth, { nae: pmid as Name, scope: 'close-group' }, { pmid, client, origin })],
    };
  },
});
