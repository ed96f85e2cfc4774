import { type DescField, type DescMessage, fromBinary, type Message, type MessageShape, ScalarType } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { MalformedPayloadError } from './errors.js';

export { protoDir } from './proto-dir.js';

/**
 * The .proto files in the repository's `proto/` folder are the one definition of the wire format;
 * `pnpm proto:gen` turns them into @safe/proto (protobuf-es: a schema, a type and the enums per
 * message). A codec here takes a generated schema, so a payload's TypeScript type is the generated
 * message type: there is no hand-written mirror of a message to drift from its .proto.
 */

/**
 * A generated message's fields as this codebase holds them, derived from the generated type
 * (`Fields<Put>`): without protobuf-es's `$typeName`, so a plain object literal is one, and
 * 64-bit integers as numbers (protobuf-es makes them bigint; a count, a size, a time in ms never
 * passes 2^53 here, and the one full uint64, a version index, is `[jstype = JS_STRING]` in its
 * .proto). A nested message may be left out or null: not on the wire; decoded, it is undefined.
 */
export type Fields<T> = T extends bigint
  ? number
  : T extends Uint8Array
    ? Uint8Array
    : T extends readonly (infer U)[]
      ? Fields<U>[]
      : T extends Message
        ? { [K in keyof T as K extends '$typeName' | '$unknown' ? never : K]: undefined extends T[K] ? Fields<T[K]> | null : Fields<T[K]> }
        : T;

export interface Codec<T> {
  readonly typeName: string;
  encode(value: T): Uint8Array;
  /** Throws MalformedPayloadError, never anything untyped. */
  decode(bytes: Uint8Array): T;
}

/** The codec of one generated message schema: its value type is the message's Fields. */
export type ProtoCodec<Desc extends DescMessage> = Codec<Fields<MessageShape<Desc>>>;
/** The value type of a codec. */
export type Payload<C> = C extends Codec<infer T> ? T : never;

const readOptions = { readUnknownFields: false };

/**
 * The codec of one generated message schema, e.g. `protoCodec(PutSchema)`. The bytes are protobufjs's, which wrote every payload
 * before this codec did (replicas of different builds share the group bus, and the K copies of a
 * group message share one id only with byte-identical payloads): fields in number order, and a
 * singular field written whenever it is given, even at its default (protobuf-es alone would leave
 * defaults out). A field left out of the value, or null, is not written.
 */
export function protoCodec<Desc extends DescMessage>(schema: Desc): ProtoCodec<Desc> {
  const typeName = schema.typeName;
  const plan = encodingPlan(schema);
  return {
    typeName,
    encode(value) {
      const writer = new BinaryWriter();
      try {
        writeMessage(writer, plan, value as unknown as Record<string, unknown>, 0);
      } catch (cause) {
        throw new MalformedPayloadError(`${typeName}: cannot encode`, { cause });
      }
      return writer.finish();
    },
    decode(bytes) {
      let message: MessageShape<Desc>;
      try {
        message = fromBinary(schema, bytes, readOptions);
      } catch (cause) {
        throw new MalformedPayloadError(`payload is not a valid ${typeName}`, { cause });
      }
      asFields(plan, message as unknown as Record<string, unknown>);
      return message as unknown as Fields<MessageShape<Desc>>;
    },
  };
}

// ---- encoding, field by field (the protobufjs rules above) ----

interface Plan {
  readonly typeName: string;
  /** In field-number order. */
  readonly fields: readonly DescField[];
}

const plans = new WeakMap<DescMessage, Plan>();

function encodingPlan(schema: DescMessage): Plan {
  let plan = plans.get(schema);
  if (plan !== undefined) return plan;
  if (schema.oneofs.some((o) => !o.fields.every((f) => f.proto.proto3Optional))) {
    throw new Error(`${schema.typeName}: oneof fields are not supported by protoCodec`);
  }
  plan = { typeName: schema.typeName, fields: [...schema.fields].sort((a, b) => a.number - b.number) };
  plans.set(schema, plan);
  return plan;
}

function isBigint(scalar: ScalarType | undefined, longAsString: boolean): boolean {
  if (longAsString) return false;
  return (
    scalar === ScalarType.INT64 ||
    scalar === ScalarType.UINT64 ||
    scalar === ScalarType.SINT64 ||
    scalar === ScalarType.FIXED64 ||
    scalar === ScalarType.SFIXED64
  );
}

