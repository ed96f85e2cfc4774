import { ChunkCopy, checkChunk, copyGroupName, type PutContext } from '@safe/chunks';
import { type HandlerContext, type Name, type Outbound, type Outcome, parseName, sha512, sortByCloseness, toHex } from '@safe/core';
import { toMaidManager, toPmidManager, toPmidNode } from '@safe/messages';
import type { SacrificialEvent } from './farming-rate.js';
import { type GetResponse, send } from './messages.js';
import { copyKey, type DataManagerState, rememberNewest } from './state.js';

const putIdentity = (context: PutContext): string => `${toHex(context.client)}:${context.origin ? toHex(context.origin.request) : ''}`;

/**
 * Remembers a Put that is owed an answer until its copy is stored on enough holders (or cannot
 * be). The holder meant to store it may leave before it does, and the repair that stores the copy
 * elsewhere carries no client: without this the client would never hear back. Bounded like the
 * pending content: the oldest copy's waiters go first.
 */
export function awaitStore(state: DataManagerState, key: string, context: PutContext | null | undefined): void {
  if (context == null) return;
  const waiting = state.waiters.get(key) ?? [];
  if (waiting.some((w) => putIdentity(w) === putIdentity(context))) return;
  rememberNewest(state.waiters, key, [...waiting, context], Math.max(1, state.config.pendingContentLimit));
}

/**
 * What a Put owes once its action is in this member's record: the answer to the client's
 * MaidManagers if the copy is stored on enough holders, or else a wait for that. AddSubscriber's
 * apply ends with it, and it is the `owed` of the Put's actions (CreateRecord, AddSubscriber, a
 * holder's stored answer) for a member whose record came by account transfer with them in it.
 */
export async function oweStoreAnswer(
  ctx: HandlerContext<DataManagerState>,
  name: Uint8Array,
  copy: ChunkCopy,
  context: PutContext | null | undefined,
): Promise<Outcome | undefined> {
  const record = await ctx.state.store.record(name, copy);
  if (record === undefined || context == null) return undefined;
  const stored = (await ctx.state.store.holders(record.id)).filter((h) => h.state === 'stored').length;
  if (stored >= ctx.state.config.copiesPerGroup)
    return { send: tellMaidManagers(context, name, copy, { stored: true, cost: record.size }) };
  awaitStore(ctx.state, copyKey(name, copy), context);
  return undefined;
}

/** The Puts owed an answer now that the copy's store ended: the one the holder's answer carried and every one waiting, each once. */
export function takeOwed(state: DataManagerState, key: string, context: PutContext | null | undefined): PutContext[] {
  const owed = new Map<string, PutContext>();
  for (const waiting of [...(context ? [context] : []), ...(state.waiters.get(key) ?? [])]) owed.set(putIdentity(waiting), waiting);
  state.waiters.delete(key);
  return [...owed.values()];
}

/**
 * The holders for new copies, chosen so that every member of the group picks the same ones
 * (SPEC.md 5a): the live PmidNodes closest to the copy group's name that do not hold it yet, the
 * low-ranked ones last (SPEC.md 3.4 Ranking: their agreed rank, from the shared membership view,
 * is below SAFE_DM_LOW_RANK_PERCENT). Using the copy group's name (not the chunk's) spreads
 * primary, backup and sacrificial copies over different nodes.
 */
export function chooseHolders(
  ctx: HandlerContext<DataManagerState>,
  name: Name,
  copy: ChunkCopy,
  exclude: readonly Uint8Array[],
  count: number,
): Name[] {
  const excluded = new Set(exclude.map(toHex));
  const routing = ctx.routing();
  const closest = sortByCloseness(copyGroupName(name, copy), routing.view('pmid-node').names()).filter((n) => !excluded.has(toHex(n)));
  const lowRank = ctx.state.config.lowRankPercent / 100;
  const lastChoice = (pmid: Name) => routing.agreedRank(pmid, ctx.params.closeGroupSize) < lowRank;
  return [...closest.filter((n) => !lastChoice(n)), ...closest.filter(lastChoice)].slice(0, count);
}

/** A holder's answer to a Get carries the chunk: no error, and content that hashes to its name. */
export function carriesChunk({ name, content, error }: GetResponse): boolean {
  if (error !== '') return false;
  try {
    checkChunk(name, content);
    return true;
  } catch {
    return false;
  }
}

export function isLive(ctx: HandlerContext<DataManagerState>, pmid: Name): boolean {
  return ctx.routing().view('pmid-node').has(pmid);
}

/** Put<Data> ->>>> the holder's PmidManager group. */
export function storeOn(
  pmid: Name,
  name: Uint8Array,
  copy: ChunkCopy,
  content: Uint8Array,
  context: PutContext | null | undefined,
): Outbound {
  return send(toPmidManager.put, { nae: pmid, scope: 'close-group', content }, { name, copy, context });
}

/** Delete<Data> ->>>> the holder's PmidManager group. */
export function deleteFrom(pmid: Name, name: Uint8Array, copy: ChunkCopy): Outbound {
  return send(toPmidManager.delete, { nae: pmid, scope: 'close-group' }, { name, copy });
}

/** A record over `maxHolders` drops its bottom holders (SPEC.md 3.3): each deletes its copy. */
export function deleteTrimmed(trimmed: readonly Name[], name: Uint8Array, copy: ChunkCopy): Outbound[] {
  return trimmed.map((pmid) => deleteFrom(pmid, name, copy));
}

/** How one copy group's store ended: stored at a cost, or not, and why. */
export type StoreOutcome =
  | { readonly stored: true; readonly cost: number }
  | { readonly stored: false; readonly error: string; readonly exists?: boolean };

/**
 * The outcome of one copy group's store, to the client's MaidManagers (who charge on it). Members
 * may apply the holders' answers in different orders, so the answer that completes the copy is
 * not the same action everywhere; the correlation is the client's request instead, so the K
 * members' copies still share one id.
 */
export function tellMaidManagers(
  context: PutContext | null | undefined,
  name: Uint8Array,
  copy: ChunkCopy,
  outcome: StoreOutcome,
): Outbound[] {
  if (context == null || context.client.length === 0) return [];
  const copyGroup = copyGroupName(parseName(name, 'chunk name'), copy);
  const correlation = sha512(copyGroup, context.origin?.request ?? new Uint8Array(0));
  return [
    send(
      toMaidManager.putResponse,
      { nae: parseName(context.client, 'client'), scope: 'close-group', as: copyGroup, correlation },
      {
        name,
        copy,
        client: context.client,
        origin: context.origin,
        stored: outcome.stored,
        error: outcome.stored ? '' : outcome.error,
        cost: outcome.stored ? outcome.cost : 0,
        exists: !outcome.stored && outcome.exists === true,
      },
    ),
  ];
}

/** The Get<Data> a DataManager member sends one holder (node-scoped: the PmidNode answers it alone). */
export function askHolder(pmid: Name, name: Uint8Array, copy: ChunkCopy = ChunkCopy.PRIMARY): Outbound {
  return send(toPmidNode.get, { nae: pmid, scope: 'node' }, { name, copy });
}

/**
 * The sacrificial copies are the network's measuring stick: their outcomes (stored, not stored,
 * deleted for room) move the farming rate (SPEC.md 3.3).
 */
export async function moveFarmingRate(ctx: HandlerContext<DataManagerState>, event: SacrificialEvent): Promise<void> {
  const { rate } = await ctx.state.store.recordSacrificial(ctx.state.config.farmingPolicy, event);
  ctx.log.debug({ event, rate, policy: ctx.state.config.farmingPolicy }, 'farming rate moved');
}
