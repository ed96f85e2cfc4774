// Reads over one pass of a Sync's store (its entries as `EntryStore.entries()` gives them): what
// the account-transfer round and the sweep need to know of every entry at once.
import {
  type AppliedEntry,
  isMarker,
  isPlace,
  SLOT_MARKER,
  type SlotVote,
  type SyncEntry,
  slotOf,
  VOTE_MARKER,
  WITHDRAWN,
} from './sync-entry.js';

type Entries = readonly (readonly [string, SyncEntry])[];

/**
 * Over one read of the store: whether an entry is an open action whose slot another action took
 * here (applied, or taken as applied): its request is decided, so it never resolves.
 */
export function outvotedIn(all: Entries): (key: string, entry: SyncEntry) => boolean {
  const taken = new Map<string, string>();
  for (const [key, entry] of all) if (key.startsWith(SLOT_MARKER)) taken.set(key.slice(SLOT_MARKER.length), entry.key);
  return (key, entry) => {
    const slot = slotOf(key);
    const by = slot === undefined ? undefined : taken.get(slot);
    return !entry.resolved && entry.completedAt === undefined && by !== undefined && by !== key;
  };
}

/** `Sync.votesByNae`: the votes not withdrawn, by NAE, each with the keys of its slot's actions. */
export function votesByNaeIn(all: Entries): Map<string, SlotVote[]> {
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

/** `Sync.byNae` on the member `self` (hex): the entries it hands over, unresolved and applied, by NAE. */
export function byNaeIn(
  all: Entries,
  self: string,
  stillToApply: ReadonlySet<string>,
): { unresolved: Map<string, SyncEntry[]>; applied: Map<string, SyncEntry[]> } {
  const unresolved = new Map<string, SyncEntry[]>();
  const applied = new Map<string, SyncEntry[]>();
  const outvoted = outvotedIn(all);
  for (const [key, entry] of all) {
    // Slots, and the actions of a slot another action of which was applied here: neither open nor applied.
    if (isMarker(key) || outvoted(key, entry) || (!entry.resolved && entry.completedAt !== undefined)) continue;
    const done = !stillToApply.has(key) && (entry.resolved || entry.completedAt !== undefined);
    const handed = done || entry.told ? entry : { ...entry, seenBy: entry.seenBy.filter((m) => m !== self) };
    const into = done ? applied : unresolved;
    into.set(entry.action.nae, [...(into.get(entry.action.nae) ?? []), handed]);
  }
  return { unresolved, applied };
}

/** `Sync.appliedByNae`: the action that took each slot, by NAE. */
export function appliedByNaeIn(all: Entries): Map<string, AppliedEntry[]> {
  const out = new Map<string, AppliedEntry[]>();
  for (const [storeKey, entry] of all) {
    if (!storeKey.startsWith(SLOT_MARKER)) continue;
    out.set(entry.action.nae, [...(out.get(entry.action.nae) ?? []), { key: entry.key, action: entry.action }]);
  }
  return out;
}

/** `Sync.places`: the place records, each with its sync key and action. */
export function placesIn(all: Entries): SyncEntry[] {
  return all.filter(([key]) => isPlace(key)).map(([, entry]) => entry);
}
