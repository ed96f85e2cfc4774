import { status as GrpcStatus, Metadata, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { type ErrorKind, SafeError } from '@safe/core';

/**
 * The one mapping between the core's error kinds and gRPC status codes. The server turns a
 * SafeError into a status here; the client turns a status back into a SafeError here.
 */
const STATUS_OF_KIND: Record<ErrorKind, GrpcStatus> = {
  'invalid-argument': GrpcStatus.INVALID_ARGUMENT,
  'not-found': GrpcStatus.NOT_FOUND,
  'already-exists': GrpcStatus.ALREADY_EXISTS,
  'permission-denied': GrpcStatus.PERMISSION_DENIED,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  'resource-exhausted': GrpcStatus.RESOURCE_EXHAUSTED,
  'failed-precondition': GrpcStatus.FAILED_PRECONDITION,
  unavailable: GrpcStatus.UNAVAILABLE,
  internal: GrpcStatus.INTERNAL,
  'deadline-exceeded': GrpcStatus.DEADLINE_EXCEEDED,
};

const KIND_OF_STATUS = new Map<GrpcStatus, ErrorKind>(
  (Object.entries(STATUS_OF_KIND) as [ErrorKind, GrpcStatus][]).map(([kind, code]) => [code, kind]),
);

export function grpcStatusOf(kind: ErrorKind): GrpcStatus {
  return STATUS_OF_KIND[kind];
}

/**
 * Status details travel in an HTTP/2 trailer: one too large for the peer's header limit breaks
 * the whole connection, so a message (which may quote what the caller sent) is cut to this.
 */
const MAX_DETAILS_CHARS = 1024;

/** A SafeError as the status object a grpc-js handler passes to its callback. */
export function toStatus(error: SafeError): Partial<StatusObject> {
  const details = error.message.length > MAX_DETAILS_CHARS ? `${error.message.slice(0, MAX_DETAILS_CHARS)}…` : error.message;
  return { code: STATUS_OF_KIND[error.kind], details, metadata: new Metadata() };
}

/** A failed call as a SafeError whose kind matches the status and whose message is the server's. */
export function fromServiceError(error: ServiceError, endpoint: string): SafeError {
  if (
    error.code === GrpcStatus.UNAVAILABLE &&
    /ECONNREFUSED|No connection established|failed to connect|Name resolution/i.test(error.details)
  ) {
    return new SafeError('unavailable', `cannot reach the network at ${endpoint}: ${error.details}`, { cause: error });
  }
  const kind = KIND_OF_STATUS.get(error.code) ?? (error.code === GrpcStatus.CANCELLED ? 'unavailable' : 'internal');
  return new SafeError(kind, error.details || GrpcStatus[error.code] || 'unknown error', { cause: error });
}
