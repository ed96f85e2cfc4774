import { action } from '@safe/core';
import { type CreateRecord, createRecordCodec } from '../messages.js';
import type { DataManagerState } from '../state.js';

/** Agreed: the chunk has a record, its chosen holders pending until their PmidManagers confirm. */
export const createRecord = action<CreateRecord, DataManagerState>({
  type: 'CreateRecord',
  payload: createRecordCodec,
  async apply({ name, copy, size, holders, createdBy }, ctx) {
    await ctx.state.store.createRecord(name, copy, size, holders, ctx.state.config.maxHolders, createdBy);
    return undefined;
  },
});
