import { sha512, toHex } from './name.js';

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
  /**
   * Members whose resent Sync this node answered with its own once it had applied the action
   * (`Sync.receive`): each is answered once, so a member that stays behind causes no storm.
   */
  readonly answered?: readonly string[];
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
  /**
   * The sender resent its Sync (it still waits) and this node applied the action: it sends its own
   * Sync of the action to that sender alone, as an answer, which is never answered in turn.
   */
  readonly answer?: boolean;
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
export const SLOT_MARKER = 'slot:';
/**
 * The action of a slot this node counts itself for (its vote): one per slot, so two members
 * that decided a request differently cannot each resolve both actions by counting themselves
 * for whichever Sync they get. A vote withdrawn (`withdrawUninformed`) keeps the key it was
 * cast for behind WITHDRAWN: it is never cast for that action again.
 */
export const VOTE_MARKER = 'vote:';
export const WITHDRAWN = 'withdrawn:';
/** An ordered action's place (ArrivalPlace) under its sync key: neither an entry nor a marker, left to ArrivalOrder. */
export const PLACE_MARKER = 'place:';
export const isPlace = (key: string): boolean => key.startsWith(PLACE_MARKER);
export const isMarker = (key: string): boolean => key.startsWith(SLOT_MARKER) || key.startsWith(VOTE_MARKER) || isPlace(key);

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
export const slotOf = (key: string): string | undefined => (/^[0-9a-f]{64}$/.test(key) ? key.slice(0, SLOT_CHARS) : undefined);

/** What two keys of one request's action slot have in common (syncKey); any other key is a slot of its own. */
export const syncSlot = (key: string): string => slotOf(key) ?? key;

/** An action this node applied, or took as applied, under its sync key. */
export interface AppliedEntry {
  readonly key: string;
  readonly action: SyncAction;
}
