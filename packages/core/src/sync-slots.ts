import type { EntryStore } from './ports.js';
import { SLOT_MARKER, type SyncAction, type SyncEntry, slotOf, VOTE_MARKER, WITHDRAWN } from './sync-entry.js';

/** How an entry reached this node: its own proposal, a peer's Sync, or an account transfer. */
export type SyncArrival = 'propose' | 'receive' | 'adopt';

/**
 * The slots of a request's actions (syncKey): each member applies one action per slot (the slot
 * marker) and counts itself for one (the vote marker). Markers live in the sync store beside the entries.
 */
export class SyncSlots {
  readonly #self: string;
  readonly #store: EntryStore<SyncEntry>;
  readonly #now: () => number;

  constructor(self: string, store: EntryStore<SyncEntry>, now: () => number) {
    this.#self = self;
    this.#store = store;
    this.#now = now;
  }

  /**
   * Whether this node counts itself for the action, and moves its slot's vote to it. Its own
   * proposal always counts (a vote it cast on another action of the slot from a peer's Sync, never
   * told, moves to it); another's Sync or a handed-over entry counts only while it has no vote in
   * the slot, or withdrew one (`recast`: it must tell the group). A key outside any slot always counts.
   */
  async vote(key: string, action: SyncAction, how: SyncArrival): Promise<{ counts: boolean; recast: boolean; conflicting?: boolean }> {
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
    await this.#store.set(markerKey, this.marker(key, action));
    return { counts: true, recast: withdrawn && how !== 'propose' };
  }

  /** A marker entry (slot or vote), remembered like a completed entry for the firewall's memory. */
  marker(key: string, action: SyncAction): SyncEntry {
    return { key, action, seenBy: [], resolved: true, attempts: 0, originatedHere: false, completedAt: this.#now() };
  }

  /** Another action of the key's slot (syncKey) was applied here, or taken as applied. */
  async takenByOther(key: string): Promise<boolean> {
    const slot = slotOf(key);
    if (slot === undefined) return false;
    const marker = await this.#store.get(`${SLOT_MARKER}${slot}`);
    return marker !== undefined && marker.key !== key;
  }

  /** Frees the key's slot if the key holds it (its action was not applied after all). */
  async release(key: string): Promise<void> {
    const slot = slotOf(key);
    if (slot === undefined) return;
    const marker = `${SLOT_MARKER}${slot}`;
    if ((await this.#store.get(marker))?.key === key) await this.#store.delete(marker);
  }

  /**
   * Takes the key's slot for it: false when an action of that slot was applied here already. The
   * slot remembers the action that took it (`appliedByNae`) as long as a completed entry is
   * remembered, `firewallMemoryMs`.
   */
  async claim(key: string, action: SyncAction): Promise<boolean> {
    const slot = slotOf(key);
    if (slot === undefined) return true;
    const marker = `${SLOT_MARKER}${slot}`;
    if ((await this.#store.get(marker)) !== undefined) return false;
    await this.#store.set(marker, this.marker(key, action));
    return true;
  }
}
