import type { Address } from './envelope.js';
import { type ErrorKind, SafeError } from './errors.js';
import type { Name } from './name.js';
import type { Incoming, Outbound } from './persona.js';
import { protoCodec } from './proto.js';

export const CLIENT_REPLY = 'ClientReply';

export type ReplyStatusName =
  | 'OK'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'SYNCING';

export interface ClientReplyValue {
  readonly status: ReplyStatusName;
  readonly message: string;
  readonly payload: Uint8Array;
}

export const clientReplyCodec = protoCodec<ClientReplyValue>('safe.v1.ClientReply');

const STATUS_OF_KIND: Record<ErrorKind, ReplyStatusName> = {
  'invalid-argument': 'INVALID_ARGUMENT',
  'not-found': 'NOT_FOUND',
  'already-exists': 'ALREADY_EXISTS',
  'permission-denied': 'PERMISSION_DENIED',
  unauthenticated: 'UNAUTHENTICATED',
  'resource-exhausted': 'RESOURCE_EXHAUSTED',
  'failed-precondition': 'FAILED_PRECONDITION',
  unavailable: 'UNAVAILABLE',
  internal: 'INTERNAL',
  'deadline-exceeded': 'UNAVAILABLE',
};

const KIND_OF_STATUS: Record<Exclude<ReplyStatusName, 'OK' | 'SYNCING'>, ErrorKind> = {
  INVALID_ARGUMENT: 'invalid-argument',
  NOT_FOUND: 'not-found',
  ALREADY_EXISTS: 'already-exists',
  PERMISSION_DENIED: 'permission-denied',
  UNAUTHENTICATED: 'unauthenticated',
  RESOURCE_EXHAUSTED: 'resource-exhausted',
  FAILED_PRECONDITION: 'failed-precondition',
  UNAVAILABLE: 'unavailable',
  INTERNAL: 'internal',
};

export function replyOk(payload: Uint8Array = new Uint8Array(0)): ClientReplyValue {
  return { status: 'OK', message: '', payload };
}

export function replyError(error: SafeError): ClientReplyValue {
  return { status: STATUS_OF_KIND[error.kind], message: error.message, payload: new Uint8Array(0) };
}

/** The error a non-OK group answer stands for. */
export function errorOfReply(reply: ClientReplyValue): SafeError {
  const kind = reply.status === 'OK' || reply.status === 'SYNCING' ? 'internal' : KIND_OF_STATUS[reply.status];
  return new SafeError(kind, reply.message || reply.status.toLowerCase());
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

/** Answers a client request, now or later (the group speaking for `as`, the NAE the client addressed). */
export function answerClient(origin: ClientOrigin, value: ClientReplyValue, as?: Name): Outbound {
  return {
    type: CLIENT_REPLY,
    to: origin.replyTo,
    scope: 'node',
    payload: clientReplyCodec.encode(value),
    correlation: origin.request,
    ...(origin.recorded === false ? {} : { answers: origin.request }),
    ...(as ? { as } : {}),
  };
}
