import type { Accumulator, AccumulatorDecision, SourceCheck } from '../accumulator.js';
import { clientRequestWindow } from '../config.js';
import { type Envelope, verifyEnvelope } from '../envelope.js';
import {
  ExpiredRequestError,
  MalformedEnvelopeError,
  PermissionDeniedError,
  SenderNotInGroupError,
  UnknownMessageTypeError,
  WrongSourceError,
} from '../errors.js';
import { NAME_BYTES, nameEquals, shortName } from '../name.js';
import type { HandlerContext, MessageDeclaration } from '../persona.js';
import { CLIENT, isPersonaName } from '../routing.js';
import { checkCarriedContent } from './bulk-content.js';

export interface AdmissionDeps<S> {
  readonly context: HandlerContext<S>;
  readonly messages: ReadonlyMap<string, MessageDeclaration<unknown, S>>;
  readonly accumulator: Accumulator;
}

/** The checks a copy passes before its handler may run: destination, the persona's table row, source, and accumulation (Ac). */
export class Admission<S> {
  readonly #deps: AdmissionDeps<S>;

  constructor(deps: AdmissionDeps<S>) {
    this.#deps = deps;
  }

  destination(envelope: Envelope): 'mine' | 'not-mine' {
    const { context } = this.#deps;
    if (envelope.destination.persona !== context.persona) return 'not-mine';
    if (envelope.destination.nae.length !== NAME_BYTES) throw new MalformedEnvelopeError('destination NAE must be 64 bytes');
    if (envelope.scope === 'node') return nameEquals(envelope.destination.nae, context.self) ? 'mine' : 'not-mine';
    return context.isResponsible(envelope.destination.nae) ? 'mine' : 'not-mine';
  }

  /**
   * What this persona's table says of a request: its declaration, its decoded payload, and that
   * its sender, content and address fit the row. Throws the refusal otherwise.
   */
  declared(envelope: Envelope): { declaration: MessageDeclaration<unknown, S>; payload: unknown } {
    const declaration = this.#deps.messages.get(envelope.type);
    if (declaration === undefined) {
      throw new UnknownMessageTypeError(`${this.#deps.context.persona} has no message type ${JSON.stringify(envelope.type)}`);
    }
    if (!(declaration.from as readonly string[]).includes(envelope.source.persona)) {
      throw new WrongSourceError(`${envelope.type} may come from ${declaration.from.join(' or ')}, not ${envelope.source.persona}`);
    }
    const payload = declaration.payload.decode(envelope.payload);
    if (declaration.content === true) checkCarriedContent(envelope);
    else if (envelope.contentDigest !== undefined || envelope.content !== undefined) {
      throw new MalformedEnvelopeError(`${envelope.type} carries no content`);
    }
    if (envelope.source.persona === CLIENT) this.#checkIssued(envelope);
    if (declaration.toOwnName === true && !nameEquals(envelope.destination.nae, envelope.sender)) {
      throw new PermissionDeniedError(`${envelope.type} goes to the sender's own account, not to ${shortName(envelope.destination.nae)}`);
    }
    return { declaration, payload };
  }

  /** A client request is good only around the time it says it was signed (docs/replay.md). */
  #checkIssued(envelope: Envelope): void {
    if (envelope.issuedAt === undefined)
      throw new MalformedEnvelopeError(`${envelope.type}: a client request says when it was signed (issued_at)`);
    const { futureMs, pastMs } = clientRequestWindow(this.#deps.context.params);
    const age = this.#deps.context.now() - envelope.issuedAt;
    if (age < -futureMs) {
      throw new ExpiredRequestError(
        `${envelope.type} was signed ${Math.round(-age / 1000)} s ahead of this node's clock (at most ${futureMs / 1000} s): check the client's clock`,
      );
    }
    if (age > pastMs) {
      throw new ExpiredRequestError(
        `${envelope.type} was signed ${Math.round(age / 1000)} s ago; a request is good for ${pastMs / 1000} s: sign it again`,
      );
    }
  }

  #sourceCheck(envelope: Envelope, declaration: MessageDeclaration<unknown, S>): SourceCheck {
    const routing = this.#deps.context.routing();
    const sourcePersona = envelope.source.persona;
    const { accumulate } = declaration;
    const wantsGroup = accumulate === 'group' || accumulate === 'first' || (accumulate === 'none' && envelope.authority === 'group');
    if (wantsGroup) {
      if (!isPersonaName(sourcePersona)) throw new WrongSourceError(`${sourcePersona} cannot speak as a group`);
      return { kind: 'group', view: routing.view(sourcePersona), first: accumulate === 'first' };
    }
    // A single entity speaks for itself: its source NAE is its own name.
    if (!nameEquals(envelope.source.nae, envelope.sender)) {
      throw new WrongSourceError(`a single sender must speak for its own name`);
    }
    if (sourcePersona !== CLIENT) {
      if (!isPersonaName(sourcePersona) || !routing.view(sourcePersona).has(envelope.sender)) {
        throw new SenderNotInGroupError(`${shortName(envelope.sender)} is not a known ${sourcePersona}`);
      }
    }
    return { kind: 'single' };
  }

  async accumulate(envelope: Envelope, declaration: MessageDeclaration<unknown, S>): Promise<AccumulatorDecision> {
    const check = this.#sourceCheck(envelope, declaration);
    if (declaration.accumulate !== 'none') return this.#deps.accumulator.accept(envelope, check);
    verifyEnvelope(envelope);
    const k = this.#deps.context.params.closeGroupSize;
    if (check.kind === 'group' && !check.view.isInCloseGroup(envelope.sender, envelope.source.nae, k)) {
      throw new SenderNotInGroupError(
        `${shortName(envelope.sender)} is not in the ${check.view.persona} close group of ${shortName(envelope.source.nae)}`,
      );
    }
    return 'act';
  }
}
