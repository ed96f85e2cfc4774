import { checkChunk, copyGroupName, copyName } from '@safe/chunks';
import { type HandlerContext, handles, InvalidNameError, nameEquals } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { addSubscriberCodec, createRecordCodec } from '../messages.js';
import { chooseHolders, storeOn, tellMaidManagers } from '../rules.js';
import { copyKey, type DataManagerState, keepContent } from '../state.js';

/** A short, non-zero tag of a message id (0 means "no creator recorded"). */
export function requestTag(id: Uint8Array): number {
  return Buffer.from(id).readInt32BE(0) || 1;
}

/**
 * Put<Data> | MaidManager ->>>> | [Ac, Fw] DataManager [So, Sy] ->>>> PmidManager.
 * An existing chunk gains a subscriber (or, for Put<Unique>, the Put fails: it exists); a new one
 * goes to the deterministically chosen holders.
 */
export const put = handles(toDataManager.put, async (msg, ctx: HandlerContext<DataManagerState>) => {
  const { copy, context, unique } = msg.payload;
  const { content } = msg;
  const name = checkChunk(msg.payload.name, content);
  const nae = msg.destination.nae;
  if (!nameEquals(nae, copyGroupName(name, copy))) {
    throw new InvalidNameError(`a ${copyName(copy)} copy goes to its own copy group, not to this NAE`);
  }
  // A record this very Put created (applied here through the group's sync before this member
  // handled the Put itself) is not an existing chunk: every member must take the same path.
  const createdBy = requestTag(msg.id);
  const existing = await ctx.state.store.record(name, copy);
  if (existing !== undefined && existing.createdBy !== createdBy) {
    if (unique)
      return { send: tellMaidManagers(context, name, copy, { stored: false, error: 'the chunk exists (Put<Unique>)', exists: true }) };
    // A first store that never completed (a crash lost the content on its way to the holders)
    // takes the content again from this Put: the stalled-store repair sends it to them.
    const stored = (await ctx.state.store.holders(existing.id)).filter((h) => h.state === 'stored').length;
    if (stored < ctx.state.config.copiesPerGroup) keepContent(ctx.state, copyKey(name, copy), content);
    return { actions: [{ type: 'AddSubscriber', nae, payload: addSubscriberCodec.encode({ name, copy, context }) }] };
  }
  const holders = chooseHolders(ctx, name, copy, [], ctx.state.config.copiesPerGroup);
  if (holders.length === 0) return { send: tellMaidManagers(context, name, copy, { stored: false, error: 'no PmidNode is on line' }) };
  keepContent(ctx.state, copyKey(name, copy), content);
  return {
    actions: [
      { type: 'CreateRecord', nae, payload: createRecordCodec.encode({ name, copy, size: content.length, holders, context, createdBy }) },
    ],
    send: holders.map((pmid) => storeOn(pmid, name, copy, content, context)),
  };
});
