import { awaitRecordLimits } from '../config.js';
import { toHex } from '../name.js';
import type { Action } from '../persona.js';

/** An agreed action not applied yet: what apply needs. */
interface Agreed {
  readonly act: Action;
  readonly trace: Record<string, string>;
}

/** One request's action in an NAE's queue: its sync key and, once the group agreed it, the action. */
interface Queued {
  readonly key: string;
  agreed?: Agreed;
}

export interface ArrivalOrderDeps {
  /** The sync entry will never be applied here by agreement: dropped, outvoted, or taken as applied. */
  readonly settled: (key: string) => Promise<boolean>;
  /** The entry is resolved here (applied already, or agreed before this member's own copy came). */
  readonly resolved: (key: string) => Promise<boolean>;
  /** Applies an agreed action now. */
  readonly apply: (act: Action, key: string, trace: Record<string, string>) => Promise<void>;
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
 */
export class ArrivalOrder {
  readonly #deps: ArrivalOrderDeps;
  /** By NAE (hex): the requests' actions in arrival order, until applied or settled. */
  readonly #queues = new Map<string, Queued[]>();
  /** Agreed before the request arrived here, by sync key, with the time of agreement. */
  readonly #early = new Map<string, Agreed & { readonly at: number }>();

  constructor(deps: ArrivalOrderDeps) {
    this.#deps = deps;
  }

  /** Sync keys of agreed actions held here, not applied yet: account transfer hands them over as still to apply. */
  held(): Set<string> {
    const keys = new Set(this.#early.keys());
    for (const queue of this.#queues.values()) for (const q of queue) if (q.agreed !== undefined) keys.add(q.key);
    return keys;
  }

  /** This member's own copy of the request arrived and its action is about to be proposed. */
  async arrived(act: Action, key: string): Promise<void> {
    const nae = toHex(act.nae);
    const queue = this.#queues.get(nae) ?? [];
    if (queue.some((q) => q.key === key)) return;
    const early = this.#early.get(key);
    this.#early.delete(key);
    // A repeat of a request applied here already: it has no place in the order any more.
    if (early === undefined && (await this.#deps.resolved(key))) return;
    queue.push(early === undefined ? { key } : { key, agreed: early });
    this.#queues.set(nae, queue);
  }

  /** The group agreed the action: applied now if every earlier request of its NAE is done, else held. */
  async agreed(act: Action, key: string, trace: Record<string, string>): Promise<void> {
    const nae = toHex(act.nae);
    const queued = this.#queues.get(nae)?.find((q) => q.key === key);
    if (queued === undefined) this.#early.set(key, { act, trace, at: this.#deps.now() });
    else queued.agreed = { act, trace };
    await this.drain(nae);
  }

  /** Applies the NAE's agreed actions from the front of its queue; settled ones leave it unapplied. */
  async drain(nae: string): Promise<void> {
    const queue = this.#queues.get(nae);
    while (queue !== undefined && queue.length > 0) {
      const head = queue[0] as Queued;
      if (head.agreed === undefined && !(await this.#deps.settled(head.key))) return;
      queue.shift();
      if (queue.length === 0) this.#queues.delete(nae);
      if (head.agreed !== undefined) await this.#deps.apply(head.agreed.act, head.key, head.agreed.trace);
    }
  }

  /** At a tick: actions agreed long enough ago whose request never came take their place now; every queue moves on. */
  async tick(): Promise<void> {
    const wait = awaitRecordLimits(this.#deps.params).ms;
    for (const [key, early] of [...this.#early]) {
      if (this.#deps.now() - early.at < wait) continue;
      this.#early.delete(key);
      const nae = toHex(early.act.nae);
      this.#queues.set(nae, [...(this.#queues.get(nae) ?? []), { key, agreed: early }]);
    }
    for (const nae of [...this.#queues.keys()]) await this.drain(nae);
  }
}
