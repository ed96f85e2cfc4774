import { createHash } from 'node:crypto';
import { type Name, nameEquals } from './name.js';

/**
 * SHA-512 of bulk content, computed once per content object: a chunk passes through a process as
 * one Uint8Array (decoded once off the wire, then handed from copy to handler to the messages it
 * causes), so its digest on arrival, the chunk check against its name and the id of every copy
 * sent on reuse this one hash. Content is never changed in place once it is a message's.
 */
const digests = new WeakMap<Uint8Array, Name>();

export function contentDigest(content: Uint8Array): Name {
  let digest = digests.get(content);
  if (digest === undefined) {
    digest = new Uint8Array(createHash('sha512').update(content).digest()) as Name;
    digests.set(content, digest);
  }
  return digest;
}

/**
 * The digest of no content (SHA-512 of nothing): a message that names it (an error answer to a
 * read) carries nothing, since the wire cannot tell empty bytes from none.
 */
export const NO_CONTENT_DIGEST = contentDigest(new Uint8Array(0));

export function namesNoContent(digest: Uint8Array | undefined): boolean {
  return digest !== undefined && nameEquals(digest, NO_CONTENT_DIGEST);
}
