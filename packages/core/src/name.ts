import { createHash } from 'node:crypto';
import { InvalidNameError } from './errors.js';

/** Bytes in a name: 512 bits, the output of SHA-512 (MaidSafe NodeId). */
export const NAME_BYTES = 64;

declare const nameBrand: unique symbol;
/** A 512-bit name in the one XOR space shared by nodes and data (an NAE's address). */
export type Name = Uint8Array & { readonly [nameBrand]: true };

export function sha512(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** The name of some content: SHA-512 of it. */
export function nameOf(content: Uint8Array): Name {
  return sha512(content) as Name;
}

export function isName(bytes: unknown): bytes is Name {
  return bytes instanceof Uint8Array && bytes.length === NAME_BYTES;
}

/** Checks a name received from outside; the error says what is wrong with it. */
export function parseName(bytes: Uint8Array | null | undefined, what = 'name'): Name {
  if (!(bytes instanceof Uint8Array)) throw new InvalidNameError(`${what} is missing`);
  if (bytes.length !== NAME_BYTES) {
    throw new InvalidNameError(`${what} must be ${NAME_BYTES} bytes, got ${bytes.length}`);
  }
  return bytes as Name;
}

const HEX = /^[0-9a-f]*$/i;

export function nameFromHex(hex: string, what = 'name'): Name {
  const trimmed = hex.trim();
  if (trimmed.length !== NAME_BYTES * 2 || !HEX.test(trimmed)) {
    throw new InvalidNameError(
      `${what} must be ${NAME_BYTES * 2} hex characters, got ${JSON.stringify(trimmed.length > 140 ? `${trimmed.slice(0, 140)}…` : trimmed)}`,
    );
  }
  return new Uint8Array(Buffer.from(trimmed, 'hex')) as Name;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Short form for logs: the first 8 hex characters. */
export function shortName(bytes: Uint8Array): string {
  return toHex(bytes.subarray(0, 4));
}

export function nameEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function xorDistance(a: Name, b: Name): Uint8Array {
  const out = new Uint8Array(NAME_BYTES);
  for (let i = 0; i < NAME_BYTES; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/**
 * Orders two names by closeness to a target: negative when `a` is closer, positive when `b` is,
 * 0 only when a = b. XOR distance is a metric with unique distances, so the order is total.
 */
export function compareCloseness(target: Name, a: Name, b: Name): number {
  for (let i = 0; i < NAME_BYTES; i++) {
    const da = (a[i] as number) ^ (target[i] as number);
    const db = (b[i] as number) ^ (target[i] as number);
    if (da !== db) return da - db;
  }
  return 0;
}

export function sortByCloseness<T extends Name>(target: Name, names: Iterable<T>): T[] {
  return [...names].sort((a, b) => compareCloseness(target, a, b));
}

/** The `count` names closest to `target`, closest first. */
export function closestNames<T extends Name>(target: Name, names: Iterable<T>, count: number): T[] {
  return sortByCloseness(target, names).slice(0, count);
}