function wireType(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

function writeScalar(writer: BinaryWriter, scalar: ScalarType, value: unknown): void {
  switch (scalar) {
    case ScalarType.STRING:
      writer.string(value as string);
      return;
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
      writer.bytes(value);
      return;
    case ScalarType.BOOL:
      writer.bool(value as boolean);
      return;
    case ScalarType.DOUBLE:
      writer.double(value as number);
      return;
    case ScalarType.FLOAT:
      writer.float(value as number);
      return;
    case ScalarType.INT32:
      writer.int32(value as number);
      return;
    case ScalarType.UINT32:
      writer.uint32(value as number);
      return;
    case ScalarType.SINT32:
      writer.sint32(value as number);
      return;
    case ScalarType.FIXED32:
      writer.fixed32(value as number);
      return;
    case ScalarType.SFIXED32:
      writer.sfixed32(value as number);
      return;
    case ScalarType.INT64:
      writer.int64(value as bigint);
      return;
    case ScalarType.UINT64:
      writer.uint64(value as bigint);
      return;
    case ScalarType.SINT64:
      writer.sint64(value as bigint);
      return;
    case ScalarType.FIXED64:
      writer.fixed64(value as bigint);
      return;
    case ScalarType.SFIXED64:
      writer.sfixed64(value as bigint);
      return;
  }
}

const MAX_DEPTH = 100;

function writeMessage(writer: BinaryWriter, plan: Plan, value: Record<string, unknown>, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('max depth exceeded');
  if (typeof value !== 'object' || value === null) throw new TypeError(`${plan.typeName} must be an object`);
  for (const field of plan.fields) {
    const v = value[field.localName];
    if (v === undefined || v === null) continue;
    switch (field.fieldKind) {
      case 'scalar':
        writer.tag(field.number, wireType(field.scalar));
        writeScalar(writer, field.scalar, v);
        break;
      case 'enum':
        writer.tag(field.number, WireType.Varint).int32(v as number);
        break;
      case 'message':
        writer.tag(field.number, WireType.LengthDelimited).fork();
        writeMessage(writer, encodingPlan(field.message), v as Record<string, unknown>, depth + 1);
        writer.join();
        break;
      case 'list': {
        const list = v as readonly unknown[];
        if (list.length === 0) break;
        if (field.listKind === 'message') {
          const nested = encodingPlan(field.message);
          for (const item of list) {
            writer.tag(field.number, WireType.LengthDelimited).fork();
            writeMessage(writer, nested, item as Record<string, unknown>, depth + 1);
            writer.join();
          }
        } else {
          const scalar = field.listKind === 'enum' ? ScalarType.INT32 : field.scalar;
          if (field.packed && scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES) {
            writer.tag(field.number, WireType.LengthDelimited).fork();
            for (const item of list) writeScalar(writer, scalar, item);
            writer.join();
          } else {
            for (const item of list) {
              writer.tag(field.number, wireType(scalar));
              writeScalar(writer, scalar, item);
            }
          }
        }
        break;
      }
      case 'map': {
        // protobufjs: every entry with both its key and its value, in the object's key order.
        for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
          writer.tag(field.number, WireType.LengthDelimited).fork();
          writer.tag(1, wireType(field.mapKey));
          writeScalar(writer, field.mapKey, mapKey(field.mapKey, key));
          if (field.mapKind === 'message') {
            writer.tag(2, WireType.LengthDelimited).fork();
            writeMessage(writer, encodingPlan(field.message), item as Record<string, unknown>, depth + 1);
            writer.join();
          } else {
            const scalar = field.mapKind === 'enum' ? ScalarType.INT32 : field.scalar;
            writer.tag(2, wireType(scalar));
            writeScalar(writer, scalar, item);
          }
          writer.join();
        }
        break;
      }
    }
  }
}

function mapKey(scalar: ScalarType, key: string): unknown {
  if (scalar === ScalarType.STRING) return key;
  if (scalar === ScalarType.BOOL) return key === 'true';
  return isBigint(scalar, false) ? BigInt(key) : Number(key);
}

// ---- decoding: the generated message as its Fields ----

/**
 * What protobuf-es decodes, made what the Fields type says and protobufjs handed over before: no
 * `$typeName`, 64-bit integers as numbers, bytes as Buffers (views of the decoded bytes, no copy),
 * which code and tests compare and print as such.
 */
function fixed(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

function asFields(plan: Plan, message: Record<string, unknown>): void {
  delete message.$typeName;
  for (const field of plan.fields) {
    const v = message[field.localName];
    if (v === undefined || v === null) continue;
    switch (field.fieldKind) {
      case 'scalar':
        message[field.localName] = fixed(v);
        break;
      case 'message':
        asFields(encodingPlan(field.message), v as Record<string, unknown>);
        break;
      case 'list': {
        const list = v as unknown[];
        if (field.listKind === 'message') {
          const nested = encodingPlan(field.message);
          for (const item of list) asFields(nested, item as Record<string, unknown>);
        } else {
          for (let i = 0; i < list.length; i++) list[i] = fixed(list[i]);
        }
        break;
      }
      case 'map': {
        const map = v as Record<string, unknown>;
        for (const [key, item] of Object.entries(map)) {
          if (field.mapKind === 'scalar') map[key] = fixed(item);
          else if (field.mapKind === 'message') asFields(encodingPlan(field.message), item as Record<string, unknown>);
        }
        break;
      }
    }
  }
}
