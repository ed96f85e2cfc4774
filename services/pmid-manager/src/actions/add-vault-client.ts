import { action } from '@safe/core';
import { addVaultClientCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** The vault's offer is shared with one more client account (vault-shares.ts). */
export const addVaultClient = action<{ pmid: Uint8Array; client: Uint8Array }, PmidManagerState>({
  type: 'AddVaultClient',
  payload: addVaultClientCodec,
  async apply({ pmid, client }, ctx) {
    await ctx.state.store.addClient(pmid, client);
    return undefined;
  },
});
