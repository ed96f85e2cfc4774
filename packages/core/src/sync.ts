import { type GroupParameters, syncResolution } from './config.js';
import { type Name, sha512, toHex } from './name.js';
import type { EntryStore } from './ports.js';
import type { MatrixChange } from './routing.js';
import { SweepSchedule } from './sweep-schedule.js';

/** An action waiting for the group's agreement: the function (type) and its parameters. */
export interface SyncAction {
  readonly type: string;
  /** The NAE whose close group must agree, as hex. */
  readonly nae: string;
  /** Encoded parameters, base64. */
  readonly payload: string;
}

export interface SyncEntry {
  readonly key: string;
  readonly action: SyncAction;
  /** Members that have seen the entry, in order; this node appends itself at the end when it adopts a remote entry. */
  readonly seenBy: readonly string[];
  readonly resolved: boolean;
  /** Times this node has sent the entry to its group. */
  readonly attempts: number;
  /** This node received the action from the previous persona, so it is the one that sends it on. */
  readonly originatedHere: boolean;
  /**
   * This node told its group it has seen the action: it proposed it, or sent it on when it adopted
   * it in an account transfer. Only then does it vouch for itself when it hands the entry over; a
   * member that only received another's Sync lists itself here, but has not seen the action.
   */
  readonly told?: boolean;
  /**
   * When this node first recorded the entry (ms). An open entry it did not originate (it knows the
   * action only from its peers' Syncs or an account transfer) is dropped `firewallMemoryMs` later,
   * and an applied one that some member never confirmed becomes a tombstone then: no one resends
   * either, so nothing else would ever take them out of the container.
   */
  readonly seenAt?: number;
  /**
   * Every member of the close group has seen it: it is out of the container. It is kept as a
   * tombstone until `completedAt` + firewall memory so a late or duplicated copy is never applied twice.
   * Also set, with `resolved` false, on an action another action of whose slot was applied here:
   * settled, never applied, never handed over.
   */
  readonly completedAt?: number;
  /** Only on a place record (PLACE_MARKER): an ordered action's place in this member's arrival order. */
  readonly place?: ArrivalPlace;
}

/**
 * Where an ordered action stands on this member (runtime/arrival-order.ts), kept beside the sync
 * entries until it is applied or settled, so a restarted replica rebuilds its queues in one order.
 */
export interface ArrivalPlace {
  /** Its request's turn among this member's arrivals; absent while it was agreed before its request came. */
  readonly seq?: number;
  /** The group agreed it (when, and the trace it is applied in); absent while it waits for agreement. */
  readonly agreed?: { readonly at: number; readonly trace: Record<string, string> };
}

export interface SyncResult {
  /** The entry reached floor(K/2)+1 members with this update: apply it now (happens once). */
  readonly resolvedNow: boolean;
  readonly entry: SyncEntry | undefined;
  /**
   * This node now counts itself for the action where its peers do not know it yet: peers' Syncs
   * resolved it here before its own copy of the request came (which may never come), it withdrew
   * a vote it had cast without the NAE's record, or it took a handed-over entry it had not seen.
   * It sends the action's Sync to its group, or they would never count it.
   */
  readonly tell?: boolean;
  /**
   * This node voted for another action of the slot: the sender decided the request differently
   * (a newcomer without the record). The runtime sends the NAE's records still queued for
   * newcomers at once, so the split does not wait for their turn in the transfer queue.
   */
  readonly conflicting?: boolean;
}

/** A vote this node cast in a slot (its marker's store key), with the keys of the slot's actions it knew of when read. */
export interface SlotVote {
  readonly marker: string;
  readonly keys: readonly string[];
}

/** Outcome of a vote this node re-cast (`withdrawUninformed`) for another action of the slot. */
export interface RecastVote {
  readonly key: string;
  readonly action: SyncAction;
  readonly result: SyncResult;
}

/** Hex characters at the start of a sync key that name its slot: the request and the action's index in its outcome. */
const SLOT_CHARS = 48;
const SLOT_MARKER = 'slot:';
/**
 * The action of a slot this node counts itself for (its vote): one per slot, so two members
 * that decided a request differently cannot each resolve both actions by counting themselves
 * for whichever Sync they get. A vote withdrawn (`withdrawUninformed`) keeps the key it was
 * cast for behind WITHDRAWN: it is never cast for that action again.
 */
