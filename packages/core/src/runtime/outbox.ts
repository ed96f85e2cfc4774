import { answerClient, CLIENT_REPLY, type ClientOrigin, ReplyStatus, replyError } from '../client-reply.js';
import { type Authority, type Envelope, type MessageContent, verifyEnvelope } from '../envelope.js';
import { asSafeError, type SafeError } from '../errors.js';
import type { Firewall } from '../firewall.js';
import type { Name } from '../name.js';
import { type HandlerContext, type Incoming, type Outbound, type Outcome, replyAddress } from '../persona.js';
import { CLIENT } from '../routing.js';
import type { Bulk } from './bulk-content.js';
import { incomingOf } from './protocol.js';

export interface OutboxDeps<S> {
  readonly context: HandlerContext<S>;
  /** How the persona speaks unless a message says otherwise. */
  readonly speaksAs: Authority;
  readonly firewall: Firewall;
  readonly send: (content: MessageContent, trace: Record<string, string>, bulk?: Bulk) => Promise<void>;
  /** Whether this member's copy of a group message carries its bulk content. */
  readonly carries: (speakingFor: Name, id: Uint8Array) => boolean;
}

/** So and Uf: what the replica sends for a handler, and the answers the firewall records and repeats. */
export class Outbox<S> {
  readonly #deps: OutboxDeps<S>;

  constructor(deps: OutboxDeps<S>) {
    this.#deps = deps;
  }

  /**
   * Signs and sends one message. Unless it answers something, its correlation is its cause (the
   * message or agreed action that produced it): the id covers it, so two messages with the same
   * content but different causes (a second Delete of one chunk, a second Get) are different
   * messages, while the K members' copies of one cause still share an id.
   */
  async emit(out: Outbound, speakingFor: Name | undefined, trace: Record<string, string>, cause?: Uint8Array): Promise<void> {
    const { context } = this.#deps;
    const as = out.as ?? speakingFor ?? context.self;
    const authority = out.authority ?? this.#deps.speaksAs;
    // A client reply's content (a Get's chunk) is on every copy: the entry counts copies, it pulls nothing.
    const everyCopy = authority === 'single' || out.type === CLIENT_REPLY;
    const bulk =
      out.content === undefined ? undefined : { content: out.content, carry: (id: Uint8Array) => everyCopy || this.#deps.carries(as, id) };
    await this.#deps.send(
      {
        type: out.type,
        source: { persona: context.persona, nae: authority === 'single' ? context.self : as },
        authority,
        destination: out.to,
        scope: out.scope,
        payload: out.payload,
        correlation: out.correlation ?? cause ?? new Uint8Array(0),
        ...(out.replyTo ? { replyTo: out.replyTo } : {}),
      },
      trace,
      bulk,
    );
    if (out.answers !== undefined)
      await this.#deps.firewall.update(out.answers, { type: out.type, payload: out.payload }, out.type === CLIENT_REPLY);
  }

  /** A repeat is answered from the firewall: the recorded reply, or "syncing" to a waiting client. */
  async answerRepeat(envelope: Envelope): Promise<void> {
    const record = await this.#deps.firewall.lookup(envelope.id, envelope.source.persona === CLIENT);
    const { to, scope } = replyAddress(incomingOf(envelope, undefined));
    if (record !== null && record.state === 'done' && record.reply !== null) {
      await this.emit(
        { type: record.reply.type, to, scope, payload: record.reply.payload, correlation: envelope.id },
        envelope.destination.nae,
        envelope.trace,
      );
    } else if ((record === null || record.state === 'syncing') && envelope.source.persona === CLIENT && envelope.replyTo) {
      const origin: ClientOrigin = { request: envelope.id, replyTo: envelope.replyTo };
      const syncing = answerClient(origin, {
        status: ReplyStatus.SYNCING,
        message: 'the group is still deciding',
        payload: new Uint8Array(0),
      });
      await this.emit({ ...syncing, answers: undefined }, envelope.destination.nae, envelope.trace);
    }
  }

  /**
   * A client's request refused before its handler ran (payload, address, content) is answered
   * with the refusal, as a handler's refusal is: every member refuses alike, so the entry gets
   * an agreed answer at once instead of waiting out its deadline. Only a genuine client's: a
   * forged one is not answered, and trouble that may pass (`unavailable`) is retried, not told.
   */
  async tellClientRefused(envelope: Envelope, rejected: SafeError): Promise<void> {
    if (envelope.source.persona !== CLIENT || envelope.replyTo === undefined || rejected.kind === 'unavailable') return;
    try {
      verifyEnvelope(envelope);
      const origin: ClientOrigin = { request: envelope.id, replyTo: envelope.replyTo };
      // Not firewalled (`answers` dropped): the same envelope is refused alike if it comes again.
      await this.emit({ ...answerClient(origin, replyError(rejected)), answers: undefined }, envelope.destination.nae, envelope.trace);
    } catch (error) {
      this.#deps.context.log.debug({ type: envelope.type, err: asSafeError(error, 'refusal').message }, 'refusal not told');
    }
  }

  /** A handler's refusal as the requester's answer: a client is told; a group's request is refused in the log only. */
  refusal(incoming: Incoming<unknown>, error: SafeError): Outcome {
    if (incoming.source.persona === CLIENT && incoming.replyTo) {
      return { send: [answerClient({ request: incoming.id, replyTo: incoming.replyTo }, replyError(error))] };
    }
    this.#deps.context.log.info({ type: incoming.type, kind: error.kind, err: error.message }, 'request refused');
    return {};
  }
}
