import { type ClientReply, ClientReplySchema, ReplyStatus } from '@safe/proto/messages';
import type { Address } from './envelope.js';
import { type ErrorKind, SafeError } from './errors.js';
import type { Name } from './name.js';
import type { Incoming, Outbound } from './persona.js';
import { type Fields, protoCodec } from './proto.js';

export const CLIENT_REPLY = 'ClientReply';

export { ReplyStatus };

/** A group's answer to a client (proto safe.v1.ClientReply): its fields, as answers build them and a decoded one holds them. */
export type ClientReplyValue = Fields<ClientReply>;

export const clientReplyCodec = protoCodec(ClientReplySchema);

const STATUS_OF_KIND: Record<ErrorKind, ReplyStatus> = {
  'invalid-argument': ReplyStatus.INVALID_ARGUMENT,
  'not-found': ReplyStatus.NOT_FOUND,
  'already-exists': ReplyStatus.ALREADY_EXISTS,
  'permission-denied': ReplyStatus.PERMISSION_DENIED,
  unauthenticated: ReplyStatus.UNAUTHENTICATED,
  'resource-exhausted': ReplyStatus.RESOURCE_EXHAUSTED,
  'failed-precondition': ReplyStatus.FAILED_PRECONDITION,
  unavailable: ReplyStatus.UNAVAILABLE,
  internal: ReplyStatus.INTERNAL,
  'deadline-exceeded': ReplyStatus.UNAVAILABLE,
};

const KIND_OF_STATUS: Partial<Record<ReplyStatus, ErrorKind>> = {
  [ReplyStatus.INVALID_ARGUMENT]: 'invalid-argument',
  [ReplyStatus.NOT_FOUND]: 'not-found',
  [ReplyStatus.ALREADY_EXISTS]: 'already-exists',
  [ReplyStatus.PERMISSION_DENIED]: 'permission-denied',
  [ReplyStatus.UNAUTHENTICATED]: 'unauthenticated',
  [ReplyStatus.RESOURCE_EXHAUSTED]: 'resource-exhausted',
  [ReplyStatus.FAILED_PRECONDITION]: 'failed-precondition',
  [ReplyStatus.UNAVAILABLE]: 'unavailable',
  [ReplyStatus.INTERNAL]: 'internal',
};

/** A status by its proto name (OK, NOT_FOUND, ...); a number the build does not know as itself. */
export function replyStatusName(status: ReplyStatus): string {
  return ReplyStatus[status] ?? String(status);
}

export function replyOk(payload: Uint8Array = new Uint8Array(0)): ClientReplyValue {
  return { status: ReplyStatus.OK, message: '', payload };
}

export function replyError(error: SafeError): ClientReplyValue {
  return { status: STATUS_OF_KIND[error.kind], message: error.message, payload: new Uint8Array(0) };
}

/** The error a non-OK group answer stands for. */
export function errorOfReply(reply: ClientReplyValue): SafeError {
  const kind = KIND_OF_STATUS[reply.status] ?? 'internal';
  return new SafeError(kind, reply.message || replyStatusName(reply.status).toLowerCase());
}

/** Where and to what a deferred answer to a client goes; carried in the payloads of the messages in between. */
export interface ClientOrigin {
  readonly request: Uint8Array;
  readonly replyTo: Address;
  /** false: the request passed no firewall, so its answer is not recorded (Uf) to answer repeats. */
  readonly recorded?: false;
}

export function originOf(incoming: Incoming<unknown>): ClientOrigin | undefined {
  if (incoming.replyTo === undefined) return undefined;
  return { request: incoming.id, replyTo: incoming.replyTo, ...(incoming.firewalled === false ? { recorded: false } : {}) };
}

/**
 * Answers a client request, now or later (the group speaking for `as`, the NAE the client
 * addressed). `content` (a Get's chunk) travels as the reply's bulk content, on every copy, named
 * by the digest its id covers: the entry checks it against that digest and hands it to the client.
 * Only an unrecorded answer has content (a firewall record keeps the payload only).
 */
export function answerClient(origin: ClientOrigin, value: ClientReplyValue, as?: Name, content?: Uint8Array): Outbound {
  return {
    type: CLIENT_REPLY,
    to: origin.replyTo,
    scope: 'node',
    payload: clientReplyCodec.encode(value),
    correlation: origin.request,
    ...(origin.recorded === false ? {} : { answers: origin.request }),
    ...(as ? { as } : {}),
    ...(content ? { content } : {}),
  };
}
