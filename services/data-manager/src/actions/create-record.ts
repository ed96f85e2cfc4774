import type { ChunkCopy } from '@safe/chunks';
import { action, type HandlerContext, parseName, toHex } from '@safe/core';
import { repairDeparted } from '../churn/repair.js';
import { type CreateRecord, createRecordCodec } from '../messages.js';
import { awaitStore, isLive, oweStoreAnswer } from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * Agreed: the chunk has a record, its chosen holders pending until their PmidManagers confirm.
 * The Put waits for the copy's store, whichever holder ends up storing it.
 *
 * A chosen holder may have left before this member applied the record (the sync that carries it
 * can arrive after the matrix change): the member then lists and repairs the copy like one whose
 * holder left later, or it would sit out the repair its peers start and the group would never reach the
 * K − 1 copies each of the repair's messages needs.
 */
/**
 * Subscribers agreed here before the record (AddSubscriber) join it now, once. Ones older than the
 * accumulator's memory belong to no record still on its way (this member never had it): dropped.
 */
async function addSubscribersAhead(ctx: HandlerContext<DataManagerState>, name: Uint8Array, copy: ChunkCopy): Promise<void> {
  const key = copyKey(name, copy);
  const ahead = ctx.state.subscribersAhead.get(key);
  if (ahead === undefined) return;
  ctx.state.subscribersAhead.delete(key);
  if (ctx.now() - ahead.at > ctx.params.accumulatorMemoryMs) return;
  for (const context of ahead.contexts) {
    await ctx.state.store.addSubscriber(name, copy);
    awaitStore(ctx.state, key, context);
  }
}

export const createRecord = action<CreateRecord, DataManagerState>({
  type: 'CreateRecord',
  payload: createRecordCodec,
  async apply({ name, copy, size, holders, context, createdBy }, ctx) {
    await ctx.state.store.createRecord(name, copy, size, holders, ctx.state.config.maxHolders, createdBy);
    awaitStore(ctx.state, copyKey(name, copy), context);
    await addSubscribersAhead(ctx, name, copy);
    const gone = holders.filter((pmid) => !isLive(ctx, parseName(pmid, 'holder')));
    if (gone.length === 0) return undefined;
    // Where the record came before the departure, the matrix change moved these to the bottom (in name order): so here.
    for (const pmid of [...gone].sort(Buffer.compare)) {
      await ctx.state.store.moveHolderToBottomOf(name, copy, pmid);
      ctx.state.departed.add(toHex(pmid));
    }
    return { send: await repairDeparted(ctx) };
  },
  owed: ({ name, copy, context }, ctx) => oweStoreAnswer(ctx, name, copy, context),
});
