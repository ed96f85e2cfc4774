import { isMustStore } from '@safe/chunks';
import { action, type HandlerContext, type Outbound, parseName, toHex } from '@safe/core';
import { repairAnswered, repairDeparted } from '../churn/repair.js';
import type { SacrificialEvent } from '../farming-rate.js';
import { type HolderResult, holderResultCodec } from '../messages.js';
import { chooseHolders, deleteTrimmed, storeOn, takeOwed, tellMaidManagers } from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * The sacrificial copies are the network's measuring stick: their outcomes (stored, not stored,
 * deleted for room) move the farming rate (SPEC.md 3.3).
 */
export async function moveFarmingRate(ctx: HandlerContext<DataManagerState>, event: SacrificialEvent): Promise<void> {
  const { rate } = await ctx.state.store.recordSacrificial(ctx.state.config.farmingPolicy, event);
  ctx.log.debug({ event, rate, policy: ctx.state.config.farmingPolicy }, 'farming rate moved');
}

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
 */
export const holderResult = action<HolderResult, DataManagerState>({
  type: 'HolderResult',
  payload: holderResultCodec,
  async apply({ name, copy, pmid, stored, context, size }, ctx) {
    if (!stored && copy === 'SACRIFICIAL' && context === null) {
      ctx.log.debug({ pmid: toHex(pmid).slice(0, 16), chunk: toHex(name).slice(0, 16) }, 'no room to store a sacrificial copy again yet');
      return undefined;
    }
    const { store, config } = ctx.state;
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
        for (const owed of takeOwed(ctx.state, key, context))
          send.push(...tellMaidManagers(owed, name, copy, { stored: true, cost: size }));
        if (copy === 'SACRIFICIAL') await moveFarmingRate(ctx, 'stored');
      }
      return { send };
    }
    if (!update.changed || update.stored >= config.copiesPerGroup) return { send };
    const chunk = parseName(name, 'chunk name');
    const record = await store.record(chunk, copy);
    const current = record ? (await store.holders(record.id)).map((h) => h.pmid) : [];
    const [replacement] = chooseHolders(ctx, chunk, copy, current, 1);
    const content = ctx.state.pendingContent.get(key);
    if (replacement !== undefined) {
      send.push(...deleteTrimmed(await store.addHolder(chunk, copy, replacement, config.maxHolders), name, copy));
      if (content !== undefined) send.push(storeOn(replacement, name, copy, content, context));
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
  },
});
