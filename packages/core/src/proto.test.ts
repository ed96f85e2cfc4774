import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type DescField, type DescFile, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { file_safe_v1_data_manager } from '@safe/proto/data_manager';
import { file_safe_v1_envelope } from '@safe/proto/envelope';
import { file_safe_v1_farming_rate } from '@safe/proto/farming_rate';
import { file_safe_v1_gateway } from '@safe/proto/gateway';
import { file_safe_v1_maid_manager } from '@safe/proto/maid_manager';
import { file_safe_v1_messages } from '@safe/proto/messages';
import { file_safe_v1_mpid_manager } from '@safe/proto/mpid_manager';
import { file_safe_v1_node } from '@safe/proto/node';
import { file_safe_v1_pmid_manager } from '@safe/proto/pmid_manager';
import { file_safe_v1_pmid_node } from '@safe/proto/pmid_node';
import { file_safe_v1_version_manager } from '@safe/proto/version_manager';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { MalformedPayloadError } from './errors.js';
import { protoCodec, protoDir } from './proto.js';

/**
 * Every payload was written by protobufjs before the generated codecs; replicas of both builds
 * share the group bus and the K copies of a message share an id only over identical bytes. So:
 * for every message of every .proto file, the codec writes protobufjs's bytes for the same value,
 * and each reads what the other wrote.
 */

const files: DescFile[] = [
  file_safe_v1_data_manager,
  file_safe_v1_envelope,
  file_safe_v1_farming_rate,
  file_safe_v1_gateway,
  file_safe_v1_maid_manager,
  file_safe_v1_messages,
  file_safe_v1_mpid_manager,
  file_safe_v1_node,
  file_safe_v1_pmid_manager,
  file_safe_v1_pmid_node,
  file_safe_v1_version_manager,
];

function messagesOf(list: readonly DescMessage[]): DescMessage[] {
  return list.flatMap((m) => [m, ...messagesOf(m.nestedMessages)]).filter((m) => !m.proto.options?.mapEntry);
}
const schemas = files.flatMap((f) => messagesOf(f.messages));

const root = new protobuf.Root();
root.resolvePath = (_origin, file) => join(protoDir(), file);
root.loadSync(
  readdirSync(join(protoDir(), 'safe/v1')).map((f) => `safe/v1/${f}`),
  { keepCase: false },
);
root.resolveAll();

const U64_MAX = (1n << 64n) - 1n;

function scalarArbitrary(field: DescField & { scalar: ScalarType }, longAsString: boolean): fc.Arbitrary<unknown> {
  switch (field.scalar) {
    case ScalarType.STRING:
      return fc.oneof(fc.constant(''), fc.string({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 3 }));
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 6 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.UINT32:
      return fc.oneof(fc.constant(0), fc.nat({ max: 2 ** 32 - 1 }));
    case ScalarType.INT32:
      return fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    case ScalarType.DOUBLE:
      return fc.oneof(fc.constant(0), fc.double());
    case ScalarType.UINT64:
      return longAsString
        ? fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: U64_MAX })).map(String)
        : fc.oneof(fc.constant(0), fc.maxSafeNat());
    default:
      throw new Error(`no arbitrary for scalar ${ScalarType[field.scalar]} (${field.name}): add one`);
  }
}

function fieldArbitrary(field: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarArbitrary(field, field.longAsString);
    case 'enum':
      return fc.constantFrom(...field.enum.values.map((v) => v.number));
    case 'message':
      return depth > 3 ? fc.constant(undefined) : fc.option(messageArbitrary(field.message, depth + 1), { nil: undefined });
    case 'list':
      if (field.listKind === 'message') return fc.array(messageArbitrary(field.message, depth + 1), { maxLength: 3 });
      if (field.listKind === 'enum') return fc.array(fc.constantFrom(...field.enum.values.map((v) => v.number)), { maxLength: 3 });
      return fc.array(scalarArbitrary(field, field.longAsString), { maxLength: 3 });
    case 'map':
      if (field.mapKey !== ScalarType.STRING || field.mapKind !== 'scalar' || field.scalar !== ScalarType.STRING) {
        throw new Error(`no arbitrary for map ${field.name}: add one`);
      }
      return fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 3 });
  }
}

/** A value with any of its fields left out (neither codec writes those). */
function messageArbitrary(schema: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const shape = Object.fromEntries(schema.fields.map((f) => [f.localName, fieldArbitrary(f, depth)]));
  return fc.record(shape, { requiredKeys: [] }).map((value) => {
    for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
    return value;
  });
}

function legacyEncode(typeName: string, value: Record<string, unknown>): Uint8Array {
  const type = root.lookupType(typeName);
  return type.encode(type.fromObject(value)).finish();
}

describe('protoCodec over the generated schemas', () => {
  it('covers every message of every .proto file', () => {
    expect(schemas.length).toBeGreaterThan(80);
    for (const s of schemas) expect(() => root.lookupType(s.typeName), s.typeName).not.toThrow();
  });

  it.each(schemas.map((s) => [s.typeName, s] as const))('%s: the bytes protobufjs writes, and each reads the other', (_name, schema) => {
    const codec = protoCodec(schema);
    const legacy = root.lookupType(schema.typeName);
    fc.assert(
      fc.property(messageArbitrary(schema), (value) => {
        const bytes = codec.encode(value as never);
        expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(legacyEncode(schema.typeName, value)).toString('hex'));
        // A decoded value has every field: re-encoded by either, the same bytes again.
        const decoded = codec.decode(bytes) as Record<string, unknown>;
        const full = legacy.toObject(legacy.decode(bytes), { longs: String, enums: Number, defaults: true, arrays: true });
        expect(Buffer.from(codec.encode(decoded as never)).toString('hex')).toBe(
          Buffer.from(legacy.encode(legacy.fromObject(full)).finish()).toString('hex'),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('64-bit integers decode as numbers, a JS_STRING version index as decimal text', async () => {
    const { AccountInfoSchema, VersionSchema } = await import('@safe/proto/messages');
    const info = protoCodec(AccountInfoSchema);
    expect(info.decode(info.encode({ stored: 2 ** 40, available: 7, vaults: [], chunks: 0 })).stored).toBe(2 ** 40);
    const version = protoCodec(VersionSchema);
    expect(version.decode(version.encode({ index: U64_MAX.toString(), id: new Uint8Array(1) })).index).toBe(U64_MAX.toString());
  });

  it('throws MalformedPayloadError on bytes that are not the message, and on a value it cannot write', async () => {
    const { GetRequestSchema } = await import('@safe/proto/messages');
    const codec = protoCodec(GetRequestSchema);
    expect(() => codec.decode(new Uint8Array([0x0a, 0xff]))).toThrow(MalformedPayloadError);
    expect(() => codec.encode({ name: 'x' as never, nonce: new Uint8Array(0) })).toThrow(MalformedPayloadError);
  });
});
