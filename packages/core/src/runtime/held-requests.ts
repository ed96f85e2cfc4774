import { awaitRecordLimits } from '../config.js';
import { type Envelope, verifyEnvelope } from '../envelope.js';
import { asSafeError, SenderNotInGroupError } from '../errors.js';
import { shortName, toHex } from '../name.js';
import type { HandlerContext, Incoming, MessageDeclaration } from '../persona.js';
import type { Telemetry } from '../ports.js';
import { type GroupView, isPersonaName } from '../routing.js';
import type { ReceiveResult } from './protocol.js';

/** Views before recent matrix changes a replica keeps to tell which close groups it just entered. */
const RECENT_VIEWS = 32;

interface AwaitingRecord<S> {
  readonly declaration: MessageDeclaration<unknown, S>;
  readonly incoming: Incoming<unknown>;
  readonly trace: Record<string, string>;
  readonly until: number;
}

/** What held requests and copies need from their replica: how to take them up again. */
export interface HeldRequestsDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  /** Handles a held request again (a refusal is its answer now, never held again) and carries its outcome out. */
  readonly handleAgain: (
    declaration: MessageDeclaration<unknown, S>,
    incoming: Incoming<unknown>,
    trace: Record<string, string>,
  ) => Promise<void>;
  /** Receives a held copy again; it may be held again until `until`. */
  readonly receiveAgain: (envelope: Envelope, until: number) => Promise<unknown>;
  /** Counts a copy's result as receiving it would have. */
  readonly count: (envelope: Envelope, result: ReceiveResult) => void;
}

/**
 * Requests held for the record account transfer brings, and copies held until this replica's
 * view knows their sender: both within SAFE_AWAIT_RECORD_MS and one shared count.
 */
export class HeldRequests<S> {
  readonly #deps: HeldRequestsDeps<S>;
  /**
   * This persona's views before its recent matrix changes, each kept for SAFE_AWAIT_RECORD_MS:
   * a close group of an NAE this node is not in, in one of them, is one it entered since.
   */
  readonly #recentViews: { readonly view: GroupView; readonly until: number }[] = [];
  /** Requests held for a record this node lacks but may still be sent (RecordMissingError), by NAE (hex). */
  readonly #awaitingRecord = new Map<string, AwaitingRecord<S>[]>();
  #awaitingCount = 0;
  /** Signed copies from a node this replica's view does not know yet, held until it does (awaitSender). */
  #awaitingSender: { readonly envelope: Envelope; readonly until: number }[] = [];

  constructor(deps: HeldRequestsDeps<S>) {
    this.#deps = deps;
  }

