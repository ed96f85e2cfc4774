import type { Envelope } from '../envelope.js';
import { asSafeError, RecordMissingError } from '../errors.js';
import type { Firewall } from '../firewall.js';
import { toHex } from '../name.js';
import type { HandlerContext, Incoming, MessageDeclaration, Outcome } from '../persona.js';
import type { SpanHandle, Telemetry } from '../ports.js';
import { CLIENT } from '../routing.js';
import { type Sync, syncKey } from '../sync.js';
import type { TraceCauses } from '../trace-causes.js';
import type { HeldRequests } from './held-requests.js';
import type { OpenDecisions } from './open-decisions.js';
import type { Outbox } from './outbox.js';
import { incomingOf, type ReceiveResult } from './protocol.js';

/** A request held for the record account transfer brings (HeldRequests.awaitRecord). */
const AWAITING_RECORD = Symbol('awaiting record');

export interface HandlingDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly firewall: Firewall;
  readonly outbox: Pick<Outbox<S>, 'answerRepeat' | 'refusal'>;
  readonly held: Pick<HeldRequests<S>, 'awaitRecord'>;
  readonly sync: Pick<Sync, 'awaitsOwnProposal'>;
  /** Spans of handled messages by NAE, for what a timer sends later about the same NAE. */
  readonly causes: TraceCauses;
  /** So and Sy: carries out a handler's outcome (proposing its actions when the row says Sy). */
  readonly carryOut: (outcome: Outcome, incoming: Incoming<unknown>, synced: boolean, trace: Record<string, string>) => Promise<void>;
  readonly count: <R extends ReceiveResult>(envelope: Envelope, result: R) => R;
  /** Keeps the requests declared `redecides` once handled and proposed here. */
  readonly decisions: Pick<OpenDecisions<S>, 'remember'>;
}

/** Fw and the handler, for a message that passed admission and accumulation: the persona's rules, applied once. */
export class Handling<S> {
  readonly #deps: HandlingDeps<S>;

  constructor(deps: HandlingDeps<S>) {
    this.#deps = deps;
  }

  /**
   * Fw, then the handler, for a message whose copies reached their quorum (and whose content, if
   * it has any, is here): a repeat is answered from the firewall, anything else handled once.
   */
  async act(envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown): Promise<ReceiveResult> {
    let span: SpanHandle | undefined;
    try {
      if (declaration.firewall) {
        const record = await this.#deps.firewall.admit(envelope.id, envelope.source.persona === CLIENT);
        if (record !== null) {
          await this.#deps.outbox.answerRepeat(envelope);
          if (declaration.sync && record.state === 'done') await this.#proposeIfNotYet(envelope, declaration, payload);
          return this.#deps.count(envelope, 'duplicate');
        }
      }
      span = this.#deps.telemetry.startSpan(`${this.#deps.context.persona} ${envelope.type}`, envelope.trace, []);
      span.setAttribute('safe.message.id', toHex(envelope.id).slice(0, 16));
      span.setAttribute('safe.nae', toHex(envelope.destination.nae).slice(0, 16));
      // The group whose copies made the quorum, and the chunk the message is about: what a user searches by.
      span.setAttribute('safe.copy_group', `${envelope.source.persona}:${toHex(envelope.source.nae).slice(0, 16)}`);
      if (envelope.contentDigest !== undefined) span.setAttribute('safe.chunk', toHex(envelope.contentDigest));
      this.#deps.causes.remember(envelope.destination.nae, span.context());
      const incoming = incomingOf(envelope, payload, declaration.firewall);
      const outcome = await this.#handle(declaration, incoming, span.context());
      if (outcome !== AWAITING_RECORD) {
        await this.#deps.carryOut(outcome, incoming, declaration.sync, span.context());
        this.#deps.decisions.remember(declaration, incoming, span.context(), outcome);
      }
      span.end();
      return this.#deps.count(envelope, outcome === AWAITING_RECORD ? 'pending' : 'handled');
    } catch (error) {
      const rejected = asSafeError(error, `${this.#deps.context.persona} ${envelope.type}`);
      span?.end(rejected);
      this.#deps.context.log.warn({ type: envelope.type, kind: rejected.kind, err: rejected.message }, 'message rejected');
      return this.#deps.count(envelope, { rejected });
    }
  }

  /**
   * The handler's outcome; a rule of the persona that says no becomes the requester's answer,
   * recorded like any other. Given the request's trace, a refusal for want of a record this node
   * may still be sent by account transfer is held instead (AWAITING_RECORD): see HeldRequests.awaitRecord.
   */
  async #handle(
    declaration: MessageDeclaration<unknown, S>,
    incoming: Incoming<unknown>,
    awaitWith?: Record<string, string>,
  ): Promise<Outcome | typeof AWAITING_RECORD> {
    try {
      return await declaration.handle(incoming, this.#deps.context);
    } catch (error) {
      const safe = asSafeError(error, `${this.#deps.context.persona} ${incoming.type}`);
      if (safe.kind === 'internal') throw safe;
      if (awaitWith !== undefined && safe instanceof RecordMissingError && this.#deps.held.awaitRecord(declaration, incoming, awaitWith))
        return AWAITING_RECORD;
      return this.#deps.outbox.refusal(incoming, safe);
    }
  }

  /** The handler's outcome, refusal included: never held. */
  async handleNow(declaration: MessageDeclaration<unknown, S>, incoming: Incoming<unknown>): Promise<Outcome> {
    const outcome = await this.#handle(declaration, incoming);
    return outcome === AWAITING_RECORD ? {} : outcome;
  }

  /**
   * A synced request whose actions this node already applied, because floor(K/2)+1 of its peers'
   * Sync copies reached it before its own copy of the request did: the firewall holds the answer,
   * but the peers still count on this node's Sync to resolve the action themselves. Now that the
   * request is here, the node proposes what the handler decides (and sends what it sends), once.
   * A real repeat of a request it handled proposes nothing again.
   */
  async #proposeIfNotYet(envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown): Promise<void> {
    const incoming = incomingOf(envelope, payload);
    const outcome = await this.handleNow(declaration, incoming);
    // A member that handled the request proposed all its actions at once: one still awaiting its
    // proposal means it never did, so it carries the outcome out now (proposing again is a no-op).
    for (const [index, act] of (outcome.actions ?? []).entries()) {
      if (await this.#deps.sync.awaitsOwnProposal(syncKey(incoming.id, index, act.type))) {
        await this.#deps.carryOut(outcome, incoming, true, envelope.trace);
        return;
      }
    }
  }
}
