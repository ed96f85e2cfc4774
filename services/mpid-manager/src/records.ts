import type { PersonaRecords, RecordRef } from '@safe/core';
import type { MpidManagerState } from './state.js';
import { decodeAccount, decodeHeld, heldKey, splitHeldKey } from './store.js';

const NO_KEY = new Uint8Array(0);
const LIST_BATCH = 256;
const START: { mpid: Uint8Array; sender: Uint8Array; id: Uint8Array } = { mpid: NO_KEY, sender: NO_KEY, id: NO_KEY };

/**
 * MpidManager records for account transfer, NAE = the MPID's name: its account (empty key: owner,
 * key and lists) and each message held for it (key = sender MPID name ‖ message id). A receiver
 * writes what (K+1)/2 members sent alike; a held message its node acknowledged already (the
 * members that sent it had not heard yet) is not held again.
 */
export const mpidManagerRecords: PersonaRecords<MpidManagerState> = {
  async *list(ctx) {
    let after: Uint8Array = NO_KEY;
    for (;;) {
      const names = await ctx.state.store.accountNames(after, LIST_BATCH);
      if (names.length > 0) yield names.map((nae): RecordRef => ({ nae, key: NO_KEY }));
      const last = names.at(-1);
      if (last === undefined || names.length < LIST_BATCH) break;
      after = last;
    }
    let from = START;
    for (;;) {
      const rows = await ctx.state.store.heldKeys(from, LIST_BATCH);
      if (rows.length > 0) yield rows.map((row): RecordRef => ({ nae: row.mpid as RecordRef['nae'], key: heldKey(row) }));
      const last = rows.at(-1);
      if (last === undefined || rows.length < LIST_BATCH) return;
      from = last;
    }
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
