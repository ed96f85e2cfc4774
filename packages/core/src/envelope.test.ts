import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Address,
  canonicalContent,
  decodeEnvelope,
  ENVELOPE_LIMITS,
  type Envelope,
  encodeEnvelope,
  fromWire,
  type MessageContent,
  messageId,
  sealEnvelope,
  toWire,
  verifyEnvelope,
} from './envelope.js';
import { BadSignatureError, MalformedEnvelopeError, SafeError } from './errors.js';
import { identityFromSeed } from './identity.js';
import { NAME_BYTES, type Name, sha512, toHex } from './name.js';

const identities = [1, 2, 3, 4, 5].map((i) => identityFromSeed(new Uint8Array(32).fill(i)));
const [alice, bob] = identities as [(typeof identities)[number], (typeof identities)[number]];

const nameArb = fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }).map((b) => b as Name);
/** Text fields: any valid Unicode (lone surrogates cannot travel as UTF-8), never empty. */
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 });
/** Types and persona names as the wire takes them (ENVELOPE_LIMITS). */
const identifierArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9.-]{0,23}$/);
const addressArb: fc.Arbitrary<Address> = fc.record({ persona: identifierArb, nae: nameArb });
const contentArb: fc.Arbitrary<MessageContent> = fc.record(
  {
    type: identifierArb,
    source: addressArb,
    authority: fc.constantFrom('group' as const, 'single' as const),
    destination: addressArb,
    scope: fc.constantFrom('close-group' as const, 'node' as const),
    payload: fc.uint8Array({ maxLength: 300 }),
    correlation: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 64, maxLength: 64 })),
    replyTo: addressArb,
    issuedAt: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  },
  { requiredKeys: ['type', 'source', 'authority', 'destination', 'scope', 'payload', 'correlation'] },
);
const traceArb = fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.string({ maxLength: 60 }), { maxKeys: 3 });
const envelopeArb: fc.Arbitrary<Envelope> = fc
  .tuple(contentArb, fc.constantFrom(...identities), traceArb)
  .map(([content, identity, trace]) => sealEnvelope(content, identity, trace));

const RUNS = { numRuns: 150 };

