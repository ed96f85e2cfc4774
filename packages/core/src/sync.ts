import { type GroupParameters, syncResolution } from './config.js';
import { type Name, toHex } from './name.js';
import type { EntryStore } from './ports.js';
import type { MatrixChange } from './routing.js';
import { SweepSchedule } from './sweep-schedule.js';
import {
  type AppliedEntry,
  type ArrivalPlace,
  isPlace,
  PLACE_MARKER,
  type RecastVote,
  type SlotVote,
  type SyncAction,
  type SyncEntry,
  type SyncResult,
  WITHDRAWN,
} from './sync-entry.js';
import { appliedByNaeIn, byNaeIn, placesIn, votesByNaeIn } from './sync-reads.js';
import { type SyncArrival, SyncSlots } from './sync-slots.js';
import { sweepSync } from './sync-sweep.js';

// The entries, their keys and slots live in sync-entry.ts; the reads over one pass of the store in sync-reads.ts;
// each slot's applied action and this node's vote in sync-slots.ts.
export {
  type AppliedEntry,
  type ArrivalPlace,
  type RecastVote,
  type SlotVote,
  type SyncAction,
  type SyncEntry,
  type SyncResult,
  syncKey,
  syncSlot,
} from './sync-entry.js';

/**
 * Sy: an unresolved action is shared with the group; it resolves once floor(K/2)+1 members have
 * seen it, stays until every member of the close group has (unanimous) and is dropped after
 * `syncAttemptsBeforeDrop` sends without resolving (by the member that proposed it) or
 * `firewallMemoryMs` after it came (by a member that only heard of it).
 */
export class Sync {
  readonly #self: string;
  /** Ticks skip reading the entries while nothing in them is due (a replica at rest reads nothing). */
  readonly #sweeps = new SweepSchedule();
  readonly #store: EntryStore<SyncEntry>;
  readonly #params: GroupParameters;
  readonly #slots: SyncSlots;

  readonly #now: () => number;

  constructor(self: Name, store: EntryStore<SyncEntry>, params: GroupParameters, now: () => number = Date.now) {
    this.#self = toHex(self);
    this.#store = this.#sweeps.watch(store);
    this.#params = params;
    this.#now = now;
    this.#slots = new SyncSlots(this.#self, this.#store, now);
  }

  /** This node received the action from the previous persona and has seen it. */
  propose(key: string, action: SyncAction, closeGroup: readonly Name[]): Promise<SyncResult> {
    return this.#add(key, action, [this.#self], 'propose', closeGroup);
  }

  /**
   * Another member (`from`) says it has seen the action; this node now has too. `resent`: `from`
   * sends it again, so it still waits for the action to resolve there (it missed its peers' Syncs:
   * down, or they were lost); if this node applied it and still remembers it, it answers (`answer`),
   * once per member: peers that resolved the action no longer send it, so nothing else would.
   */
  receive(key: string, action: SyncAction, from: Name, closeGroup: readonly Name[], resent = false): Promise<SyncResult> {
    return this.#add(key, action, [toHex(from), this.#self], 'receive', closeGroup, resent ? toHex(from) : undefined);
  }

