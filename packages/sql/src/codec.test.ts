import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseByteaHex, parseInt8, serializeBytea, toPlainBytes } from './codec.js';
import { SqlError } from './errors.js';

describe('codec', () => {
  it('parses every safe integer and refuses anything beyond 2^53 with a typed SqlError', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(parseInt8(String(n))).toBe(n);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 2n ** 63n - 1n }), fc.boolean(), (n, negative) => {
        const text = String(negative ? -n : n);
        expect(() => parseInt8(text)).toThrow(SqlError);
      }),
    );
  });

  it('round-trips bytes through the hex text form as a plain Uint8Array with its own buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 8 }), (bytes, offset) => {
        // A view into a larger buffer must serialise as its own bytes only.
        const backing = new Uint8Array(bytes.length + offset + 3);
        backing.set(bytes, offset);
        const view = backing.subarray(offset, offset + bytes.length);
        const parsed = parseByteaHex(serializeBytea(view));
        expect(Object.getPrototypeOf(parsed)).toBe(Uint8Array.prototype);
        expect(parsed.buffer.byteLength).toBe(bytes.length);
        expect(parsed).toStrictEqual(new Uint8Array(bytes));
      }),
    );
  });

  it('refuses bytea in escape format and non-bytes parameters', () => {
    expect(() => parseByteaHex('abc\\000')).toThrow(SqlError);
    for (const bad of ['00ff', [0, 255], null, new ArrayBuffer(2)]) {
      expect(() => serializeBytea(bad)).toThrow(SqlError);
    }
  });

  it('copies a pooled Buffer into a standalone plain Uint8Array', () => {
    const pooled = Buffer.from('hello world').subarray(6);
    const plain = toPlainBytes(pooled);
    expect(Buffer.isBuffer(plain)).toBe(false);
    expect(plain.byteOffset).toBe(0);
    expect(plain).toStrictEqual(new Uint8Array(Buffer.from('world')));
    pooled[0] = 0;
    expect(plain[0]).toBe('w'.charCodeAt(0));
  });
});
