import { CHUNK_COPIES, type ChunkCopy, copyGroupName, isMustStore } from '@safe/chunks';
import { type HandlerContext, type Name, nameEquals, nameFromHex, type Outbound, sha512, toHex } from '@safe/core';
import type { GetResponse } from '../messages.js';
import { askHolder, carriesChunk, chooseHolders, isLive, storeOn } from '../rules.js';
import { copyHolderKey, copyKey, type DataManagerState, keepContent, type Repair, type RepairSource } from '../state.js';
import type { HeldCopy, Holder } from '../store.js';

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
 * again with one indexed query per PmidNode on the next churn event, holder answer or tick. A
 * repair not answered within `repairRetryMs` is given up and started again (as a new message).
 */
export async function repairDeparted(
  ctx: HandlerContext<DataManagerState>,
  fresh: ReadonlyMap<string, HeldCopy[]> = new Map(),
): Promise<Outbound[]> {
  const { state } = ctx;
  for (const [key, repair] of state.repairs) {
    if (ctx.now() - repair.startedAt >= state.config.repairRetryMs) state.repairs.delete(key);
  }
  if (state.departed.size === 0 && state.lostCopies.size === 0) return [];

  // Every copy this replica is responsible for whose holder left, in copy-group order, so members
  // with different other work still start the same copies first.
  const candidates = new Map<string, { copy: HeldCopy; group: Name; from: string[] }>();
  // A PmidNode is forgotten once none of its copies is below its count or on its way back up.
  // Copies whose groups this member is out of for now (newcomers pushed it out, and the records
  // are not handed over yet) keep it remembered too: the member may be back in before they go.
  const unfinished = new Set<string>();
  for (const pmid of [...state.departed].sort()) {
    if (isLive(ctx, nameFromHex(pmid))) {
      state.departed.delete(pmid);
      continue;
    }
    for (const held of fresh.get(pmid) ?? (await state.store.copiesHeldBy(nameFromHex(pmid)))) {
      const group = copyGroupName(held.name, held.copy);
      if (!ctx.isResponsible(group)) {
        unfinished.add(pmid);
        continue;
      }
      const key = copyKey(held.name, held.copy);
      const seen = candidates.get(key);
      if (seen) seen.from.push(pmid);
      else candidates.set(key, { copy: held, group, from: [pmid] });
    }
  }
  // Copies a live holder lost (an integrity check's verdict, or HolderLost): repaired the same way, no PmidNode to forget.
  for (const [key, held] of state.lostCopies) {
    const group = copyGroupName(held.name, held.copy);
    if (!ctx.isResponsible(group)) state.lostCopies.delete(key);
    else if (!candidates.has(key)) candidates.set(key, { copy: held, group, from: [] });
  }
  const send: Outbound[] = [];
  let below = 0;
  let started = 0;
  const ordered = [...candidates.entries()].sort(([, a], [, b]) => Buffer.compare(a.group, b.group));
  for (const [index, [key, { copy, group, from }]] of ordered.entries()) {
    if (state.repairs.has(key)) {
      for (const pmid of from) unfinished.add(pmid);
      continue;
    }
    // Out of room: a copy earlier in the common order takes the place of the latest one in flight,
    // so every member ends up working on the same first copies and none waits forever for the others.
    const full = state.repairs.size >= state.config.maxRepairs;
    const latest = full ? latestRepair(ctx) : undefined;
    if (full && (latest === undefined || Buffer.compare(latest[1].group, group) <= 0)) {
      for (const [, rest] of ordered.slice(index)) for (const pmid of rest.from) unfinished.add(pmid);
      break;
    }
    const plan = await planRepair(ctx, copy, group, key);
    if (plan === 'enough') {
      state.lostCopies.delete(key);
      continue;
    }
    below++;
    for (const pmid of from) unfinished.add(pmid);
    if (plan === 'stuck') continue;
    if (latest !== undefined) state.repairs.delete(latest[0]);
    state.repairs.set(key, plan.repair);
    send.push(plan.send);
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

/**
 * A chosen holder whose store stalled: its Put<Data> never gathered the copies it needs at its
 * PmidManagers, e.g. because DataManagers joined the copy group while it was on its way (the
 * members pushed out are refused, the newcomers never had the content). Once a member has seen a
 * holder pending for `stalledStoreMs`, the copy is repaired like a lost one with that holder as
 * the target: the whole group reads the content from a stored holder and sends it again, as one
 * new group message.
 */
export async function repairOnTick(ctx: HandlerContext<DataManagerState>): Promise<Outbound[]> {
  const { state } = ctx;
  const now = ctx.now();
  const pending = await state.store.pendingHolders(state.config.maxRepairs * STALLED_PAGE_PER_REPAIR);
  const seen = new Set<string>();
  for (const holder of pending) {
    const key = copyKey(holder.name, holder.copy);
    if (!ctx.isResponsible(copyGroupName(holder.name, holder.copy)) || !isLive(ctx, holder.pmid)) continue;
    const id = copyHolderKey(holder.name, holder.copy, holder.pmid);
    seen.add(id);
    const since = state.pendingSince.get(id);
    if (since === undefined) state.pendingSince.set(id, now);
    else if (now - since >= state.config.stalledStoreMs && !state.lostCopies.has(key)) {
      ctx.log.info(
        { copy: holder.copy, chunk: toHex(holder.name).slice(0, 16), pmid: toHex(holder.pmid).slice(0, 16) },
        'a store stalled: sending the copy again',
      );
      state.lostCopies.set(key, { name: holder.name, copy: holder.copy, size: holder.size });
    }
  }
  for (const id of state.pendingSince.keys()) if (!seen.has(id)) state.pendingSince.delete(id);
  return repairDeparted(ctx);
}

/** Pending holders looked at per tick, per repair that may run at once: a page, so memory stays bounded. */
const STALLED_PAGE_PER_REPAIR = 4;

function isStalled(ctx: HandlerContext<DataManagerState>, held: HeldCopy, holder: Holder): boolean {
  if (holder.state !== 'pending') return false;
  const since = ctx.state.pendingSince.get(copyHolderKey(held.name, held.copy, holder.pmid));
  return since !== undefined && ctx.now() - since >= ctx.state.config.stalledStoreMs;
}

function latestRepair(ctx: HandlerContext<DataManagerState>): [string, Repair] | undefined {
  let latest: [string, Repair] | undefined;
  for (const entry of ctx.state.repairs) if (latest === undefined || Buffer.compare(entry[1].group, latest[1].group) > 0) latest = entry;
  return latest;
}

/** One copy's repair and its first message, or why there is none ('enough' live holders; 'stuck': nowhere to store). */
async function planRepair(
  ctx: HandlerContext<DataManagerState>,
  held: HeldCopy,
  group: Name,
  key: string,
): Promise<{ repair: Repair; send: Outbound } | 'enough' | 'stuck'> {
  const { store, config } = ctx.state;
  const record = await store.record(held.name, held.copy);
  if (record === undefined) return 'enough';
  const holders = await store.holders(record.id);
  // A pending holder on line is on its way to storing the copy, unless its store stalled: then
  // the copy goes to it again.
  const onLine = holders.filter((h) => h.state !== 'failed' && isLive(ctx, h.pmid));
  const stalled = onLine.find((h) => isStalled(ctx, held, h));
  const live = onLine.filter((h) => h !== stalled);
  // A stalled holder is sent the copy even when the others are enough (its Put was lost while it
  // was away, say): otherwise the record would list it pending for good.
  if (live.length >= config.copiesPerGroup && stalled === undefined) return 'enough';
  // A retry must be a new message (the same one again would be a late copy where it went): the
  // members agree on it through the retry period they start it in, as they agree on the record.
  const period = Math.floor(ctx.now() / config.repairRetryMs);
  const target = stalled?.pmid ?? repairTarget(ctx, held, holders, period);
  if (target === undefined) {
    if (isMustStore(held.copy))
      ctx.log.warn({ copy: held.copy, chunk: toHex(held.name).slice(0, 16) }, 'no PmidNode left to re-store a copy on');
    return 'stuck';
  }
  const epoch = new Uint8Array(8);
  new DataView(epoch.buffer).setFloat64(0, period);
  const correlation = sha512(REPAIR_TAG, group, target, epoch, ...holders.map((h) => h.pmid));
  // Every member reads the content from the same sources, even one that still has it: what each
  // keeps in pendingContent differs (its own answers, its own evictions), and members that went
  // straight to the Put while the others asked a source would each send fewer than K − 1 copies,
  // so neither message would ever count. Kept content serves only when no source is left.
  const sources = sourcesOf(ctx, held, live);
  const content = sources.length === 0 ? ctx.state.pendingContent.get(key) : undefined;
  const repair: Repair = { name: held.name, group, sources, target, correlation, startedAt: ctx.now() };
  if (content === undefined && sources.length === 0) return 'stuck';
  return { repair, send: content === undefined ? askSource(repair) : repairStore(repair, held.copy, content) };
}

/**
 * The PmidNode a copy is stored again on. A must-store copy goes to the closest live PmidNode not
 * listed for it (SPEC.md 3.3). A sacrificial copy is only attempted, and is usually lost for want
 * of room (deleted for a must-store copy), which comes back wherever chunks are deleted, the nodes
 * that gave the copy up included: so every live node not holding it (failed holders too) takes a
 * turn, one per retry period in closeness order, and a node that refuses is not recorded
 * (actions/holder-result.ts). The members agree on the node through the period, as on the correlation.
 */
function repairTarget(ctx: HandlerContext<DataManagerState>, held: HeldCopy, holders: readonly Holder[], period: number): Name | undefined {
  if (isMustStore(held.copy))
    return chooseHolders(
      ctx,
      held.name,
      held.copy,
      holders.map((h) => h.pmid),
      1,
    )[0];
  const holding = holders.filter((h) => h.state !== 'failed').map((h) => h.pmid);
  const choices = chooseHolders(ctx, held.name, held.copy, holding, Number.MAX_SAFE_INTEGER);
  return choices[period % Math.max(1, choices.length)];
}

/**
 * Where the content can be read: this copy's live holders, then (all of them gone at once) the
 * PmidNodes the other copy groups' deterministic choice points to, since every copy has the same
 * content (SPEC.md 3.3: lost copies are stored again from the other copies).
 */
function sourcesOf(ctx: HandlerContext<DataManagerState>, held: HeldCopy, live: readonly Holder[]): RepairSource[] {
  const own = live.filter((h) => h.state === 'stored').map((h) => ({ pmid: h.pmid, copy: held.copy }));
  const siblings = CHUNK_COPIES.filter((c) => c !== held.copy).flatMap((copy) =>
    chooseHolders(ctx, held.name, copy, [], ctx.state.config.maxHolders).map((pmid) => ({ pmid, copy })),
  );
  return [...own, ...siblings];
}

function askSource(repair: Repair): Outbound {
  const [source] = repair.sources as [RepairSource];
  return { ...askHolder(source.pmid, repair.name, source.copy), as: repair.group, correlation: repair.correlation };
}

function repairStore(repair: Repair, copy: ChunkCopy, content: Uint8Array): Outbound {
  return { ...storeOn(repair.target, repair.name, copy, content, null), as: repair.group, correlation: repair.correlation };
}

/** A holder's answer to a repair's Get: the content goes on to the new holder, or the next source is asked. Empty when no repair waits on it. */
export async function continueRepair(ctx: HandlerContext<DataManagerState>, sender: Name, answer: GetResponse): Promise<Outbound[]> {
  // The answer names the copy it was asked for, which may be another copy than the one repaired.
  const found = CHUNK_COPIES.map((copy) => ({ copy, key: copyKey(answer.name, copy) })).find(({ key }) => {
    const source = ctx.state.repairs.get(key)?.sources[0];
    return source !== undefined && source.copy === answer.copy && nameEquals(source.pmid, sender);
  });
  const repair = found && ctx.state.repairs.get(found.key);
  if (found === undefined || repair === undefined) return [];
  if (!carriesChunk(answer)) {
    repair.sources.shift();
    if (repair.sources.length > 0) return [askSource(repair)];
    // No holder had it: content this member kept serves (a later Put of a chunk whose first store
    // a crash cut short brings it to every member alike).
    const kept = ctx.state.pendingContent.get(found.key);
    if (kept !== undefined && isLive(ctx, repair.target)) return [repairStore(repair, found.copy, kept)];
    // Nowhere to read it now: its place goes to the copies waiting (this one is tried again on the next event).
    ctx.state.repairs.delete(found.key);
    return repairDeparted(ctx);
  }
  repair.sources.length = 0;
  if (!isLive(ctx, repair.target)) {
    ctx.state.repairs.delete(found.key);
    return repairDeparted(ctx);
  }
  keepContent(ctx.state, found.key, answer.content);
  return [repairStore(repair, found.copy, answer.content)];
}

/** Repairs reading from or storing on a PmidNode that just left can never finish: they start again. */
export function abandonRepairsVia(ctx: HandlerContext<DataManagerState>, departed: readonly Name[]): void {
  const gone = new Set(departed.map(toHex));
  for (const [key, repair] of ctx.state.repairs) {
    const source = repair.sources[0];
    if (gone.has(toHex(repair.target)) || (source !== undefined && gone.has(toHex(source.pmid)))) ctx.state.repairs.delete(key);
  }
}

/** The new holder's PmidManagers answered (HolderResult): the repair is over, others may start. */
export function repairAnswered(ctx: HandlerContext<DataManagerState>, name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array): void {
  const key = copyKey(name, copy);
  const repair = ctx.state.repairs.get(key);
  if (repair !== undefined && nameEquals(repair.target, pmid as Name)) ctx.state.repairs.delete(key);
}
