import { SqlError } from './errors.js';

/** Type OIDs whose text form both backends decode the same way (see port.ts). */
export const OID = { bytea: 17, int8: 20, byteaArray: 1001, int8Array: 1016 } as const;

/** int8 → number; refuses what a double cannot hold exactly instead of rounding a byte count. */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new SqlError('internal', `int8 value ${text} is beyond 2^53 and cannot be a JS number`, '22003');
  }
  return value;
}

/**
 * bytea text output (`\x` + hex, the server default since 9.0) → a plain Uint8Array with its own
 * ArrayBuffer. Buffer's native hex decoder is ~100× faster than PGlite's per-byte default on 1 MiB.
 */
export function parseByteaHex(text: string): Uint8Array {
  if (!text.startsWith('\\x')) {
    throw new SqlError('internal', 'bytea arrived in escape format; set bytea_output = hex', undefined);
  }
  const out = new Uint8Array((text.length - 2) / 2);
  Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(text.slice(2), 'hex');
  return out;
}

/** Uint8Array → bytea text input, for PGlite (pg sends Buffers itself). */
export function serializeBytea(value: unknown): string {
  if (!(value instanceof Uint8Array)) {
    throw new SqlError('invalid-argument', 'a bytea parameter must be a Uint8Array', undefined);
  }
  return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
}

/** A view of any Uint8Array (e.g. a pooled Buffer from pg) as a standalone plain Uint8Array. */
export function toPlainBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value);
}
