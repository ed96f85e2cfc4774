import { describeError, type ErrorKind, errorField, isNetworkFailure, SafeError, UnavailableError } from '@safe/core';

export { describeError };

/**
 * A statement the server refused. `sqlState` is the SQLSTATE code (e.g. `23505` for a unique
 * violation) so a caller can tell a conflict from a bug without parsing messages.
 */
export class SqlError extends SafeError {
  readonly sqlState: string | undefined;
  constructor(kind: ErrorKind, message: string, sqlState: string | undefined, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.sqlState = sqlState;
  }
}

/** A statement that can never succeed as written, or a use of the port that breaks its contract. */
export class SqlUsageError extends SafeError {
  constructor(message: string) {
    super('failed-precondition', message);
  }
}

// pg reports lost or timed-out connections as plain Errors with these messages and no code.
const PG_CONNECTION_MESSAGE =
  /connection terminated|timeout exceeded when trying to connect|not queryable|connection error|pool after calling end/i;

function kindOfSqlState(state: string): ErrorKind {
  if (state === '23505') return 'already-exists';
  if (state === '57014') return 'deadline-exceeded';
  if (state === '53300' || state === '3D000' || state.startsWith('57P') || state.startsWith('08') || state.startsWith('28')) {
    return 'unavailable';
  }
  // Serialization failures and deadlocks are transient: the caller retries as for an outage.
  if (state === '40001' || state === '40P01') return 'unavailable';
  if (state.startsWith('53')) return 'resource-exhausted';
  if (state.startsWith('23') || state.startsWith('25')) return 'failed-precondition';
  if (state.startsWith('22')) return 'invalid-argument';
  return 'internal';
}

/**
 * Turns whatever a driver threw into a typed error; `context` says which database and what was
 * being done. SafeErrors pass through unchanged so a handler's own typed error survives a rollback.
 */
export function toSqlError(error: unknown, context: string): SafeError {
  if (error instanceof SafeError) return error;
  const detail = describeError(error);
  // Before SQLSTATEs: EPIPE has the same shape as one.
  if (isNetworkFailure(error) || (error instanceof Error && PG_CONNECTION_MESSAGE.test(error.message))) {
    return new UnavailableError(`${context}: ${detail}`, { cause: error });
  }
  const code = errorField(error, 'code');
  const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (sqlState !== undefined) {
    const kind = kindOfSqlState(sqlState);
    const message = `${context}: ${detail} (SQLSTATE ${sqlState})`;
    if (kind === 'unavailable') return new UnavailableError(message, { cause: error });
    return new SqlError(kind, message, sqlState, { cause: error });
  }
  return new SqlError('internal', `${context}: ${detail}`, undefined, { cause: error });
}
