import { InvalidNameError, type Name, sha512 } from '@safe/core';

/**
 * Public ids (MPIDs) as the client and the MpidManager share them (SPEC.md 3.7): an MPID is named
 * by the hash of its text name, so anyone who knows the text reaches its MpidManagers.
 */

/** The bounds the MpidManager holds every MPID to (README of services/mpid-manager). */
export const MPID_LIMITS = {
  /** Longest text name of an MPID, in characters. */
  nameChars: 64,
  /** Largest message body: "about 100 KiB", as the MPID Messaging RFC set it. */
  bodyBytes: 100 * 1024,
  /** Messages one MPID may have held while its node is offline. */
  heldMessages: 256,
  /** Bytes of bodies one MPID may have held while its node is offline. */
  heldBytes: 4 * 1024 * 1024,
  /** Entries of each of an MPID's lists (allow and block). */
  listEntries: 1024,
  /** Bytes of bodies one GetMessages reply carries (at least one message). */
  replyBytes: 1024 * 1024,
  /** A message id is 1 to this many bytes. */
  idBytes: 64,
} as const;

const DOMAIN = new TextEncoder().encode('safe.v1.mpid');
const REGISTRATION_DOMAIN = new TextEncoder().encode('safe.v1.mpid-registration');

/** A text name, checked: 1..64 characters, none of them whitespace or control characters. */
export function checkMpidText(text: string, what = 'public id'): string {
  const chars = [...text];
  if (chars.length === 0 || chars.length > MPID_LIMITS.nameChars) {
    throw new InvalidNameError(`a ${what} is 1 to ${MPID_LIMITS.nameChars} characters, got ${chars.length}`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\s\u0000-\u001f\u007f]/u.test(text))
    throw new InvalidNameError(`a ${what} has no spaces or control characters: ${JSON.stringify(text)}`);
  return text;
}

/** The MPID's name (its NAE): hash of a domain and its text name. */
export function mpidName(text: string): Name {
  return sha512(DOMAIN, new TextEncoder().encode(checkMpidText(text))) as Name;
}

/** What the MPID's key signs to register it for `owner` (the client's MAID name). */
export function mpidRegistrationBytes(text: string, owner: Uint8Array): Uint8Array {
  return Buffer.concat([REGISTRATION_DOMAIN, new TextEncoder().encode(text), owner]);
}
