import { awaitRecordLimits, contentLimits } from '../config.js';
import { namesNoContent } from '../content.js';
import { ContentExchange } from '../content-exchange.js';
import { checkContent, type Envelope, type MessageContent, verifyEnvelope } from '../envelope.js';
import {
  asSafeError,
  MalformedEnvelopeError,
  MalformedPayloadError,
  SafeError,
  SenderNotInGroupError,
  WrongSourceError,
} from '../errors.js';
import { closestNames, NAME_BYTES, type Name, nameEquals, shortName, toHex } from '../name.js';
import type { HandlerContext, MessageDeclaration } from '../persona.js';
import type { Telemetry } from '../ports.js';
import { isPersonaName } from '../routing.js';
import { CONTENT_PULL_MESSAGE, CONTENT_PUSH_MESSAGE, NO_CONTENT, nodeMessage, type ReceiveResult } from './protocol.js';

/** A message that reached its quorum and waits for its content. */
interface ContentWork<S> {
  readonly declaration: MessageDeclaration<unknown, S>;
  readonly payload: unknown;
}

/** Bulk content as Replica.send takes it: the content, and whether this copy carries it. */
export interface Bulk {
  readonly content: Uint8Array;
  readonly carry: (id: Uint8Array) => boolean;
}

export interface BulkContentDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly send: (content: MessageContent, trace?: Record<string, string>, bulk?: Bulk) => Promise<void>;
  /** Fw and the handler, for a message whose content is now here. */
  readonly act: (envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown) => Promise<ReceiveResult>;
}

/**
 * A copy of a message with content: a single sender (a client, a PmidNode) carries its own; a
 * group member's copy may come without (another member's carries it), but content that does
 * not hash to the digest the id covers is refused before the copy is counted. No content (a
 * holder's error answer) is named by the digest of nothing and carried by no copy.
 */
export function checkCarriedContent(envelope: Envelope): void {
  if (envelope.contentDigest === undefined) throw new MalformedEnvelopeError(`${envelope.type} must name its content by digest`);
  if (envelope.authority === 'single' && envelope.content === undefined && !namesNoContent(envelope.contentDigest)) {
    throw new MalformedEnvelopeError(`${envelope.type} from a single sender must carry its content`);
  }
  checkContent(envelope);
}

/** Bulk content: one copy carries it, the others its digest; messages whose quorum came first wait for it, then pull it. */
export class BulkContent<S> {
  readonly #deps: BulkContentDeps<S>;
  /** Bulk content by digest, and messages whose quorum came before their content. */
  readonly #exchange: ContentExchange<ContentWork<S>>;

  constructor(deps: BulkContentDeps<S>) {
    this.#deps = deps;
    const { params, self } = deps.context;
    const limits = contentLimits(params);
    this.#exchange = new ContentExchange({
      self,
      budgetBytes: limits.bytes,
      waitMs: limits.waitMs,
      memoryMs: params.accumulatorMemoryMs,
      maxAwaiting: awaitRecordLimits(params).requests,
    });
  }

  #count(result: string): void {
    this.#deps.telemetry.count('safe_content_total', { persona: this.#deps.context.persona, result });
  }

  /** Keeps content this node sends, for peers that may pull it; returns its digest. */
  keepSent(content: Uint8Array): Name {
    return this.#exchange.keepSent(content, this.#deps.context.now());
  }

  /** A counted copy of a message with content: its senders are noted, and the content it carries lets waiting messages go on. */
  async noteCopy(envelope: Envelope): Promise<void> {
    this.#exchange.noteCopy(envelope, this.#deps.context.now());
    if (envelope.content !== undefined) await this.#arrived(envelope.contentDigest as Uint8Array, envelope.content);
  }

  contentOf(envelope: Envelope): Uint8Array | undefined {
    return this.#exchange.contentOf(envelope);
  }

  /** Messages that waited for this content: handled now that it is here. */
  async #arrived(digest: Uint8Array, content: Uint8Array): Promise<void> {
    for (const { envelope, work } of this.#exchange.takeAwaiting(digest)) {
      this.#count('arrived-late');
      await this.#deps.act({ ...envelope, content }, work.declaration, work.payload);
    }
  }

  await(envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown): ReceiveResult {
    if (!this.#exchange.await(envelope, { declaration, payload }, this.#deps.context.now())) {
      throw new SafeError('resource-exhausted', `busy: too many messages wait for their content; ${envelope.type} refused`);
    }
    this.#count('awaited');
    return 'pending';
  }

  /** Whether this member's copy of a group message carries the content: the sending group's member closest to the message id does. */
  carries(speakingFor: Name, id: Uint8Array): boolean {
    const { context } = this.#deps;
    const group = context.closeGroup(context.persona, speakingFor);
    const [designated] = closestNames(id as Name, group, 1);
    return designated === undefined || nameEquals(designated, context.self) || !group.some((m) => nameEquals(m, context.self));
  }

  /** A member of a known persona asks for content by digest: it gets it if this replica still holds it. */
  async receivePull(envelope: Envelope): Promise<ReceiveResult> {
    verifyEnvelope(envelope);
    const from = envelope.source.persona;
    if (envelope.authority !== 'single' || !nameEquals(envelope.source.nae, envelope.sender)) {
      throw new WrongSourceError('a content pull comes from one node, for itself');
    }
    if (!isPersonaName(from) || !this.#deps.context.routing().view(from).has(envelope.sender)) {
      throw new SenderNotInGroupError(`${shortName(envelope.sender)} is not a known ${from}`);
    }
    if (envelope.payload.length !== NAME_BYTES) throw new MalformedPayloadError('a content pull names a 64-byte digest');
    const content = this.#exchange.store.get(toHex(envelope.payload));
    if (content === undefined) return 'late';
    this.#count('served');
    await this.#deps.send(
      nodeMessage(this.#deps.context, CONTENT_PUSH_MESSAGE, { persona: from, nae: envelope.sender }, NO_CONTENT, envelope.id),
      envelope.trace,
      { content, carry: () => true },
    );
    return 'handled';
  }

  /** Content a member sent because this replica pulled it: checked against its digest, then the messages waiting for it go on. */
  async receivePush(envelope: Envelope): Promise<ReceiveResult> {
    verifyEnvelope(envelope);
    if (envelope.content === undefined || envelope.contentDigest === undefined) {
      throw new MalformedEnvelopeError('a content push carries content');
    }
    checkContent(envelope);
    this.#count('pulled');
    await this.#arrived(envelope.contentDigest, envelope.content);
    return 'handled';
  }

  /** Pulls the content of messages that waited long enough for it; refuses those whose time ran out. */
  async pullDue(): Promise<void> {
    const { context } = this.#deps;
    const { pulls, expired } = this.#exchange.tick(context.now());
    for (const { envelope } of expired) {
      this.#count('expired');
      context.log.warn({ type: envelope.type, id: shortName(envelope.id) }, 'message dropped: its content never came');
    }
    for (const pull of pulls) {
      this.#count('pull');
      await this.#deps
        .send(nodeMessage(context, CONTENT_PULL_MESSAGE, { persona: pull.from.persona, nae: pull.from.name }, pull.digest, NO_CONTENT))
        .catch((error: unknown) => context.log.warn({ err: asSafeError(error, 'content pull').message }, 'content pull not sent'));
    }
  }
}