  /**
   * Account transfer: a member handed this node an unresolved entry of an NAE it now shares. The
   * members it vouches for (`seenBy` as `byNae` hands it over: the sender only if it told the group)
   * that are in the close group as it is now, and this node (at the end), have seen it; it resolves
   * here like any entry once floor(K/2)+1 have. A new entry is one this node now tells the group of.
   */
  adopt(key: string, action: SyncAction, seenBy: readonly string[], closeGroup: readonly Name[]): Promise<SyncResult> {
    const members = new Set(closeGroup.map(toHex));
    // Only members of the close group as it is now count: one that left it (the member a join
    // displaced, still a valid sender) has seen the action but no longer holds it.
    const seen = seenBy.filter((m) => members.has(m) && m !== this.#self);
    seen.push(this.#self);
    return this.#add(key, action, seen, 'adopt', closeGroup);
  }

  async #add(
    key: string,
    action: SyncAction,
    seen: string[],
    how: SyncArrival,
    closeGroup: readonly Name[],
    waiting?: string,
  ): Promise<SyncResult> {
    const existing = await this.#store.get(key);
    const answer = waiting !== undefined && existing !== undefined && (await this.#answers(key, existing, action, waiting));
    const answered = answer ? { answered: [...(existing.answered ?? []), waiting] } : {};
    if (existing?.completedAt !== undefined) {
      if (!answer) return { resolvedNow: false, entry: undefined };
      await this.#store.set(key, { ...existing, ...answered });
      return { resolvedNow: false, entry: undefined, answer };
    }
    if (!(existing?.resolved ?? false) && (await this.#slots.takenByOther(key))) {
      // Another action of its slot was applied here: the request is decided, this one never will
      // be. Settled (a tombstone), so it is neither handed over nor applied by newcomers that adopt it.
      await this.#store.set(key, {
        ...(existing ?? { key, action, seenBy: [], attempts: 0, originatedHere: false }),
        resolved: false,
        completedAt: this.#now(),
      });
      return { resolvedNow: false, entry: undefined };
    }
    if (existing !== undefined && (existing.action.type !== action.type || existing.action.payload !== action.payload)) {
      // Same key, different parameters: not the same action; the first one stands.
      return { resolvedNow: false, entry: existing };
    }
    const vote = await this.#slots.vote(key, action, how);
    const seenBy = [...(existing?.seenBy ?? [])];
    for (const member of seen) if ((member !== this.#self || vote.counts) && !seenBy.includes(member)) seenBy.push(member);
    const wasResolved = existing?.resolved ?? false;
    const resolved = wasResolved || seenBy.length >= syncResolution(this.#params);
    // Resolved here on peers' Syncs and this node's own vote, which they do not know of: it told
    // no one, and its own copy of the request may never come (refused: its view did not know the
    // sender yet), so the proposers would never count it. Applied, its vote is final: it tells.
    // (A vote still open is not told: its own copy of the request may yet move it.)
    const resolvedUntold =
      how === 'receive' && vote.counts && resolved && !wasResolved && !(existing?.told ?? false) && !(existing?.originatedHere ?? false);
    const tell = vote.recast || resolvedUntold || (how === 'adopt' && existing === undefined && vote.counts);
    const entry: SyncEntry = {
      key,
      action,
      seenBy,
      resolved,
      attempts: existing?.attempts ?? 0,
      originatedHere: (existing?.originatedHere ?? false) || how === 'propose',
      told: (existing?.told ?? false) || how === 'propose' || tell,
      seenAt: existing?.seenAt ?? this.#now(),
      ...(existing?.answered === undefined ? {} : { answered: existing.answered }),
      ...answered,
    };
    const members = closeGroup.map(toHex);
    const unanimous = resolved && members.length > 0 && members.every((m) => seenBy.includes(m));
    await this.#store.set(key, unanimous ? { ...entry, completedAt: this.#now() } : entry);
    // Resolved here, but applied only if no other action of its slot was: each member applies one
    // decision per request and index. (With self-counting, the variant the others proposed can
    // resolve here as well as this node's own; an account transfer can bring more votes for one.)
    const resolvedNow = resolved && !wasResolved && (await this.#slots.claim(key, action));
    return {
      resolvedNow,
      entry: unanimous ? undefined : entry,
      ...(tell ? { tell } : {}),
      ...(vote.conflicting ? { conflicting: true } : {}),
      ...(answer ? { answer } : {}),
    };
  }

  /**
   * Applying the resolved action failed on transient trouble (its store was unreachable, so it
   * changed nothing): open again, with the votes it had, so the next Sync of it (a peer's, or this
   * node's own resend) resolves and applies it, rather than the group agreeing on it and no one applying it.
   */
  async reopen(key: string): Promise<void> {
    const entry = await this.#store.get(key);
    if (entry === undefined) return;
    const { completedAt: _completed, ...open } = entry;
    await this.#store.set(key, { ...open, resolved: false });
    await this.#slots.release(key);
  }

  /** This node applied the action (or took it as applied) and has not answered `member` for it yet. */
  async #answers(key: string, existing: SyncEntry, action: SyncAction, member: string): Promise<boolean> {
    const same = existing.action.type === action.type && existing.action.payload === action.payload;
    if (!same || !existing.resolved || (existing.answered ?? []).includes(member)) return false;
    return !(await this.#slots.takenByOther(key));
  }

  /**
   * Account transfer wrote the NAE's record here: the votes this node cast on its still-open
   * actions were cast without it (a DataManager that entered the group proposing CreateRecord for
   * a chunk its record says exists), so they are withdrawn: no longer counted here, nor resent.
   * Where its peers proposed another action of the slot, this node's vote goes to the one most
   * members have seen; otherwise to the next one it hears of. The runtime tells the group of each
   * re-cast vote and applies what it resolves. `votes` are the NAE's, from `votesByNae`.
   */
  async withdrawUninformed(votes: readonly SlotVote[], closeGroup: readonly Name[]): Promise<RecastVote[]> {
    const recast: RecastVote[] = [];
    const open = async (key: string): Promise<SyncEntry | undefined> => {
      const entry = await this.#store.get(key);
      return entry === undefined || entry.resolved || entry.completedAt !== undefined ? undefined : entry;
    };
    for (const vote of votes) {
      const marker = await this.#store.get(vote.marker);
      if (marker === undefined || marker.key.startsWith(WITHDRAWN)) continue;
      const voted = await open(marker.key);
      if (voted === undefined) continue;
      await this.#store.set(vote.marker, this.#slots.marker(`${WITHDRAWN}${marker.key}`, marker.action));
      await this.#store.set(marker.key, { ...voted, seenBy: voted.seenBy.filter((m) => m !== this.#self), originatedHere: false });
      let best: SyncEntry | undefined;
      for (const key of vote.keys) {
        const entry = key === marker.key ? undefined : await open(key);
        if (entry !== undefined && (best === undefined || entry.seenBy.length > best.seenBy.length)) best = entry;
      }
      if (best !== undefined)
        recast.push({
          key: best.key,
          action: best.action,
          result: await this.#add(best.key, best.action, [this.#self], 'receive', closeGroup),
        });
    }
    return recast;
  }

  /**
   * This node's votes by NAE (hex), each with the keys of its slot's actions, in one pass over the
   * store: what `withdrawUninformed` needs for the records an account-transfer batch writes.
   */
  async votesByNae(): Promise<Map<string, SlotVote[]>> {
    return votesByNaeIn(await this.#store.entries());
  }

  /**
   * Where the entry stands here: still open, resolved (applied, or taken as applied), or gone
   * without being applied here (dropped, forgotten, or another action of its slot took it).
   */
  async standing(key: string): Promise<'open' | 'resolved' | 'gone'> {
    const entry = await this.#store.get(key);
    if (entry === undefined) return 'gone';
    if (entry.resolved) return 'resolved';
    return entry.completedAt !== undefined || (await this.#slots.takenByOther(key)) ? 'gone' : 'open';
  }

  /**
   * Whether the group still waits for this node's own proposal of the entry: it is in the
   * container (not every member has seen it) and this node knows it only from its peers' syncs.
   */
  async awaitsOwnProposal(key: string): Promise<boolean> {
    const entry = await this.#store.get(key);
    return entry !== undefined && entry.completedAt === undefined && !entry.originatedHere;
  }

  /** The entry while it is in the container (not once every member has seen it). */
  async get(key: string): Promise<SyncEntry | undefined> {
    const entry = await this.#store.get(key);
    return entry?.completedAt === undefined ? entry : undefined;
  }

  /**
   * Entries this node should send (again) to its group: the unresolved ones it originated. Each
   * call counts one attempt; entries past the limit are dropped and returned as `dropped`, as are
   * open entries it did not originate once older than the firewall's memory.
   */
  async due(): Promise<{ send: SyncEntry[]; dropped: SyncEntry[] }> {
    const now = this.#now();
    if (!this.#sweeps.due(now)) return { send: [], dropped: [] };
    const { send, dropped, wakeAt } = await sweepSync(this.#store, this.#params, this.#now, now);
    this.#sweeps.quietUntil(wakeAt);
    return { send, dropped };
  }

  /**
   * On a matrix change: entries this node is no longer responsible for are dropped; in the others
   * the id of a member that left the close group is replaced by the member that took its place.
   */
  async onMatrixChange(change: MatrixChange, naeOf: (entry: SyncEntry) => Name): Promise<void> {
    for (const key of await this.#store.keys()) {
      const entry = isPlace(key) ? undefined : await this.#store.get(key);
      if (entry === undefined || entry.completedAt !== undefined) continue;
      const holders = change.checkHolders(naeOf(entry));
      if (!holders.responsible) {
        await this.#store.delete(key);
        continue;
      }
      const replacements = holders.newHolders.map(toHex);
      const seenBy = entry.seenBy.map((member) => {
        if (!holders.oldHolders.some((old) => toHex(old) === member)) return member;
        const next = replacements.find((r) => !entry.seenBy.includes(r));
        if (next === undefined) return member;
        replacements.splice(replacements.indexOf(next), 1);
        return next;
      });
      await this.#store.set(key, { ...entry, seenBy });
    }
  }

  /**
   * For a round of account transfer, in one pass over the store, by NAE (hex): the unresolved
   * entries as they are handed over, and the entries this node applied and still remembers
   * (resolved, in the container or kept as a tombstone). A handed-over entry's `seenBy` lists this
   * node only if it told the group: several members that each only received one member's Sync
   * would otherwise, put together at the receiver, resolve an action only that one had seen.
   * `stillToApply` are keys of actions resolved here but not applied yet (about to be, or held for
   * their turn): the records handed over now do not hold them, so they go as unresolved entries.
   */
  async byNae(
    stillToApply: ReadonlySet<string> = new Set(),
  ): Promise<{ unresolved: Map<string, SyncEntry[]>; applied: Map<string, SyncEntry[]> }> {
    return byNaeIn(await this.#store.entries(), this.#self, stillToApply);
  }

  /**
   * The action this node applied (or took as applied) in each action slot it remembers, by NAE
   * (hex), in one pass over the store: what a record it is sent holds, or does not hold yet.
   */
  async appliedByNae(): Promise<Map<string, AppliedEntry[]>> {
    return appliedByNaeIn(await this.#store.entries());
  }

  /**
   * Account transfer wrote a record whose value already holds this action (the members that
   * agreed on it had applied it): it is done here too, kept as a tombstone like a completed entry,
   * so no later copy of it (a Sync, an adopted entry) nor another action of its slot applies it
   * again. True when this node had applied neither it nor another action of its slot itself.
   */
  async markApplied(key: string, action: SyncAction): Promise<boolean> {
    const existing = await this.#store.get(key);
    if (existing?.resolved || existing?.completedAt !== undefined) return false;
    const claimed = await this.#slots.claim(key, action);
    await this.#store.set(key, {
      key,
      action,
      seenBy: existing?.seenBy ?? [],
      resolved: true,
      attempts: existing?.attempts ?? 0,
      originatedHere: false,
      completedAt: this.#now(),
    });
    return claimed;
  }

  /** The ordered actions' places kept here, each with its sync key and action. */
  async places(): Promise<SyncEntry[]> {
    return placesIn(await this.#store.entries());
  }

  /** Keeps (or moves) an ordered action's place, under its sync key. */
  keepPlace(key: string, action: SyncAction, place: ArrivalPlace): Promise<void> {
    return this.#store.set(`${PLACE_MARKER}${key}`, {
      key,
      action,
      seenBy: [],
      resolved: false,
      attempts: 0,
      originatedHere: false,
      place,
    });
  }

  /** The action was applied or settled here: its place is no longer kept. */
  forgetPlace(key: string): Promise<void> {
    return this.#store.delete(`${PLACE_MARKER}${key}`);
  }
}