const VOTE_MARKER = 'vote:';
const WITHDRAWN = 'withdrawn:';
/** An ordered action's place (ArrivalPlace) under its sync key: neither an entry nor a marker, left to ArrivalOrder. */
const PLACE_MARKER = 'place:';
const isPlace = (key: string): boolean => key.startsWith(PLACE_MARKER);
const isMarker = (key: string): boolean => key.startsWith(SLOT_MARKER) || key.startsWith(VOTE_MARKER) || isPlace(key);

/**
 * The sync entry of a request's `index`th action: the same on every member that handles the
 * request. It starts with the action's slot (request and index, SLOT_CHARS characters), then its
 * type: members that decided one request differently (a DataManager without the record yet
 * proposes CreateRecord where the others propose AddSubscriber) have entries of one slot, and a
 * member applies one of them.
 */
export function syncKey(request: Uint8Array, index: number, actionType: string): string {
  const slot = toHex(sha512(request, Uint8Array.of(index))).slice(0, SLOT_CHARS);
  return slot + toHex(sha512(new TextEncoder().encode(actionType))).slice(0, 64 - SLOT_CHARS);
}

/** The slot of a key made by syncKey; undefined for any other key (then the entry is its own slot). */
const slotOf = (key: string): string | undefined => (/^[0-9a-f]{64}$/.test(key) ? key.slice(0, SLOT_CHARS) : undefined);

/** What two keys of one request's action slot have in common (syncKey); any other key is a slot of its own. */
export const syncSlot = (key: string): string => slotOf(key) ?? key;

/**
 * Over one read of the store: whether an entry is an open action whose slot another action took
 * here (applied, or taken as applied): its request is decided, so it never resolves.
 */
function outvotedIn(all: readonly [string, SyncEntry][]): (key: string, entry: SyncEntry) => boolean {
  const taken = new Map<string, string>();
  for (const [key, entry] of all) if (key.startsWith(SLOT_MARKER)) taken.set(key.slice(SLOT_MARKER.length), entry.key);
  return (key, entry) => {
    const slot = slotOf(key);
    const by = slot === undefined ? undefined : taken.get(slot);
    return !entry.resolved && entry.completedAt === undefined && by !== undefined && by !== key;
  };
}

