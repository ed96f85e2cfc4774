/**
 * Errors are values with a kind and a cause. Each kind maps to exactly one gRPC status at the
 * edge (packages/grpc) and to one `ReplyStatus` on the wire; nothing else needs to know.
 */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'permission-denied'
  | 'unauthenticated'
  | 'resource-exhausted'
  | 'failed-precondition'
  | 'unavailable'
  | 'internal'
  | 'deadline-exceeded';

export class SafeError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

export class InvalidNameError extends SafeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-argument', message, options);
  }
}
export class MalformedEnvelopeError extends SafeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-argument', message, options);
  }
}
export class MalformedPayloadError extends SafeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-argument', message, options);
  }
}
export class UnknownMessageTypeError extends SafeError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}
export class BadSignatureError extends SafeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unauthenticated', message, options);
  }
}
export class SenderNotInGroupError extends SafeError {
  constructor(message: string) {
    super('permission-denied', message);
  }
}
export class WrongSourceError extends SafeError {
  constructor(message: string) {
    super('permission-denied', message);
  }
}
export class NotResponsibleError extends SafeError {
  constructor(message: string) {
    super('failed-precondition', message);
  }
}
export class NotFoundError extends SafeError {
  constructor(message: string) {
    super('not-found', message);
  }
}
export class AlreadyExistsError extends SafeError {
  constructor(message: string) {
    super('already-exists', message);
  }
}
export class OutOfSpaceError extends SafeError {
  constructor(message: string) {
    super('resource-exhausted', message);
  }
}
export class ContentMismatchError extends SafeError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}
/**
 * The request needs a record this replica does not hold. One that just entered the NAE's close
 * group may still be sent it by account transfer: the runtime holds such a request until the
 * record comes, for at most SAFE_AWAIT_RECORD_MS, before it refuses it.
 */
export class RecordMissingError extends SafeError {}
export class UnknownClientError extends RecordMissingError {
  constructor(message: string) {
    super('permission-denied', message);
  }
}
export class PermissionDeniedError extends SafeError {
  constructor(message: string) {
    super('permission-denied', message);
  }
}
export class FailedPreconditionError extends SafeError {
  constructor(message: string) {
    super('failed-precondition', message);
  }
}
/** A client request signed outside the time it is good for (docs/replay.md): it is refused, never handled. */
export class ExpiredRequestError extends SafeError {
  constructor(message: string) {
    super('failed-precondition', message);
  }
}
export class ConfigError extends SafeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-argument', message, options);
  }
}
export class UnavailableError extends SafeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}
export class DeadlineExceededError extends SafeError {
  constructor(message: string) {
    super('deadline-exceeded', message);
  }
}

/** Wraps anything thrown by foreign code so no untyped error crosses a module boundary. */
export function asSafeError(error: unknown, context: string): SafeError {
  if (error instanceof SafeError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new SafeError('internal', `${context}: ${detail}`, { cause: error });
}
