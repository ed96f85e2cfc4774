import { awaitRecordLimits } from '../config.js';
import { toHex } from '../name.js';
import type { Action } from '../persona.js';
import type { ArrivalPlace } from '../sync.js';

/** The group agreed the action: when, and the trace it is applied in. */
type Agreement = NonNullable<ArrivalPlace['agreed']>;

/** An ordered action's place as ArrivalOrder keeps it across restarts, with its sync key and action. */
export interface Place extends ArrivalPlace {
  readonly key: string;
  readonly act: Action;
}

/** Where the places are kept: the replica's sync store (Sync.keepPlace), read back once after a restart. */
export interface PlaceStore {
  all(): Promise<Place[]>;
  keep(place: Place): Promise<void>;
  forget(key: string): Promise<void>;
}

/** One request's action in an NAE's queue: its sync key, its turn and, once the group agreed it, the agreement. */
interface Queued {
  readonly key: string;
  readonly seq: number;
  /** The request's action, until the agreed one (same key, the one the group counted) replaces it. */
  act: Action;
  agreed?: Agreement;
}

/** Agreed before the request arrived here. */
interface Early {
  readonly act: Action;
  readonly agreed: Agreement;
}

export interface ArrivalOrderDeps {
  /** The sync entry will never be applied here by agreement: dropped, outvoted, or taken as applied. */
  readonly settled: (key: string) => Promise<boolean>;
  /** The entry is resolved here (applied already, or agreed before this member's own copy came). */
  readonly resolved: (key: string) => Promise<boolean>;
  /** Applies an agreed action now. */
  readonly apply: (act: Action, key: string, trace: Record<string, string>) => Promise<void>;
  readonly places: PlaceStore;
  readonly now: () => number;
  readonly params: Parameters<typeof awaitRecordLimits>[0];
}

/**
 * Actions declared `ordered`: one NAE's agreed actions are applied in the order their requests
 * arrived at this member, not in the order their Syncs happened to resolve. Copies addressed to
 * one NAE reach every member of its group in one order (one Kafka partition per NAE range; one
 * delivery to the whole group on the in-memory buses), so every member applies them alike.
 *
 * An action agreed before its request arrived here (its peers' Syncs came first) waits for that
 * request, whose place in the order is then known; a member that never gets it (it entered the
 * group later) applies it `awaitRecordMs` after the agreement. An earlier request that never
 * resolves holds the later ones until its sync entry is dropped or outvoted.
 *
 * Every place is written to the PlaceStore before the queues change and removed once applied or
 * settled: a member restarted over the same stores applies what it had agreed, in the same order.
 */
export class ArrivalOrder {
  readonly #deps: ArrivalOrderDeps;
  /** By NAE (hex): the requests' actions in arrival order, until applied or settled. */
  readonly #queues = new Map<string, Queued[]>();
  /** Agreed before the request arrived here, by sync key. */
  readonly #early = new Map<string, Early>();
  /** The next arrival's turn: after every kept one, so restored queues keep their order. */
  #next = 0;
  #restoring: Promise<void> | undefined;

  constructor(deps: ArrivalOrderDeps) {
    this.#deps = deps;
  }

  /** The places kept before a restart, read into the queues on first use; a failed read is tried again. */
  #restored(): Promise<void> {
    if (this.#restoring === undefined) {
      const restoring = this.#restore();
      restoring.catch(() => {
        if (this.#restoring === restoring) this.#restoring = undefined;
      });
      this.#restoring = restoring;
    }
    return this.#restoring;
  }

  async #restore(): Promise<void> {
    const places = await this.#deps.places.all();
    for (const { key, act, seq, agreed } of places.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) {
      if (seq === undefined) {
        if (agreed !== undefined) this.#early.set(key, { act, agreed });
        continue;
      }
      const nae = toHex(act.nae);
      this.#queues.set(nae, [...(this.#queues.get(nae) ?? []), { key, seq, act, ...(agreed ? { agreed } : {}) }]);
      this.#next = Math.max(this.#next, seq + 1);
    }
  }

  #keep(queued: Queued): Promise<void> {
    const { key, seq, act, agreed } = queued;
    return this.#deps.places.keep({ key, seq, act, ...(agreed ? { agreed } : {}) });
  }

  /** Sync keys of agreed actions held here, not applied yet: account transfer hands them over as still to apply. */
  async held(): Promise<Set<string>> {
    await this.#restored();
    const keys = new Set(this.#early.keys());
    for (const queue of this.#queues.values()) for (const q of queue) if (q.agreed !== undefined) keys.add(q.key);
    return keys;
  }

  /** This member's own copy of the request arrived and its action is about to be proposed. */
  async arrived(act: Action, key: string): Promise<void> {
    await this.#restored();
    const nae = toHex(act.nae);
    const queue = this.#queues.get(nae) ?? [];
    if (queue.some((q) => q.key === key)) return;
    const early = this.#early.get(key);
    // A repeat of a request applied here already: it has no place in the order any more.
    if (early === undefined && (await this.#deps.resolved(key))) return;
    const queued: Queued = early === undefined ? { key, seq: this.#next++, act } : { key, seq: this.#next++, ...early };
    await this.#keep(queued);
    this.#early.delete(key);
    queue.push(queued);
    this.#queues.set(nae, queue);
  }

  /** The group agreed the action: applied now if every earlier request of its NAE is done, else held. */
  async agreed(act: Action, key: string, trace: Record<string, string>): Promise<void> {
    await this.#restored();
    const nae = toHex(act.nae);
    const agreed = { at: this.#deps.now(), trace };
    const queue = this.#queues.get(nae);
    const queued = queue?.find((q) => q.key === key);
    if (queued === undefined) {
      await this.#deps.places.keep({ key, act, agreed });
      this.#early.set(key, { act, agreed });
    } else {
      // At the head it is applied now (drain), and its place forgotten: no write for that.
      if (queue?.[0] !== queued) await this.#keep({ ...queued, act, agreed });
      queued.act = act;
      queued.agreed = agreed;
    }
    await this.drain(nae);
  }

  /** Applies the NAE's agreed actions from the front of its queue; settled ones leave it unapplied. */
  async drain(nae: string): Promise<void> {
    await this.#restored();
    const queue = this.#queues.get(nae);
    while (queue !== undefined && queue.length > 0) {
      const head = queue[0] as Queued;
      if (head.agreed === undefined && !(await this.#deps.settled(head.key))) return;
      // Forgotten before it is applied: a crash in between loses it here (as an unordered action
      // resolved but not applied yet is lost), never applies it twice.
      await this.#deps.places.forget(head.key);
      queue.shift();
      if (queue.length === 0) this.#queues.delete(nae);
      if (head.agreed !== undefined) await this.#deps.apply(head.act, head.key, head.agreed.trace);
    }
  }

  /** At a tick: actions agreed long enough ago whose request never came take their place now; every queue moves on. */
  async tick(): Promise<void> {
    await this.#restored();
    const wait = awaitRecordLimits(this.#deps.params).ms;
    for (const [key, early] of [...this.#early]) {
      if (this.#deps.now() - early.agreed.at < wait) continue;
      const queued: Queued = { key, seq: this.#next++, ...early };
      await this.#keep(queued);
      this.#early.delete(key);
      const nae = toHex(early.act.nae);
      this.#queues.set(nae, [...(this.#queues.get(nae) ?? []), queued]);
    }
    for (const nae of [...this.#queues.keys()]) await this.drain(nae);
  }
}
