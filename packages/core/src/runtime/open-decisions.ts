import { asSafeError } from '../errors.js';
import { type Name, shortName, toHex } from '../name.js';
import type { Incoming, MessageDeclaration, Outcome } from '../persona.js';
import type { Logger, Telemetry } from '../ports.js';
import type { PersonaName } from '../routing.js';
import { syncKey } from '../sync.js';

/** Bounds on what is kept: an open decision holds its request, content (a chunk) included. */
const OPEN_DECISIONS_LIMIT = 1000;
const OPEN_DECISIONS_BYTES = 64 * 1024 * 1024;
const RECENTLY_APPLIED = 1024;

interface OpenDecision<S> {
  readonly declaration: MessageDeclaration<unknown, S>;
  readonly incoming: Incoming<unknown>;
  readonly trace: Record<string, string>;
  /** The sync keys of this member's current votes, one per action index. */
  keys: readonly string[];
  readonly until: number;
}

export interface OpenDecisionsDeps<S> {
  readonly persona: PersonaName;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly now: () => number;
  /** How long a request is kept at most: its sync entry is gone by then (the firewall's memory). */
  readonly keepMs: number;
  /** At most this many requests and content bytes are kept, oldest out (defaults: 1000, 64 MiB). */
  readonly limit?: number;
  readonly limitBytes?: number;
  /** Whether the sync entry is still open here (neither applied nor settled). */
  readonly open: (key: string) => Promise<boolean>;
  /** The handler's outcome now, refusal included. */
  readonly handle: (declaration: MessageDeclaration<unknown, S>, incoming: Incoming<unknown>) => Promise<Outcome>;
  /** Proposes the outcome's actions (moving this member's votes) and sends what it sends. */
  readonly carryOut: (outcome: Outcome, incoming: Incoming<unknown>, trace: Record<string, string>) => Promise<void>;
}

const keysOf = (incoming: Incoming<unknown>, outcome: Outcome): string[] =>
  (outcome.actions ?? []).map((act, index) => syncKey(incoming.id, index, act.type));

/**
 * Requests declared `redecides`, while this member's votes on their actions are open. Their
 * handler chose by the NAE's record (a DataManager's Put: a record that exists gains a subscriber,
 * else one is created), and concurrent requests reach members in different orders: members that
 * applied one request's action first vote otherwise on the next than those that had not, and a
 * two-and-two split never resolves. So each time an agreed action changes the NAE here, such a
 * request is handled again, and where the handler now decides otherwise this member moves its vote.
 * Every member thus votes on the record as the group agreed it, and the votes meet.
 */
export class OpenDecisions<S> {
  readonly #deps: OpenDecisionsDeps<S>;
  /** By NAE (hex), oldest first. */
  readonly #byNae = new Map<string, OpenDecision<S>[]>();
  /** Keys applied here lately: a request whose action resolved while it was carried out is not kept. */
  readonly #recentlyApplied = new Set<string>();
  #count = 0;
  #bytes = 0;

  constructor(deps: OpenDecisionsDeps<S>) {
    this.#deps = deps;
  }

  /** The request was handled and its actions proposed here; kept if its row is synced and `redecides`. */
  remember(
    declaration: MessageDeclaration<unknown, S>,
    incoming: Incoming<unknown>,
    trace: Record<string, string>,
    outcome: Outcome,
  ): void {
    if (!declaration.sync || !declaration.redecides) return;
    const keys = keysOf(incoming, outcome);
    if (keys.length === 0 || keys.some((key) => this.#recentlyApplied.has(key))) return;
    const nae = toHex(incoming.destination.nae);
    const now = this.#deps.now();
    this.#forget((d) => d.until <= now);
    const decisions = this.#byNae.get(nae) ?? [];
    if (decisions.some((d) => Buffer.from(d.incoming.id).equals(incoming.id))) return;
    decisions.push({ declaration, incoming, trace, keys, until: now + this.#deps.keepMs });
    this.#byNae.set(nae, decisions);
    this.#count++;
    this.#bytes += incoming.content.length;
    const limit = this.#deps.limit ?? OPEN_DECISIONS_LIMIT;
    const limitBytes = this.#deps.limitBytes ?? OPEN_DECISIONS_BYTES;
    while (this.#count > limit || this.#bytes > limitBytes) this.#forgetOldest();
  }

  /** An agreed action (`key`) was applied at the NAE: the requests still open there are decided again. */
  async applied(nae: Name, key: string): Promise<void> {
    this.#recentlyApplied.add(key);
    if (this.#recentlyApplied.size > RECENTLY_APPLIED) this.#recentlyApplied.delete(this.#recentlyApplied.values().next().value as string);
    const decisions = this.#byNae.get(toHex(nae));
    if (decisions === undefined) return;
    for (const decision of [...decisions]) {
      if (decision.keys.includes(key) || !(await this.#anyOpen(decision))) {
        this.#forget((d) => d === decision);
        continue;
      }
      try {
        await this.#decideAgain(decision, nae);
      } catch (error) {
        // The action that triggered this is applied; a request that cannot be decided again keeps its vote.
        this.#deps.log.warn(
          { type: decision.incoming.type, nae: shortName(nae), err: asSafeError(error, 'decide again').message },
          'request not decided again',
        );
        this.#forget((d) => d === decision);
      }
    }
  }

  async #decideAgain(decision: OpenDecision<S>, nae: Name): Promise<void> {
    const outcome = await this.#deps.handle(decision.declaration, decision.incoming);
    const keys = keysOf(decision.incoming, outcome);
    // A refusal now (no action) moves no vote: the one cast stands, and only one answer goes out.
    if (keys.length === 0 || (keys.length === decision.keys.length && keys.every((k, i) => k === decision.keys[i]))) return;
    this.#deps.log.info(
      { type: decision.incoming.type, nae: shortName(nae), actions: outcome.actions?.map((a) => a.type) },
      'vote moves: an agreed action changed the record the request was decided on',
    );
    this.#deps.telemetry.count('safe_sync_votes_moved_total', { persona: this.#deps.persona, type: decision.incoming.type });
    decision.keys = keys;
    await this.#deps.carryOut(outcome, decision.incoming, decision.trace);
  }

  async #anyOpen(decision: OpenDecision<S>): Promise<boolean> {
    for (const key of decision.keys) if (await this.#deps.open(key)) return true;
    return false;
  }

  #forget(which: (decision: OpenDecision<S>) => boolean): void {
    for (const [nae, decisions] of this.#byNae) {
      const kept = decisions.filter((d) => !which(d));
      for (const gone of decisions.filter(which)) {
        this.#count--;
        this.#bytes -= gone.incoming.content.length;
      }
      if (kept.length === 0) this.#byNae.delete(nae);
      else this.#byNae.set(nae, kept);
    }
  }

  #forgetOldest(): void {
    let oldest: OpenDecision<S> | undefined;
    for (const decisions of this.#byNae.values()) for (const d of decisions) if (oldest === undefined || d.until < oldest.until) oldest = d;
    if (oldest === undefined) return;
    const victim = oldest;
    this.#forget((d) => d === victim);
  }
}
