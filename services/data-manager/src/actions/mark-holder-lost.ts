import { LossReason } from '@safe/chunks';
import { action, type HandlerContext, nameEquals, type Outcome } from '@safe/core';
import { repairDeparted } from '../churn/repair.js';
import { type HolderLoss, holderLossCodec } from '../messages.js';
import { moveFarmingRate } from '../rules.js';
import { copyHolderKey, copyKey, type DataManagerState, rememberNewest } from '../state.js';

/**
 * Agreed: the holder no longer has the copy. It stays in the record as failed (store.ts
 * markHolderLost), so it is no live holder and not chosen for this copy again; the copy joins
 * those waiting for re-replication (churn/repair.ts), which stores it again on the next
 * deterministic PmidNode if it is now below its count. A holder the record lists as failed
 * already changes nothing.
 *
 * A sacrificial copy deleted to make room for a must-store one (SPEC.md 3.3) moves the farming
 * rate by 'deleted' and is not re-stored at once: room is short right now, so it waits for the
 * repair retry (onTick), which stores it again as room returns (and counts 'stored' then).
 *
 * A loss of a holder the record lists as pending, or does not list, came ahead of the answer that
 * the holder stored the copy: its PmidManagers send both (the node can give a sacrificial copy up
 * right after storing it), and the two are agreed here each on its own, in either order. The loss
 * then waits for that answer (actions/holder-result.ts applies it right after), so every member
 * ends with the same record and farming rate whichever came first.
 */
export const markHolderLost = action<HolderLoss, DataManagerState>({
  type: 'MarkHolderLost',
  payload: holderLossCodec,
  async apply(loss, ctx) {
    const { store } = ctx.state;
    const record = await store.record(loss.name, loss.copy);
    const holder = record && (await store.holders(record.id)).find((h) => nameEquals(h.pmid, loss.pmid));
    if (holder === undefined || holder.state === 'pending') {
      awaitStoredAnswer(ctx, loss);
      return undefined;
    }
    return applyLoss(loss, ctx);
  },
});

async function applyLoss({ name, copy, pmid, reason }: HolderLoss, ctx: HandlerContext<DataManagerState>): Promise<Outcome | undefined> {
  const held = await ctx.state.store.markHolderLost(name, copy, pmid);
  if (held === undefined) return undefined;
  await orderFailedAtBottom(ctx, name, copy);
  ctx.state.lostCopies.set(copyKey(held.name, held.copy), held);
  if (reason === LossReason.DELETED_FOR_ROOM) {
    await moveFarmingRate(ctx, 'deleted');
    return undefined;
  }
  return { send: await repairDeparted(ctx) };
}

/**
 * The failed holders at the bottom of a copy's list, in name order (the greatest lowest). Each loss
 * moves its holder to the bottom, so two losses of one copy agreed in different orders on different
 * members would list the holders differently; every member must list them alike (SPEC.md 5a).
 * Applied after each change that fails a holder (here and actions/holder-result.ts), the order
 * depends only on which holders are failed, not on the order they failed in.
 */
export async function orderFailedAtBottom(
  ctx: HandlerContext<DataManagerState>,
  name: Uint8Array,
  copy: HolderLoss['copy'],
): Promise<void> {
  const { store } = ctx.state;
  const record = await store.record(name, copy);
  if (record === undefined) return;
  const holders = await store.holders(record.id);
  let top = holders.length;
  while (top > 0 && holders[top - 1]?.state === 'failed') top--;
  const failed = holders.slice(top).map((h) => h.pmid);
  const sorted = [...failed].sort(Buffer.compare);
  if (sorted.every((pmid, i) => nameEquals(pmid, failed[i] as Uint8Array))) return;
  for (const pmid of sorted) await store.moveHolderToBottomOf(name, copy, pmid);
}

function awaitStoredAnswer(ctx: HandlerContext<DataManagerState>, loss: HolderLoss): void {
  const { state } = ctx;
  rememberNewest(
    state.lossesAhead,
    copyHolderKey(loss.name, loss.copy, loss.pmid),
    { loss, at: ctx.now() },
    Math.max(1, state.config.pendingContentLimit),
  );
}

/**
 * The holder's stored answer was just applied: a loss that came ahead of it is applied now (once).
 * One older than the accumulator's memory belongs to no answer still on its way (the holder was
 * trimmed from the list, say): it is dropped, not held against a later store.
 */
export async function lossAfterStored(
  ctx: HandlerContext<DataManagerState>,
  name: Uint8Array,
  copy: HolderLoss['copy'],
  pmid: Uint8Array,
): Promise<Outcome | undefined> {
  const waiting = ctx.state.lossesAhead;
  const key = copyHolderKey(name, copy, pmid);
  const ahead = waiting.get(key);
  if (ahead === undefined) return undefined;
  waiting.delete(key);
  if (ctx.now() - ahead.at > ctx.params.accumulatorMemoryMs) return undefined;
  return applyLoss(ahead.loss, ctx);
}
