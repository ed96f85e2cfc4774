import { createHash, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadSignatureError } from './errors.js';
import {
  generateIdentity,
  identityFromSeed,
  importIdentity,
  nameForPublicKey,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  verifySignature,
} from './identity.js';
import { NAME_BYTES, toHex } from './name.js';

const sha512 = (bytes: Uint8Array) => new Uint8Array(createHash('sha512').update(bytes).digest());
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const RUNS = { numRuns: 100 };

const alice = identityFromSeed(new Uint8Array(32).fill(1));
const bob = identityFromSeed(new Uint8Array(32).fill(2));

describe('an identity', () => {
  it('is named by SHA-512 of its raw public key', () => {
    const identity = generateIdentity();
    expect(identity.publicKey).toHaveLength(PUBLIC_KEY_BYTES);
    expect(identity.name).toHaveLength(NAME_BYTES);
    expect(identity.name).toEqual(sha512(identity.publicKey));
    expect(nameForPublicKey(identity.publicKey)).toEqual(identity.name);
    fc.assert(
      fc.property(seedArb, (seed) => {
        const id = identityFromSeed(seed);
        expect(id.name).toEqual(sha512(id.publicKey));
      }),
      { numRuns: 50 },
    );
  });

  it('signs, and its signature verifies against its public key only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (message) => {
        const signature = alice.sign(message);
        expect(signature).toHaveLength(SIGNATURE_BYTES);
        expect(verifySignature(alice.publicKey, message, signature)).toBe(true);
        // The wrong key.
        expect(verifySignature(bob.publicKey, message, signature)).toBe(false);
      }),
      RUNS,
    );
  });

  it('rejects a tampered message or signature', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (message, at, flip) => {
        const signature = alice.sign(message);
        const badMessage = new Uint8Array(message);
        badMessage[at % badMessage.length] = (badMessage[at % badMessage.length] as number) ^ flip;
        expect(verifySignature(alice.publicKey, badMessage, signature)).toBe(false);
        const badSignature = new Uint8Array(signature);
        badSignature[at % SIGNATURE_BYTES] = (badSignature[at % SIGNATURE_BYTES] as number) ^ flip;
        expect(verifySignature(alice.publicKey, message, badSignature)).toBe(false);
        // A truncated or extended signature is not a signature.
        expect(verifySignature(alice.publicKey, message, signature.subarray(0, SIGNATURE_BYTES - 1))).toBe(false);
        expect(verifySignature(alice.publicKey, message, Uint8Array.of(...signature, 0))).toBe(false);
      }),
      RUNS,
    );
  });

  it('verifySignature never throws, whatever the key and signature', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 32 }),
        fc.uint8Array({ minLength: 60, maxLength: 68 }),
        (key, message, signature) => {
          expect(verifySignature(key, message, signature)).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it('identityFromSeed is deterministic, and different seeds give different names', () => {
    fc.assert(
      fc.property(seedArb, seedArb, (a, b) => {
        const first = identityFromSeed(a);
        const again = identityFromSeed(new Uint8Array(a));
        expect(again.name).toEqual(first.name);
        expect(again.publicKey).toEqual(first.publicKey);
        // Ed25519 is deterministic, so the same seed also signs identically.
        expect(again.sign(Uint8Array.of(1, 2, 3))).toEqual(first.sign(Uint8Array.of(1, 2, 3)));
        expect(toHex(identityFromSeed(b).name) === toHex(first.name)).toBe(toHex(a) === toHex(b));
      }),
      { numRuns: 50 },
    );
  });

  it('identityFromSeed of a seed that is not 32 bytes throws BadSignatureError', () => {
    for (const length of [0, 16, 31, 33, 64]) expect(() => identityFromSeed(new Uint8Array(length))).toThrow(BadSignatureError);
  });

  it('exports its private key and imports back to the same identity', () => {
    const identity = generateIdentity();
    const imported = importIdentity(identity.exportPrivateKey());
    expect(imported.name).toEqual(identity.name);
    const signature = imported.sign(Uint8Array.of(9));
    expect(verifySignature(identity.publicKey, Uint8Array.of(9), signature)).toBe(true);
  });

  it('importIdentity of garbage throws a typed BadSignatureError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (garbage) => {
        let thrown: unknown;
        try {
          importIdentity(garbage);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(BadSignatureError);
        expect((thrown as BadSignatureError).kind).toBe('unauthenticated');
      }),
      RUNS,
    );
  });

  it('importIdentity of a valid key of another algorithm throws BadSignatureError', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'der', type: 'pkcs8' });
    expect(() => importIdentity(new Uint8Array(ec))).toThrow(/expected ed25519/);
    expect(() => importIdentity(new Uint8Array(ec))).toThrow(BadSignatureError);
  });
});