/** An action this node applied, or took as applied, under its sync key. */
export interface AppliedEntry {
  readonly key: string;
  readonly action: SyncAction;
}

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

  readonly #now: () => number;

  constructor(self: Name, store: EntryStore<SyncEntry>, params: GroupParameters, now: () => number = Date.now) {
    this.#self = toHex(self);
    this.#store = this.#sweeps.watch(store);
    this.#params = params;
    this.#now = now;
  }

  /** This node received the action from the previous persona and has seen it. */
  propose(key: string, action: SyncAction, closeGroup: readonly Name[]): Promise<SyncResult> {
    return this.#add(key, action, [this.#self], 'propose', closeGroup);
  }

  /** Another member (`from`) says it has seen the action; this node now has too. */
  receive(key: string, action: SyncAction, from: Name, closeGroup: readonly Name[]): Promise<SyncResult> {
    return this.#add(key, action, [toHex(from), this.#self], 'receive', closeGroup);
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
    how: 'propose' | 'receive' | 'adopt',
    closeGroup: readonly Name[],
  ): Promise<SyncResult> {
    const existing = await this.#store.get(key);
    if (existing?.completedAt !== undefined) return { resolvedNow: false, entry: undefined };
    if (!(existing?.resolved ?? false) && (await this.#slotTakenByOther(key))) {
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
    const vote = await this.#vote(key, action, how);
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
    };
    const members = closeGroup.map(toHex);
    const unanimous = resolved && members.length > 0 && members.every((m) => seenBy.includes(m));
    await this.#store.set(key, unanimous ? { ...entry, completedAt: this.#now() } : entry);
    // Resolved here, but applied only if no other action of its slot was: each member applies one
    // decision per request and index. (With self-counting, the variant the others proposed can
    // resolve here as well as this node's own; an account transfer can bring more votes for one.)
    const resolvedNow = resolved && !wasResolved && (await this.#claimSlot(key, action));
    return {
      resolvedNow,
      entry: unanimous ? undefined : entry,
      ...(tell ? { tell } : {}),
      ...(vote.conflicting ? { conflicting: true } : {}),
    };
  }

  /**
   * Whether this node counts itself for the action, and moves its slot's vote to it. Its own
   * proposal always counts (a vote it cast on another action of the slot from a peer's Sync, never
   * told, moves to it); another's Sync or a handed-over entry counts only while it has no vote in
   * the slot, or withdrew one (`recast`: it must tell the group). A key outside any slot always counts.
   */
  async #vote(
    key: string,
    action: SyncAction,
    how: 'propose' | 'receive' | 'adopt',
  ): Promise<{ counts: boolean; recast: boolean; conflicting?: boolean }> {
    const slot = slotOf(key);
    if (slot === undefined) return { counts: true, recast: false };
    const markerKey = `${VOTE_MARKER}${slot}`;
    const marker = await this.#store.get(markerKey);
    const withdrawn = marker?.key.startsWith(WITHDRAWN) ?? false;
    if (marker?.key === key) return { counts: true, recast: false };
    if (marker?.key === `${WITHDRAWN}${key}`) return { counts: false, recast: false };
    if (marker !== undefined && !withdrawn && how !== 'propose') return { counts: false, recast: false, conflicting: true };
    if (marker !== undefined && !withdrawn) {
      const earlier = await this.#store.get(marker.key);
      if (earlier !== undefined && earlier.completedAt === undefined && !earlier.resolved)
        await this.#store.set(marker.key, { ...earlier, seenBy: earlier.seenBy.filter((m) => m !== this.#self) });
    }
    await this.#store.set(markerKey, this.#marker(key, action));
    return { counts: true, recast: withdrawn && how !== 'propose' };
  }

  /** A marker entry (slot or vote), remembered like a completed entry for the firewall's memory. */
  #marker(key: string, action: SyncAction): SyncEntry {
    return { key, action, seenBy: [], resolved: true, attempts: 0, originatedHere: false, completedAt: this.#now() };
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
      await this.#store.set(vote.marker, this.#marker(`${WITHDRAWN}${marker.key}`, marker.action));
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
    const all = await this.#store.entries();
    const bySlot = new Map<string, string[]>();
    for (const [key] of all) {
      const slot = slotOf(key);
      if (slot !== undefined) bySlot.set(slot, [...(bySlot.get(slot) ?? []), key]);
    }
    const out = new Map<string, SlotVote[]>();
    for (const [key, marker] of all) {
      if (!key.startsWith(VOTE_MARKER) || marker.key.startsWith(WITHDRAWN)) continue;
      const vote = { marker: key, keys: (bySlot.get(key.slice(VOTE_MARKER.length)) ?? []).sort() };
      out.set(marker.action.nae, [...(out.get(marker.action.nae) ?? []), vote]);
    }
    return out;
  }

  /** Another action of the key's slot (syncKey) was applied here, or taken as applied. */
  async #slotTakenByOther(key: string): Promise<boolean> {
    const slot = slotOf(key);
    if (slot === undefined) return false;
    const marker = await this.#store.get(`${SLOT_MARKER}${slot}`);
    return marker !== undefined && marker.key !== key;
  }

  /**
   * Takes the key's slot for it: false when an action of that slot was applied here already. The
   * slot remembers the action that took it (`appliedByNae`) as long as a completed entry is
   * remembered, `firewallMemoryMs`.
   */
  async #claimSlot(key: string, action: SyncAction): Promise<boolean> {
    const slot = slotOf(key);
    if (slot === undefined) return true;
    const marker = `${SLOT_MARKER}${slot}`;
    if ((await this.#store.get(marker)) !== undefined) return false;
    await this.#store.set(marker, this.#marker(key, action));
    return true;
  }

  /**
   * Where the entry stands here: still open, resolved (applied, or taken as applied), or gone
   * without being applied here (dropped, forgotten, or another action of its slot took it).
   */
  async standing(key: string): Promise<'open' | 'resolved' | 'gone'> {
    const entry = await this.#store.get(key);
    if (entry === undefined) return 'gone';
    if (entry.resolved) return 'resolved';
    return entry.completedAt !== undefined || (await this.#slotTakenByOther(key)) ? 'gone' : 'open';
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
    const send: SyncEntry[] = [];
    const dropped: SyncEntry[] = [];
    const now = this.#now();
    if (!this.#sweeps.due(now)) return { send, dropped };
    const memory = this.#params.firewallMemoryMs;
    // When an entry kept as it is next needs this sweep: its time in the firewall's memory is over.
    let wakeAt = Number.POSITIVE_INFINITY;
    const until = (since: number) => {
      wakeAt = Math.min(wakeAt, since + memory + 1);
    };
    // One read of every entry: a tick holds the replica's queue, and resolved entries stay for the
    // firewall's memory (minutes), so a get per key cost a round trip per entry every tick.
    const all = await this.#store.entries();
    const outvoted = outvotedIn(all);
    for (const [key, entry] of all) {
      if (isPlace(key)) continue;
      if (entry?.completedAt !== undefined && this.#now() - entry.completedAt > this.#params.firewallMemoryMs) {
        await this.#store.delete(key);
        continue;
      }
      if (entry !== undefined && outvoted(key, entry)) {
        await this.#store.set(key, { ...entry, completedAt: this.#now() });
        until(this.#now());
        continue;
      }
      if (entry === undefined) continue;
      if (entry.completedAt !== undefined) {
        until(entry.completedAt);
        continue;
      }
      if (entry.resolved || !entry.originatedHere) {
        // No one resends these, so a member that never answers would keep them in the container
        // for good: an applied action some member never saw, or a lone action of a request that
        // never reached this node. They leave it with the firewall's memory: the applied one as a
        // tombstone, the other dropped.
        if (entry.seenAt === undefined) {
          await this.#store.set(key, { ...entry, seenAt: this.#now() });
          until(this.#now());
        } else if (this.#now() - entry.seenAt <= this.#params.firewallMemoryMs) until(entry.seenAt);
        else if (entry.resolved) {
          await this.#store.set(key, { ...entry, completedAt: this.#now() });
          until(this.#now());
        } else {
          await this.#store.delete(key);
          dropped.push(entry);
        }
        continue;
      }
      if (entry.attempts >= this.#params.syncAttemptsBeforeDrop) {
        await this.#store.delete(key);
        dropped.push(entry);
        continue;
      }
      const next = { ...entry, attempts: entry.attempts + 1 };
      await this.#store.set(key, next);
      send.push(next);
      wakeAt = now; // sent again at every tick until it resolves
    }
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
    const unresolved = new Map<string, SyncEntry[]>();
    const applied = new Map<string, SyncEntry[]>();
    const all = await this.#store.entries();
    const outvoted = outvotedIn(all);
    for (const [key, entry] of all) {
      // Slots, and the actions of a slot another action of which was applied here: neither open nor applied.
      if (isMarker(key) || outvoted(key, entry) || (!entry.resolved && entry.completedAt !== undefined)) continue;
      const done = !stillToApply.has(key) && (entry.resolved || entry.completedAt !== undefined);
      const handed = done || entry.told ? entry : { ...entry, seenBy: entry.seenBy.filter((m) => m !== this.#self) };
      const into = done ? applied : unresolved;
      into.set(entry.action.nae, [...(into.get(entry.action.nae) ?? []), handed]);
    }
    return { unresolved, applied };
  }

  /**
   * The action this node applied (or took as applied) in each action slot it remembers, by NAE
   * (hex), in one pass over the store: what a record it is sent holds, or does not hold yet.
   */
  async appliedByNae(): Promise<Map<string, AppliedEntry[]>> {
    const out = new Map<string, AppliedEntry[]>();
    for (const [storeKey, entry] of await this.#store.entries()) {
      if (!storeKey.startsWith(SLOT_MARKER)) continue;
      out.set(entry.action.nae, [...(out.get(entry.action.nae) ?? []), { key: entry.key, action: entry.action }]);
    }
    return out;
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
    const claimed = await this.#claimSlot(key, action);
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
    return (await this.#store.entries()).filter(([key]) => isPlace(key)).map(([, entry]) => entry);
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
