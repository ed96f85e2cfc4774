import { type GroupParameters, transferAgreement } from './config.js';
import { type Name, sha512, toHex } from './name.js';
import type { EntryStore } from './ports.js';
import { SweepSchedule } from './sweep-schedule.js';

/** An action a sender has applied to the record it hands over: its sync key, type and parameters (base64). */
export interface AppliedAction {
  readonly key: string;
  readonly type: string;
  readonly payload: string;
}

export interface TransferVotes {
  /** value hash (hex) → senders (hex) that sent that value */
  readonly votes: Readonly<Record<string, readonly string[]>>;
  /** sender (hex) → the actions whose effect that sender's value holds; not kept once written */
  readonly applied?: Readonly<Record<string, readonly AppliedAction[]>>;
  readonly written: boolean;
  /** When the first copy of this round came (ms): a round that does not agree in time is pulled afresh. */
  readonly since?: number;
}

/**
 * Account transfer: a node that joins a group is sent the records it is now responsible for; it
 * writes a record once (K+1)/2 members sent the same value, and only once. A minority value, or a
 * sender that already voted, changes nothing. The caller checks that senders are members of the
 * record's close group before offering their copies.
 */
export class AccountTransfer {
  readonly #store: EntryStore<TransferVotes>;
  /** Ticks skip reading the votes while no open record can have stalled yet. */
  readonly #sweeps = new SweepSchedule();
  readonly #params: GroupParameters;
  readonly #now: () => number;

  constructor(store: EntryStore<TransferVotes>, params: GroupParameters, now: () => number = Date.now) {
    this.#store = this.#sweeps.watch(store);
    this.#params = params;
    this.#now = now;
  }

  /**
   * Counts `sender`'s copy of the record. When it makes `value` agreed (write it now), returns the
   * actions the agreeing senders said their value holds (`applied`, one per sync key): they all
   * sent the same value, so each of those actions is in it. Undefined otherwise.
   */
  async offer(
    recordKey: string,
    sender: Name,
    value: Uint8Array,
    applied: readonly AppliedAction[] = [],
  ): Promise<{ readonly applied: readonly AppliedAction[] } | undefined> {
    const current = (await this.#store.get(recordKey)) ?? { votes: {}, written: false, since: this.#now() };
    if (current.written) return undefined;
    const senderHex = toHex(sender);
    if (Object.values(current.votes).some((senders) => senders.includes(senderHex))) return undefined;
    const valueKey = toHex(sha512(value));
    const senders = [...(current.votes[valueKey] ?? []), senderHex];
    const votes = { ...current.votes, [valueKey]: senders };
    const appliedBy = { ...current.applied, [senderHex]: [...applied] };
    if (senders.length < transferAgreement(this.#params)) {
      await this.#store.set(recordKey, { votes, applied: appliedBy, written: false, since: current.since ?? this.#now() });
      return undefined;
    }
    await this.#store.set(recordKey, { votes, written: true });
    const byKey = new Map(senders.flatMap((member) => appliedBy[member] ?? []).map((act) => [act.key, act]));
    return { applied: [...byKey.values()] };
  }

  /**
   * Records whose copies have not agreed `olderThanMs` after the first came (senders had different
   * values while it changed under them, or too few of them sent it), at most `limit`, oldest first:
   * the receiver forgets their votes and pulls them afresh from the close group (SPEC.md 4).
   */
  async stalled(olderThanMs: number, limit: number): Promise<string[]> {
    const now = this.#now();
    if (!this.#sweeps.due(now)) return [];
    const cutoff = now - olderThanMs;
    const open = [...(await this.#store.entries())].filter(([, votes]) => !votes.written);
    const stalled = open
      .filter(([, votes]) => (votes.since ?? Number.NEGATIVE_INFINITY) <= cutoff)
      .sort(([, a], [, b]) => (a.since ?? 0) - (b.since ?? 0))
      .slice(0, limit)
      .map(([key]) => key);
    // Stalled records stay due until they are forgotten; the rest not before the oldest one's time is up.
    const waiting = open.filter(([, votes]) => (votes.since ?? Number.NEGATIVE_INFINITY) > cutoff);
    const wakeAt = stalled.length > 0 ? now : Math.min(...waiting.map(([, votes]) => (votes.since as number) + olderThanMs));
    this.#sweeps.quietUntil(wakeAt);
    return stalled;
  }

  /** Forgets a record's votes (after the transfer window, or when the record is no longer ours). */
  forget(recordKey: string): Promise<void> {
    return this.#store.delete(recordKey);
  }

  /** Where a record's transfer stands on this node: written (agreed), votes waiting, or nothing. */
  async state(recordKey: string): Promise<'written' | 'pending' | 'none'> {
    const current = await this.#store.get(recordKey);
    if (current === undefined) return 'none';
    return current.written ? 'written' : 'pending';
  }

  /** Forgets the votes of every record `keep` says no to (e.g. records of NAEs this node is no longer responsible for). */
  async forgetUnless(keep: (recordKey: string) => boolean): Promise<void> {
    for (const key of await this.#store.keys()) if (!keep(key)) await this.#store.delete(key);
  }
}

/** The key of a transferred record in the vote store: its NAE (hex, 128 characters), then its key within the NAE. */
export function transferRecordKey(nae: Name, key: Uint8Array): string {
  return `${toHex(nae)}:${toHex(key)}`;
}

/** The NAE (hex) of a vote-store key made by transferRecordKey. */
export function naeHexOfTransferKey(recordKey: string): string {
  return recordKey.slice(0, recordKey.indexOf(':'));
}
