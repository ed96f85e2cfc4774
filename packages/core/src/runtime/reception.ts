import { CLIENT_REPLY } from '../client-reply.js';
import type { Envelope } from '../envelope.js';
import { asSafeError, ContentMismatchError, SenderNotInGroupError } from '../errors.js';
import type { HandlerContext } from '../persona.js';
import type { Telemetry } from '../ports.js';
import { CLIENT } from '../routing.js';
import type { Admission } from './admission.js';
import type { BulkContent } from './bulk-content.js';
import type { Handling } from './handling.js';
import type { HeldRequests } from './held-requests.js';
import type { ReplySink } from './options.js';
import type { Outbox } from './outbox.js';
import type { ReceiveResult } from './protocol.js';

/** A copy held until this replica's view knows its sender (HeldRequests.awaitSender). */
const AWAITING_SENDER = Symbol('awaiting sender');

export interface ReceptionDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly admission: Admission<S>;
  readonly held: Pick<HeldRequests<S>, 'awaitSender'>;
  readonly content: Pick<BulkContent<S>, 'noteCopy' | 'contentOf' | 'await'>;
  readonly outbox: Pick<Outbox<S>, 'answerRepeat' | 'tellClientRefused'>;
  readonly handling: Pick<Handling<S>, 'act'>;
  /** The runtime's own messages, by type: each handled by the part of the replica it concerns. */
  readonly own: ReadonlyMap<string, (envelope: Envelope) => Promise<ReceiveResult>>;
  readonly replySink: () => ReplySink | undefined;
  readonly stopped: () => boolean;
  readonly count: <R extends ReceiveResult>(envelope: Envelope, result: R) => R;
}

/**
 * One delivered copy through the group rules up to the handler: destination check, client
 * replies, the runtime's own messages, source check and accumulation (Ac), bulk content, repeats.
 */
export class Reception<S> {
  readonly #deps: ReceptionDeps<S>;

  constructor(deps: ReceptionDeps<S>) {
    this.#deps = deps;
  }

  /** Never throws: a bad copy is rejected with a typed error and changes nothing. */
  async receive(envelope: Envelope, heldUntil?: number): Promise<ReceiveResult> {
    const { admission, held, content, outbox, handling, count } = this.#deps;
    if (this.#deps.stopped()) return 'not-responsible';
    try {
      const destination = admission.destination(envelope);
      if (destination !== 'mine') return count(envelope, 'not-responsible');
      if (envelope.type === CLIENT_REPLY) {
        const sink = this.#deps.replySink();
        // Replies past the quorum (or past the caller's deadline) find no call waiting: late, not wrong.
        if (!sink?.expects(envelope.correlation)) return count(envelope, 'late');
        sink.deliver(envelope);
        return count(envelope, 'reply');
      }
      const own = this.#deps.own.get(envelope.type);
      if (own !== undefined) return count(envelope, await own(envelope));
      const { declaration, payload } = admission.declared(envelope);
      const decision = await admission.accumulate(envelope, declaration).catch((error: unknown) => {
        if (error instanceof SenderNotInGroupError && held.awaitSender(envelope, heldUntil)) return AWAITING_SENDER;
        throw error;
      });
      if (decision === AWAITING_SENDER) return count(envelope, 'held');
      if (declaration.content === true) await content.noteCopy(envelope);
      if (decision === 'pending' || decision === 'late') return count(envelope, decision);
      if (decision === 'repeat') {
        if (declaration.firewall) await outbox.answerRepeat(envelope);
        // A client's read (no firewall, nothing recorded) asked again, as the SDK does past its deadline: answered again.
        else if (envelope.source.persona === CLIENT) return await handling.act(envelope, declaration, payload);
        return count(envelope, 'duplicate');
      }
      if (declaration.content === true) {
        const carried = content.contentOf(envelope);
        if (carried === undefined) return count(envelope, content.await(envelope, declaration, payload));
        return await handling.act({ ...envelope, content: carried }, declaration, payload);
      }
      return await handling.act(envelope, declaration, payload);
    } catch (error) {
      const { persona, log } = this.#deps.context;
      const rejected = asSafeError(error, `${persona} ${envelope.type}`);
      log.warn({ type: envelope.type, kind: rejected.kind, err: rejected.message }, 'message rejected');
      if (rejected instanceof ContentMismatchError) this.#deps.telemetry.count('safe_content_total', { persona, result: 'mismatch' });
      await outbox.tellClientRefused(envelope, rejected);
      return count(envelope, { rejected });
    }
  }
}
