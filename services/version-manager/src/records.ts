import { InvalidNameError, type PersonaRecords, recordPages } from '@safe/core';
import type { VersionManagerState } from './state.js';
import { decodeSdv } from './store.js';

const NO_KEY = new Uint8Array(0);

/**
 * VersionManager records for account transfer: NAE = the SDV name, one record per SDV (empty key),
 * value = the SDV as stored (proto SdvRecord). A receiver writes the value (K+1)/2 members sent
 * alike, replacing its own: the agreed copy wins, as the anchor's ApplySerialised had it.
 */
export const versionManagerRecords: PersonaRecords<VersionManagerState> = {
  list(ctx) {
    const { store } = ctx.state;
    return recordPages(
      NO_KEY,
      (after: Uint8Array, limit) => store.names(after, limit),
      (nae) => nae,
      (nae) => ({ nae, key: NO_KEY }),
    );
  },

  async read(ctx, nae, key) {
    return key.length === 0 ? ctx.state.store.value(nae) : undefined;
  },

  async write(ctx, nae, key, value) {
    if (key.length !== 0) throw new InvalidNameError('a VersionManager record has no key: one SDV per name');
    await ctx.state.store.write(nae, decodeSdv(nae, value));
  },

  async drop(ctx, nae, key) {
    if (key.length === 0) await ctx.state.store.drop(nae);
  },
};