function sample(): MessageContent {
  return {
    type: 'Put',
    source: { persona: 'maid-manager', nae: new Uint8Array(NAME_BYTES).fill(7) as Name },
    authority: 'group',
    destination: { persona: 'data-manager', nae: new Uint8Array(NAME_BYTES).fill(9) as Name },
    scope: 'close-group',
    payload: Uint8Array.of(1, 2, 3),
    correlation: new Uint8Array(0),
  };
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

const otherBytes = (bytes: Uint8Array) =>
  fc.uint8Array({ maxLength: Math.max(8, bytes.length + 2) }).filter((b) => toHex(b) !== toHex(bytes) || b.length !== bytes.length);

/** Changes exactly one field the id covers to a different value. */
const mutationArb = (c: MessageContent): fc.Arbitrary<[string, MessageContent]> =>
  fc.oneof(
    text.filter((t) => t !== c.type).map((type) => ['type', { ...c, type }] as [string, MessageContent]),
    text
      .filter((p) => p !== c.source.persona)
      .map((persona) => ['source.persona', { ...c, source: { ...c.source, persona } }] as [string, MessageContent]),
    nameArb
      .filter((n) => toHex(n) !== toHex(c.source.nae))
      .map((nae) => ['source.nae', { ...c, source: { ...c.source, nae } }] as [string, MessageContent]),
    fc.constant(['authority', { ...c, authority: c.authority === 'group' ? 'single' : 'group' }] as [string, MessageContent]),
    text
      .filter((p) => p !== c.destination.persona)
      .map((persona) => ['destination.persona', { ...c, destination: { ...c.destination, persona } }] as [string, MessageContent]),
    nameArb
      .filter((n) => toHex(n) !== toHex(c.destination.nae))
      .map((nae) => ['destination.nae', { ...c, destination: { ...c.destination, nae } }] as [string, MessageContent]),
    fc.constant(['scope', { ...c, scope: c.scope === 'node' ? 'close-group' : 'node' }] as [string, MessageContent]),
    otherBytes(c.payload).map((payload) => ['payload', { ...c, payload }] as [string, MessageContent]),
    otherBytes(c.correlation).map((correlation) => ['correlation', { ...c, correlation }] as [string, MessageContent]),
    fc
      .integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
      .filter((t) => t !== c.issuedAt)
      .map((issuedAt) => ['issuedAt', { ...c, issuedAt }] as [string, MessageContent]),
  );

describe('message id', () => {
  it('is SHA-512 of the canonical content bytes', () => {
    fc.assert(
      fc.property(contentArb, (content) => {
        expect(toHex(messageId(content))).toBe(toHex(sha512(canonicalContent(content))));
      }),
      { numRuns: 100 },
    );
  });

  it('is shared by the K copies of one message sealed by different identities', () => {
    fc.assert(
      fc.property(contentArb, (content) => {
        const copies = identities.map((identity, i) => sealEnvelope(content, identity, { hop: String(i) }));
        const ids = new Set(copies.map((c) => toHex(c.id)));
        expect(ids.size).toBe(1);
        expect(copies[0]?.id).toEqual(messageId(content));
        // Each copy is its sender's, and each verifies.
        expect(new Set(copies.map((c) => toHex(c.sender))).size).toBe(identities.length);
        expect(new Set(copies.map((c) => toHex(c.signature))).size).toBe(identities.length);
        for (const copy of copies) expect(() => verifyEnvelope(copy)).not.toThrow();
      }),
      { numRuns: 50 },
    );
  });

  it('changes with any change to the content', () => {
    fc.assert(
      fc.property(
        contentArb.chain((c) => fc.tuple(fc.constant(c), mutationArb(c))),
        ([content, [, changed]]) => {
          expect(toHex(messageId(changed))).not.toBe(toHex(messageId(content)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cannot be forged by moving bytes between adjacent fields (fields are length-prefixed)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.nat(),
        (payload, correlation, cut) => {
          const at = cut % payload.length;
          const a = { ...sample(), payload, correlation };
          const b = { ...sample(), payload: payload.subarray(0, at), correlation: Uint8Array.of(...payload.subarray(at), ...correlation) };
          expect(toHex(messageId(a))).not.toBe(toHex(messageId(b)));
        },
      ),
      RUNS,
    );
    const a = { ...sample(), type: 'ab', source: { ...sample().source, persona: 'c' } };
    const b = { ...sample(), type: 'a', source: { ...sample().source, persona: 'bc' } };
    expect(toHex(canonicalContent(a))).not.toBe(toHex(canonicalContent(b)));
  });

  it('does not cover routing data: the trace and the reply-to entry', () => {
    const content = sample();
    const withReply = { ...content, replyTo: { persona: 'maid-manager', nae: new Uint8Array(NAME_BYTES) as Name } };
    expect(messageId(withReply)).toEqual(messageId(content));
    const sealed = sealEnvelope(content, alice, { traceparent: 'a' });
    const rerouted: Envelope = { ...sealed, trace: { traceparent: 'b' }, replyTo: withReply.replyTo };
    expect(() => verifyEnvelope(rerouted)).not.toThrow();
  });
});

describe('verifyEnvelope', () => {
  it('accepts every properly sealed copy', () => {
    fc.assert(
      fc.property(envelopeArb, (envelope) => {
        expect(() => verifyEnvelope(envelope)).not.toThrow();
      }),
      { numRuns: 50 },
    );
  });

  it('rejects a copy whose content was changed after sealing with MalformedEnvelopeError', () => {
    fc.assert(
      fc.property(
        fc.tuple(contentArb, fc.constantFrom(...identities)).chain(([c, id]) => fc.tuple(fc.constant(sealEnvelope(c, id)), mutationArb(c))),
        ([sealed, [field, changed]]) => {
          const tampered: Envelope = { ...sealed, ...changed };
          const error = thrownBy(() => verifyEnvelope(tampered));
          expect(error, field).toBeInstanceOf(MalformedEnvelopeError);
        },
      ),
      RUNS,
    );
  });

  it('rejects a tampered payload with its id recomputed: the signature no longer matches (BadSignatureError)', () => {
    const sealed = sealEnvelope(sample(), alice);
    const changed = { ...sealed, payload: Uint8Array.of(1, 2, 4) };
    expect(() => verifyEnvelope(changed)).toThrow(MalformedEnvelopeError);
    expect(() => verifyEnvelope({ ...changed, id: messageId(changed) })).toThrow(BadSignatureError);
  });

  it('rejects a wrong sender key with BadSignatureError', () => {
    const sealed = sealEnvelope(sample(), alice);
    // Bob's key under Alice's name: the name is not the hash of the key.
    expect(() => verifyEnvelope({ ...sealed, senderPublicKey: bob.publicKey })).toThrow(BadSignatureError);
    expect(() => verifyEnvelope({ ...sealed, senderPublicKey: bob.publicKey })).toThrow(/not the hash/);
    // Bob's name and key with Alice's signature.
    expect(() => verifyEnvelope({ ...sealed, sender: bob.name, senderPublicKey: bob.publicKey })).toThrow(/bad signature/);
    // A key that is not a key at all.
    const junkKey = new Uint8Array(31).fill(3);
    expect(() => verifyEnvelope({ ...sealed, senderPublicKey: junkKey })).toThrow(BadSignatureError);
  });

  it('rejects a bad signature with BadSignatureError', () => {
    fc.assert(
      fc.property(envelopeArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (sealed, at, flip) => {
        const signature = new Uint8Array(sealed.signature);
        signature[at % signature.length] = (signature[at % signature.length] as number) ^ flip;
        expect(thrownBy(() => verifyEnvelope({ ...sealed, signature }))).toBeInstanceOf(BadSignatureError);
        expect(thrownBy(() => verifyEnvelope({ ...sealed, signature: new Uint8Array(0) }))).toBeInstanceOf(BadSignatureError);
        // Another message's signature by the same sender.
        const other = sealEnvelope({ ...sample(), payload: Uint8Array.of(at % 256, 0xee) }, alice);
        if (toHex(sealed.sender) === toHex(alice.name)) {
          expect(thrownBy(() => verifyEnvelope({ ...sealed, signature: other.signature }))).toBeInstanceOf(BadSignatureError);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('wire format', () => {
  it('decodeEnvelope(encodeEnvelope(e)) = e, and the decoded copy still verifies', () => {
    fc.assert(
      fc.property(envelopeArb, (envelope) => {
        const decoded = decodeEnvelope(encodeEnvelope(envelope));
        expect(decoded).toEqual(envelope);
        expect('replyTo' in decoded).toBe(envelope.replyTo !== undefined);
        expect(() => verifyEnvelope(decoded)).not.toThrow();
      }),
      RUNS,
    );
  });

  it('decodeEnvelope of random bytes throws only MalformedEnvelopeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const error = thrownBy(() => decodeEnvelope(bytes));
        if (error !== undefined) expect(error).toBeInstanceOf(MalformedEnvelopeError);
      }),
      { numRuns: 500 },
    );
  });

  it('decodeEnvelope of a damaged real envelope throws only MalformedEnvelopeError or decodes to a well-formed envelope', () => {
    const damaged = fc
      .tuple(envelopeArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat())
      .map(([envelope, edits, cut]) => {
        const bytes = new Uint8Array(encodeEnvelope(envelope));
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        return cut % 3 === 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
      });
    fc.assert(
      fc.property(damaged, (bytes) => {
        let decoded: Envelope | undefined;
        const error = thrownBy(() => {
          decoded = decodeEnvelope(bytes);
        });
        if (error !== undefined) {
          expect(error).toBeInstanceOf(MalformedEnvelopeError);
          return;
        }
        const e = decoded as Envelope;
        expect(e.id).toHaveLength(NAME_BYTES);
        expect(e.sender).toHaveLength(NAME_BYTES);
        expect(e.source.nae).toHaveLength(NAME_BYTES);
        expect(e.destination.nae).toHaveLength(NAME_BYTES);
        expect(['group', 'single']).toContain(e.authority);
        expect(['close-group', 'node']).toContain(e.scope);
        // Whatever decoded, verification answers with a typed error or accepts it.
        const verdict = thrownBy(() => verifyEnvelope(e));
        if (verdict !== undefined) expect(verdict).toBeInstanceOf(SafeError);
      }),
      { numRuns: 300 },
    );
  });

  it('fromWire names the missing or misshapen field', () => {
    const wire = toWire(sealEnvelope(sample(), alice));
    expect(() => fromWire({ ...wire, type: '' })).toThrow(/type is missing/);
    expect(() => fromWire({ ...wire, authority: 0 })).toThrow(/authority 0/);
    expect(() => fromWire({ ...wire, scope: 7 })).toThrow(/scope 7/);
    expect(() => fromWire({ ...wire, source: null })).toThrow(/source is missing/);
    expect(() => fromWire({ ...wire, destination: { persona: 'data-manager', nae: new Uint8Array(63) } })).toThrow(
      /destination.nae must be 64 bytes/,
    );
    expect(() => fromWire({ ...wire, id: new Uint8Array(10) })).toThrow(/id must be 64 bytes/);
    expect(() => fromWire({ ...wire, sender: undefined })).toThrow(/sender must be 64 bytes/);
    expect(() => fromWire({ ...wire, senderPublicKey: new Uint8Array(33) })).toThrow(/sender_public_key must be 32 bytes/);
    for (const bad of [
      { ...wire, type: '' },
      { ...wire, scope: 0 },
      { ...wire, destination: null },
    ]) {
      expect(thrownBy(() => fromWire(bad))).toBeInstanceOf(MalformedEnvelopeError);
    }
  });

  it('fromWire bounds every field, naming the one that overreaches, and takes what is within', () => {
    const wire = toWire(sealEnvelope(sample(), alice));
    const { typeChars, personaChars, payloadBytes, correlationBytes, signatureBytes, traceEntries, traceValueChars } = ENVELOPE_LIMITS;
    expect(() => fromWire({ ...wire, type: 'P'.repeat(70_000) })).toThrow(/^type is 70000 characters, at most 64$/);
    expect(() => fromWire({ ...wire, type: 'Put\n' })).toThrow(/type must start with a letter/);
    expect(() => fromWire({ ...wire, source: { persona: 'm'.repeat(personaChars + 1), nae: alice.name } })).toThrow(
      /^source.persona is 33/,
    );
    expect(() => fromWire({ ...wire, payload: new Uint8Array(payloadBytes + 1) })).toThrow(/^payload is \d+ bytes, at most/);
    expect(() => fromWire({ ...wire, correlation: new Uint8Array(correlationBytes + 1) })).toThrow(/^correlation is 65 bytes/);
    expect(() => fromWire({ ...wire, signature: new Uint8Array(signatureBytes * 1000) })).toThrow(/^signature is 64000 bytes/);
    const manyKeys = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v']));
    expect(() => fromWire({ ...wire, trace: manyKeys })).toThrow(/^trace has 100000 entries, at most 8$/);
    expect(() => fromWire({ ...wire, trace: { traceparent: 'x'.repeat(traceValueChars + 1) } })).toThrow(/^trace traceparent is 513/);
    const atLimit = {
      ...wire,
      type: 'T'.repeat(typeChars),
      trace: Object.fromEntries(Array.from({ length: traceEntries }, (_, i) => [`k${i}`, 'v'])),
    };
    expect(fromWire(atLimit).type).toHaveLength(typeChars);
  });
});
