import { type ChunkCopy, checkChunk, copyGroupName, isMustStore } from '@safe/chunks';
import { type HandlerContext, type Name, nameEquals, nameFromHex, type Outbound, sha512, toHex } from '@safe/core';
import { askHolder } from '../handlers/get.js';
import type { GetResponse } from '../messages.js';
import { chooseHolders, isLive, storeOn } from '../rules.js';
import { copyKey, type DataManagerState, keepContent, type Repair } from '../state.js';
import type { HeldCopy } from '../store.js';

const REPAIR_TAG = new TextEncoder().encode('re-replicate');

/**
 * Re-replication after PmidNodes leave (SPEC.md 3.3 Churn, 5a). Every member of a copy group
 * sees the same matrix change and holds the same record, so each picks the same copy, the same
 * holder to read from, the same new holder and the same correlation: the K members' Gets to the
 * holder and Puts to the new holder's PmidManagers are copies of one group message and
 * accumulate. The new holder enters the record only through the synced HolderResult that its
 * PmidManagers' PutResponse brings (actions/holder-result.ts), so the group agrees on it.
 *
 * Flood safety: a copy already being repaired is not repaired again; at most `maxRepairs` are in
 * flight; the rest wait in `departed` (one entry per PmidNode, not per copy) and are looked up
 * again with one indexed query per PmidNode on the next churn event or holder answer.
 */
export async function repairDeparted(
  ctx: HandlerContext<DataManagerState>,
  fresh: ReadonlyMap<string, HeldCopy[]> = new Map(),
): Promise<Outbound[]> {
  const { state } = ctx;
  for (const [key, repair] of state.repairs) {
    if (ctx.now() - repair.startedAt >= state.config.repairRetryMs) state.repairs.delete(key);
  }
  if (state.departed.size === 0 || state.repairs.size >= state.config.maxRepairs) return [];

  // Every copy this replica is responsible for whose holder left, in copy-group order, so members
  // with different other work still start the same copies first.
  const candidates = new Map<string, { copy: HeldCopy; group: Name; from: string[] }>();
  for (const pmid of [...state.departed].sort()) {
    if (isLive(ctx, nameFromHex(pmid))) {
      state.departed.delete(pmid);
      continue;
    }
    for (const held of fresh.get(pmid) ?? (await state.store.copiesHeldBy(nameFromHex(pmid)))) {
      const group = copyGroupName(held.name, held.copy);
      if (!ctx.isResponsible(group)) continue;
      const key = copyKey(held.name, held.copy);
      const seen = candidates.get(key);
      if (seen) seen.from.push(pmid);
      else candidates.set(key, { copy: held, group, from: [pmid] });
    }
  }
  // A PmidNode is forgotten once none of its copies is below its count or on its way back up.
  const unfinished = new Set<string>();
  const send: Outbound[] = [];
  let below = 0;
  let started = 0;
  const ordered = [...candidates.entries()].sort(([, a], [, b]) => Buffer.compare(a.group, b.group));
  for (const [index, [key, { copy, group, from }]] of ordered.entries()) {
    if (state.repairs.size >= state.config.maxRepairs) {
      // Out of room: everything not looked at waits for the next churn event or holder answer.
      for (const [, rest] of ordered.slice(index)) for (const pmid of rest.from) unfinished.add(pmid);
      break;
    }
    if (state.repairs.has(key)) {
      for (const pmid of from) unfinished.add(pmid);
      continue;
    }
    const step = await startRepair(ctx, copy, group, key);
    if (step === 'enough') continue;
    below++;
    for (const pmid of from) unfinished.add(pmid);
    if (step === 'stuck') continue;
    send.push(...step);
    started++;
  }
  for (const pmid of [...state.departed]) if (!unfinished.has(pmid)) state.departed.delete(pmid);
  if (below > 0) {
    ctx.log.info(
      { copies: candidates.size, belowMustStore: below, started, inFlight: state.repairs.size, departed: state.departed.size },
      're-replication batch',
    );
  }
  return send;
}

/** Starts one copy's repair: its messages, or why not ('enough' live holders; 'stuck': nowhere to read or store). */
async function startRepair(
  ctx: HandlerContext<DataManagerState>,
  held: HeldCopy,
  group: Name,
  key: string,
): Promise<Outbound[] | 'enough' | 'stuck'> {
  const { store, config } = ctx.state;
  const record = await store.record(held.name, held.copy);
  if (record === undefined) return 'enough';
  const holders = await store.holders(record.id);
  // A pending holder on line is already on its way to storing the copy.
  const live = holders.filter((h) => h.state !== 'failed' && isLive(ctx, h.pmid));
  if (live.length >= config.copiesPerGroup) return 'enough';
  const [target] = chooseHolders(
    ctx,
    held.name,
    held.copy,
    holders.map((h) => h.pmid),
    1,
  );
  if (target === undefined) {
    if (isMustStore(held.copy))
      ctx.log.warn({ copy: held.copy, chunk: toHex(held.name).slice(0, 16) }, 'no PmidNode left to re-store a copy on');
    return 'stuck';
  }
  const correlation = sha512(REPAIR_TAG, group, target, ...holders.map((h) => h.pmid));
  const content = ctx.state.pendingContent.get(key);
  const source = content === undefined ? live.find((h) => h.state === 'stored')?.pmid : undefined;
  if (content === undefined && source === undefined) {
    if (isMustStore(held.copy))
      ctx.log.warn({ copy: held.copy, chunk: toHex(held.name).slice(0, 16) }, 'no live holder to re-store a copy from');
    return 'stuck';
  }
  const repair: Repair = { source, target, correlation, startedAt: ctx.now() };
  ctx.state.repairs.set(key, repair);
  if (content !== undefined) return [repairStore(repair, held.name, held.copy, group, content)];
  return [{ ...askHolder(source as Name, held.name, held.copy), as: group, correlation }];
}

function repairStore(repair: Repair, name: Name, copy: ChunkCopy, group: Name, content: Uint8Array): Outbound {
  return { ...storeOn(repair.target, name, copy, content, null), as: group, correlation: repair.correlation };
}

/** A holder's answer to a repair's Get: the content goes on to the new holder. Empty when no repair waits on it. */
export function continueRepair(ctx: HandlerContext<DataManagerState>, sender: Name, answer: GetResponse): Outbound[] {
  const key = copyKey(answer.name, answer.copy);
  const repair = ctx.state.repairs.get(key);
  if (repair?.source === undefined || !nameEquals(repair.source, sender)) return [];
  let name: Name | undefined;
  if (answer.error === '') {
    try {
      name = checkChunk(answer.name, answer.content);
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    // Tried again (from another holder) by the next sweep.
    ctx.state.repairs.delete(key);
    return [];
  }
  if (!isLive(ctx, repair.target)) {
    ctx.state.repairs.delete(key);
    return [];
  }
  repair.source = undefined;
  keepContent(ctx.state, key, answer.content);
  return [repairStore(repair, name, answer.copy, copyGroupName(name, answer.copy), answer.content)];
}

/** The new holder's PmidManagers answered (HolderResult): the repair is over, others may start. */
export function repairAnswered(ctx: HandlerContext<DataManagerState>, name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array): boolean {
  const key = copyKey(name, copy);
  const repair = ctx.state.repairs.get(key);
  if (repair === undefined || !nameEquals(repair.target, pmid as Name)) return false;
  ctx.state.repairs.delete(key);
  return true;
}
