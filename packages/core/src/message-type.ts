import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { Name } from './name.js';
import { type Handler, type Incoming, type MessageDeclaration, type Outbound, type PersonaDefinition, replyAddress } from './persona.js';
import { type Fields, type ProtoCodec, protoCodec } from './proto.js';
import type { PersonaName, SourcePersona } from './routing.js';

/**
 * One row of the message table, declared once where sender and receiver both import it: the
 * message's name on the wire, who sends it, who receives it, how it is accumulated, firewalled and
 * synced, and its payload (a generated schema). The receiver's declaration (`handles`) and the
 * sender's outbound message (`sender(...)`) are both derived from it, so a persona sending a
 * message it is not declared to send, a persona handling a message addressed to another, or a
 * payload of the wrong type, is a compile error.
 */
export interface MessageType<Desc extends DescMessage, From extends SourcePersona, To extends PersonaName>
  extends Omit<MessageDeclaration<Fields<MessageShape<Desc>>, unknown>, 'from' | 'payload' | 'handle'> {
  readonly from: readonly From[];
  readonly to: To;
  /** The generated schema of the payload (what the TypeScript types are inferred from). */
  readonly schema: Desc;
  readonly payload: ProtoCodec<Desc>;
}

/** The payload a message type carries: the generated message's Fields. */
export type PayloadOf<M> = M extends MessageType<infer Desc, SourcePersona, PersonaName> ? Fields<MessageShape<Desc>> : never;

export function messageType<Desc extends DescMessage, const From extends SourcePersona, const To extends PersonaName>(
  schema: Desc,
  row: Omit<MessageType<Desc, From, To>, 'payload' | 'schema'>,
): MessageType<Desc, From, To> {
  return { ...row, schema, payload: protoCodec(schema) };
}

/** A receiver's declaration of a row of the table: the row, and what the persona does with it. */
export type HandledMessage<P, S, To extends PersonaName> = MessageDeclaration<P, S> & { readonly to: To };

export function handles<Desc extends DescMessage, From extends SourcePersona, To extends PersonaName, S>(
  row: MessageType<Desc, From, To>,
  handle: Handler<Fields<MessageShape<Desc>>, S>,
): HandledMessage<Fields<MessageShape<Desc>>, S, To> {
  const { schema: _schema, ...declaration } = row;
  return { ...declaration, handle };
}

/** Where a message goes, beyond its persona (the row's `to`). */
export type Destination = Omit<Outbound, 'type' | 'to' | 'payload'> & { readonly nae: Name; readonly scope: Outbound['scope'] };

/**
 * Where an answer to `incoming` goes (So + Uf), as `reply` sends it, for `send(row, answering(msg),
 * payload)`: a row's sender builds fresh messages only. The row names the persona answered, so
 * this is for answers to a persona's request (a client's goes back through its entry node).
 */
export function answering(incoming: Incoming<unknown>): Destination {
  const { to, scope } = replyAddress(incoming);
  return { nae: to.nae, scope, correlation: incoming.id, answers: incoming.id };
}

/**
 * The outbound messages of persona `P`: `send(row, destination, payload)` compiles only for a row
 * that `P` is declared to send (`row.from`), with that row's payload type, to the row's persona.
 */
export function sender<P extends SourcePersona>(_persona: P) {
  return function send<Desc extends DescMessage, From extends SourcePersona, To extends PersonaName>(
    row: MessageType<Desc, From, To>,
    destination: Destination,
    payload: Fields<MessageShape<Desc>>,
    // A persona that is not among the row's senders has to pass a value of type never here: it cannot.
    ..._notASender: P extends From ? [] : [never]
  ): Outbound {
    const { nae, ...rest } = destination;
    return { ...rest, type: row.type, to: { persona: row.to, nae }, payload: row.payload.encode(payload) };
  };
}

/** A client's request: the client seals its envelope itself, and a read's payload is made anew for each ask (a fresh nonce). */
export interface ClientRequest {
  readonly type: string;
  readonly to: { readonly persona: PersonaName; readonly nae: Name };
  readonly payload: Uint8Array | (() => Uint8Array);
}

/**
 * A client's request of a row to the close group of `nae`; like `sender`, a row no client sends
 * does not compile. Not `sender('client')`: a client builds no Outbound (it has no scope or group
 * to speak as), and a read is asked again with a new payload, so it takes a payload maker too.
 */
export function clientRequest<Desc extends DescMessage, From extends SourcePersona, To extends PersonaName>(
  row: MessageType<Desc, From, To>,
  nae: Name,
  payload: Fields<MessageShape<Desc>> | (() => Fields<MessageShape<Desc>>),
  ..._notASender: 'client' extends From ? [] : [never]
): ClientRequest {
  const to = { persona: row.to, nae };
  if (typeof payload === 'function') return { type: row.type, to, payload: () => row.payload.encode(payload()) };
  return { type: row.type, to, payload: row.payload.encode(payload) };
}

/**
 * A persona whose table is checked: every declaration made with `handles` must be addressed to
 * this persona (declarations made with `message` are not checked).
 */
export function definePersona<const P extends PersonaName, S>(
  definition: PersonaDefinition<S> & {
    readonly persona: P;
    // biome-ignore lint/suspicious/noExplicitAny: a table holds declarations of many payload types
    readonly messages: readonly (MessageDeclaration<any, S> & { readonly to?: NoInfer<P> })[];
  },
): PersonaDefinition<S> {
  return definition;
}
