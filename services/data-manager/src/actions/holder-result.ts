import { ChunkCopy, copyGroupName, isMustStore, type PutContext } from '@safe/chunks';
import { action, type HandlerContext, type Name, type Outbound, type Outcome, parseName, sha512, toHex } from '@safe/core';
import { repairAnswered, repairDeparted } from '../churn/repair.js';
import { type HolderResult, holderResultCodec } from '../messages.js';
import {
  chooseHolders,
  deleteFrom,
  deleteTrimmed,
  moveFarmingRate,
  oweStoreAnswer,
  storeOn,
  takeOwed,
  tellMaidManagers,
} from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';
import { lossAfterStored, orderFailedAtBottom } from './mark-holder-lost.js';

/**
 * Agreed: a holder's answer. When the copy reaches its count of stored holders the MaidManagers
 * are told (once: on the change that reaches it). A holder that could not store is replaced by
 * the next deterministic choice; a must-store copy with nowhere left to go fails the Put.
 *
 * A sacrificial copy being stored again (a repair: no client context) that the node refuses is
 * the exception: room is short, so the copy is not rushed round every node at once, nor the
 * refusal counted against the farming rate again (its loss already was). Nothing is recorded;
 * the repair stays in flight until its retry period ends and then tries the next node
 * (churn/repair.ts repairTarget), so the copy is stored again as room returns.
 *
 * Members apply the holders' answers in different orders, and some may apply one before the
 * copy's own CreateRecord. Whatever the order, they must pick the same replacement and send it
 * the same message, or its Put<Data> never gathers its K − 1 copies at the PmidManagers and the
 * client's Put goes unanswered: a record the answers made here (no CreateRecord yet) lists the
 * Put's own choice of holders before a replacement is picked, as where the record came first, and
 * the replacement's Put is identified by the choice itself (copy group, replacement, the client's
 * request, the holders it replaces), not by the answer that happened to prompt it here.
 *
 * A stored answer may come after the holder already reported the copy deleted for room (a loss
 * agreed ahead of it waits for it: actions/mark-holder-lost.ts); the loss is applied right after.
 *
 * A repair's answer (no client context) for a copy whose record is gone — the chunk was deleted
 * while the repair ran — does not make the record again: the copy it stored is deleted instead.
 */
export const holderResult = action<HolderResult, DataManagerState>({
  type: 'HolderResult',
  payload: holderResultCodec,
  async apply(answer, ctx) {
    const outcome = await applyAnswer(answer, ctx);
    if (!answer.stored) return outcome;
    const loss = await lossAfterStored(ctx, answer.name, answer.copy, answer.pmid);
    if (loss === undefined) return outcome;
    return { send: [...(outcome?.send ?? []), ...(loss.send ?? [])] };
  },
  // A stored answer that completed the copy answered the client's Put; one that did not, waits.
  owed: ({ name, copy, stored, context }, ctx) => (stored ? oweStoreAnswer(ctx, name, copy, context) : undefined),
});

const REPLACEMENT_TAG = new TextEncoder().encode('replacement holder');

/** The replacement's Put<Data>, with a correlation every member computes alike (see holderResult). */
function storeOnReplacement(
  replacement: Name,
  name: Uint8Array,
  copy: ChunkCopy,
  content: Uint8Array,
  context: PutContext | null | undefined,
  replaced: readonly Uint8Array[],
): Outbound {
  const group = copyGroupName(parseName(name, 'chunk name'), copy);
  const holders = [...replaced].sort(Buffer.compare);
  const correlation = sha512(REPLACEMENT_TAG, group, replacement, context?.origin?.request ?? new Uint8Array(0), ...holders);
  return { ...storeOn(replacement, name, copy, content, context), correlation };
}

async function applyAnswer(
  { name, copy, pmid, stored, context, size }: HolderResult,
  ctx: HandlerContext<DataManagerState>,
): Promise<Outcome | undefined> {
  if (!stored && copy === ChunkCopy.SACRIFICIAL && context == null) {
    ctx.log.debug({ pmid: toHex(pmid).slice(0, 16), chunk: toHex(name).slice(0, 16) }, 'no room to store a sacrificial copy again yet');
    return undefined;
  }
  const { store, config } = ctx.state;
  if (context == null && (await store.record(name, copy)) === undefined) {
    // A repair's answer (no client Put waits on it) for a copy whose record is gone: deleted
    // while the repair ran. The record is not made again; the copy it stored belongs to nobody.
    repairAnswered(ctx, name, copy, pmid);
    return stored ? { send: [deleteFrom(parseName(pmid, 'holder'), name, copy)] } : undefined;
  }
  const key = copyKey(name, copy);
  const update = await store.markHolder(name, copy, size, pmid, stored ? 'stored' : 'failed', config.maxHolders);
  const send: Outbound[] = deleteTrimmed(update.trimmed, name, copy);
  // A copy's holder changed (perhaps a re-replication ended and freed its place): copies still
  // below their count may start, and members that fell out of step take up the same ones again.
  repairAnswered(ctx, name, copy, pmid);
  send.push(...(await repairDeparted(ctx)));
  if (stored) {
    if (update.changed && update.stored === config.copiesPerGroup) {
      ctx.state.pendingContent.delete(key);
      for (const owed of takeOwed(ctx.state, key, context)) send.push(...tellMaidManagers(owed, name, copy, { stored: true, cost: size }));
      if (copy === ChunkCopy.SACRIFICIAL) await moveFarmingRate(ctx, 'stored');
    }
    return { send };
  }
  if (update.changed) await orderFailedAtBottom(ctx, name, copy);
  if (!update.changed || update.stored >= config.copiesPerGroup) return { send };
  const chunk = parseName(name, 'chunk name');
  const record = await store.record(chunk, copy);
  let current = record ? (await store.holders(record.id)).map((h) => h.pmid) : [];
  if (record !== undefined && record.createdBy === 0) {
    // This answer overtook the copy's CreateRecord here: the holders the Put chose are listed
    // (pending) as they are where the record came first, so the replacement is the same.
    const listed = new Set(current.map(toHex));
    for (const chosen of chooseHolders(ctx, chunk, copy, [], config.copiesPerGroup)) {
      if (!listed.has(toHex(chosen)))
        send.push(...deleteTrimmed((await store.markHolder(chunk, copy, size, chosen, 'pending', config.maxHolders)).trimmed, name, copy));
    }
    current = (await store.holders(record.id)).map((h) => h.pmid);
  }
  const [replacement] = chooseHolders(ctx, chunk, copy, current, 1);
  const content = ctx.state.pendingContent.get(key);
  if (replacement !== undefined) {
    send.push(...deleteTrimmed(await store.addHolder(chunk, copy, replacement, config.maxHolders), name, copy));
    if (content !== undefined) send.push(storeOnReplacement(replacement, name, copy, content, context, current));
    return { send };
  }
  if (isMustStore(copy))
    for (const owed of takeOwed(ctx.state, key, context))
      send.push(...tellMaidManagers(owed, name, copy, { stored: false, error: 'the network has no room for the chunk' }));
  else {
    // Nobody waits on a sacrificial copy (the MaidManagers charge on the must-store ones).
    ctx.state.waiters.delete(key);
    await moveFarmingRate(ctx, 'failed');
  }
  return { send };
}
