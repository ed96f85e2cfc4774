import { type PersonaRecords, type RecordRef, recordPages } from '@safe/core';
import type { MpidManagerState } from './state.js';
import { decodeAccount, decodeHeld, heldKey, splitHeldKey } from './store.js';

const NO_KEY = new Uint8Array(0);
const START: { mpid: Uint8Array; sender: Uint8Array; id: Uint8Array } = { mpid: NO_KEY, sender: NO_KEY, id: NO_KEY };

/**
 * MpidManager records for account transfer, NAE = the MPID's name: its account (empty key: owner,
 * key and lists) and each message held for it (key = sender MPID name ‖ message id). A receiver
 * writes what (K+1)/2 members sent alike; a held message its node acknowledged already (the
 * members that sent it had not heard yet) is not held again.
 */
export const mpidManagerRecords: PersonaRecords<MpidManagerState> = {
  async *list(ctx) {
    const { store } = ctx.state;
    yield* recordPages(
      NO_KEY,
      (after: Uint8Array, limit) => store.accountNames(after, limit),
      (nae) => nae,
      (nae) => ({ nae, key: NO_KEY }),
    );
    yield* recordPages(
      START,
      (from, limit) => store.heldKeys(from, limit),
      (row) => row,
      (row) => ({ nae: row.mpid as RecordRef['nae'], key: heldKey(row) }),
    );
  },

  async read(ctx, nae, key) {
    return key.length === 0 ? ctx.state.store.accountValue(nae) : ctx.state.store.heldValue(nae, splitHeldKey(key));
  },

  async write(ctx, nae, key, value) {
    if (key.length === 0) await ctx.state.store.writeAccount(nae, decodeAccount(nae, value));
    else await ctx.state.store.writeHeld(nae, decodeHeld(splitHeldKey(key), value));
  },

  async drop(ctx, nae, key) {
    if (key.length === 0) await ctx.state.store.dropAccount(nae);
    else await ctx.state.store.dropHeld(nae, splitHeldKey(key));
  },
};
