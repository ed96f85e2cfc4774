import {
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { BadSignatureError } from './errors.js';
import { type Name, nameOf } from './name.js';

/** Raw Ed25519 public keys are 32 bytes; DER SPKI adds this fixed 12-byte prefix. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** A node's or client's signing identity. Its name is SHA-512 of the raw public key. */
export interface Identity {
  readonly name: Name;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
  /** PKCS#8 DER of the private key, for the identity file a replica keeps on its volume. */
  exportPrivateKey(): Uint8Array;
}

class Ed25519Identity implements Identity {
  readonly name: Name;
  readonly publicKey: Uint8Array;
  readonly #privateKey: KeyObject;

  constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    this.publicKey = new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length));
    this.name = nameForPublicKey(this.publicKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(cryptoSign(null, message, this.#privateKey));
  }

  exportPrivateKey(): Uint8Array {
    return new Uint8Array(this.#privateKey.export({ format: 'der', type: 'pkcs8' }));
  }
}

export function generateIdentity(): Identity {
  return new Ed25519Identity(generateKeyPairSync('ed25519').privateKey);
}

export function importIdentity(pkcs8: Uint8Array): Identity {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new BadSignatureError('identity key is not a PKCS#8 Ed25519 private key', { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new BadSignatureError(`identity key is ${key.asymmetricKeyType}, expected ed25519`);
  }
  return new Ed25519Identity(key);
}

export function nameForPublicKey(publicKey: Uint8Array): Name {
  return nameOf(publicKey);
}

/** Public keys parsed once: verification is on every message's path. */
const verifierCache = new Map<string, KeyObject>();
const VERIFIER_CACHE_LIMIT = 4096;

function verifierFor(publicKey: Uint8Array): KeyObject {
  const cacheKey = Buffer.from(publicKey).toString('base64');
  let key = verifierCache.get(cacheKey);
  if (key === undefined) {
    if (publicKey.length !== PUBLIC_KEY_BYTES) {
      throw new BadSignatureError(`public key must be ${PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`);
    }
    try {
      key = createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
        format: 'der',
        type: 'spki',
      });
    } catch (cause) {
      throw new BadSignatureError('public key is not a valid Ed25519 key', { cause });
    }
    if (verifierCache.size >= VERIFIER_CACHE_LIMIT) {
      const oldest = verifierCache.keys().next().value;
      if (oldest !== undefined) verifierCache.delete(oldest);
    }
    verifierCache.set(cacheKey, key);
  }
  return key;
}

/** True only for a valid Ed25519 signature of `message` by `publicKey`. Never throws. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  try {
    return cryptoVerify(null, message, verifierFor(publicKey), signature);
  } catch {
    return false;
  }
}

/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A deterministic identity from a 32-byte seed: reproducible names for seeded simulations. */
export function identityFromSeed(seed: Uint8Array): Identity {
  if (seed.length !== 32) throw new BadSignatureError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return importIdentity(Buffer.concat([ED25519_PKCS8_PREFIX, seed]));
}