  /**
   * A member that entered the NAE's close group in a recent matrix change may not have been sent
   * its record yet: refusing now would leave the group's answer one member short of its quorum
   * (a MaidManager that does not know the client forwards no Put, and the DataManagers never
   * gather K − 1 copies). The request waits for the record, within the configured time and count;
   * the firewall answers repeats "syncing" meanwhile.
   */
  awaitRecord(declaration: MessageDeclaration<unknown, S>, incoming: Incoming<unknown>, trace: Record<string, string>): boolean {
    const { context, telemetry } = this.#deps;
    const limits = awaitRecordLimits(context.params);
    const now = context.now();
    if (limits.ms === 0 || this.#awaitingCount >= limits.requests) return false;
    this.#forgetViews(now);
    const k = context.params.closeGroupSize;
    const nae = incoming.destination.nae;
    if (!this.#recentViews.some(({ view }) => !view.isInCloseGroup(context.self, nae, k))) return false;
    const key = toHex(nae);
    this.#awaitingRecord.set(key, [...(this.#awaitingRecord.get(key) ?? []), { declaration, incoming, trace, until: now + limits.ms }]);
    this.#awaitingCount++;
    telemetry.count('safe_record_awaits_total', { persona: context.persona, result: 'held' });
    context.log.info({ type: incoming.type, nae: shortName(nae) }, 'request awaits the record account transfer brings');
    return true;
  }

  /**
   * A view of this persona as it was before a matrix change, for SAFE_AWAIT_RECORD_MS. Replicas
   * flapping make many changes: the newest RECENT_VIEWS are kept, so the memory stays bounded.
   */
  rememberView(view: GroupView): void {
    const now = this.#deps.context.now();
    this.#forgetViews(now);
    this.#recentViews.push({ view, until: now + awaitRecordLimits(this.#deps.context.params).ms });
    if (this.#recentViews.length > RECENT_VIEWS) this.#recentViews.shift();
  }

  #forgetViews(now: number): void {
    while (this.#recentViews.length > 0 && (this.#recentViews[0]?.until ?? 0) <= now) this.#recentViews.shift();
  }

  /** Handles again the requests held for the NAE's record (now written here), or, with no NAE, those whose wait is over. */
  async handleAwaiting(nae?: string): Promise<void> {
    if (this.#awaitingCount === 0) return;
    const { context, telemetry } = this.#deps;
    const now = context.now();
    // After each record written: only that NAE's requests, looked up, not the whole map scanned.
    const held = nae === undefined ? [...this.#awaitingRecord] : [[nae, this.#awaitingRecord.get(nae) ?? []] as const];
    for (const [key, waiting] of held) {
      const due = nae === undefined ? waiting.filter((w) => w.until <= now) : waiting;
      if (due.length === 0) continue;
      const rest = waiting.filter((w) => !due.includes(w));
      if (rest.length > 0) this.#awaitingRecord.set(key, rest);
      else this.#awaitingRecord.delete(key);
      this.#awaitingCount -= due.length;
      telemetry.count(
        'safe_record_awaits_total',
        { persona: context.persona, result: nae === undefined ? 'expired' : 'record-written' },
        due.length,
      );
      for (const { declaration, incoming, trace } of due) {
        try {
          await this.#deps.handleAgain(declaration, incoming, trace);
        } catch (error) {
          context.log.warn({ type: incoming.type, err: asSafeError(error, incoming.type).message }, 'held request failed');
        }
      }
    }
  }

  /**
   * A node announces itself in the membership and sends at once (a PmidNode's Offer): a replica
   * whose view has not caught up yet would refuse it, and if most of the close group did, the
   * request would be lost. A validly signed copy from a sender this view does not know waits for
   * the next views, within the same time and count as requests awaiting their record.
   */
  awaitSender(envelope: Envelope, heldUntil: number | undefined): boolean {
    const { context, telemetry } = this.#deps;
    const persona = envelope.source.persona;
    // A node speaking for itself; a group's copies come from K members, and one this view has not caught up with changes nothing.
    if (envelope.authority !== 'single' || !isPersonaName(persona) || context.routing().view(persona).has(envelope.sender)) return false;
    const limits = awaitRecordLimits(context.params);
    const now = context.now();
    const until = heldUntil ?? now + limits.ms;
    if (until <= now || this.#awaitingCount + this.#awaitingSender.length >= limits.requests) return false;
    verifyEnvelope(envelope);
    this.#awaitingSender.push({ envelope, until });
    telemetry.count('safe_sender_awaits_total', { persona: context.persona, result: heldUntil === undefined ? 'held' : 'held-again' });
    if (heldUntil === undefined)
      context.log.info({ type: envelope.type, sender: shortName(envelope.sender) }, 'copy awaits a view that knows its sender');
    return true;
  }

  /** Receives again the copies held for their sender (after a new view), or refuses those whose wait is over (`expiredOnly`). */
  async receiveAwaitingSenders(expiredOnly: boolean): Promise<void> {
    if (this.#awaitingSender.length === 0) return;
    const { context, telemetry } = this.#deps;
    const now = context.now();
    const due = this.#awaitingSender.filter((held) => !expiredOnly || held.until <= now);
    this.#awaitingSender = this.#awaitingSender.filter((held) => !due.includes(held));
    for (const { envelope, until } of due) {
      if (until > now) await this.#deps.receiveAgain(envelope, until);
      else {
        telemetry.count('safe_sender_awaits_total', { persona: context.persona, result: 'expired' });
        context.log.warn(
          { type: envelope.type, sender: shortName(envelope.sender) },
          'message rejected: its sender never joined this view',
        );
        this.#deps.count(envelope, {
          rejected: new SenderNotInGroupError(`${shortName(envelope.sender)} is not a known ${envelope.source.persona}`),
        });
      }
    }
  }
}
