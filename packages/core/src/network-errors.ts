// Shared by the adapters (Redis, SQL, Kafka): how a driver's raw error reads and whether it
// means "the server cannot be reached right now".

// Socket-level failures from node:net / dns.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

export function errorField(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

/** A one-line description; AggregateError (IPv4 + IPv6 connect attempts) has an empty message. */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeError))].join('; ');
  }
  if (error instanceof Error) {
    if (error.message !== '') return error.message;
    const code = errorField(error, 'code');
    return typeof code === 'string' ? code : error.name;
  }
  return String(error);
}

/** True when the error, or one of an AggregateError's, is a socket-level failure. */
export function isNetworkFailure(error: unknown): boolean {
  const code = errorField(error, 'code');
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return error instanceof AggregateError && error.errors.some(isNetworkFailure);
}
