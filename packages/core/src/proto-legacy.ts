import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { MalformedPayloadError } from './errors.js';
import type { Codec } from './proto.js';

/**
 * The codecs by type name over protobufjs, while the personas move to the generated schemas
 * (proto.ts). The .proto files are loaded at run time; enums decode as their names.
 */

/** The repository's proto/ folder (the gRPC edge loads its services from it with @grpc/proto-loader). */
export function protoDir(): string {
  const fromEnv = process.env.SAFE_PROTO_DIR;
  if (fromEnv) return resolve(fromEnv);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'safe', 'v1', 'envelope.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('cannot find the proto/ folder; set SAFE_PROTO_DIR');
}

let root: protobuf.Root | undefined;
const extraFiles: string[] = [];

/** Persona packages add their own .proto files (relative to proto/) before first use. */
export function registerProtoFile(relativePath: string): void {
  if (extraFiles.includes(relativePath)) return;
  extraFiles.push(relativePath);
  if (root !== undefined) loadInto(root, [relativePath]);
}

function loadInto(target: protobuf.Root, files: string[]): void {
  const base = protoDir();
  target.resolvePath = (_origin, file) => join(base, file);
  target.loadSync(files, { keepCase: false });
  target.resolveAll();
}

export function protoRoot(): protobuf.Root {
  if (root === undefined) {
    const fresh = new protobuf.Root();
    loadInto(fresh, ['safe/v1/envelope.proto', 'safe/v1/messages.proto', ...extraFiles]);
    root = fresh;
  }
  return root;
}

const conversion: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true };
/** 64-bit fields as decimal strings: for counts that may pass 2^53 (a version index is a full uint64). */
const exactLongs: protobuf.IConversionOptions = { ...conversion, longs: String };

/**
 * A codec for one protobuf message type, e.g. `safe.v1.PutRequest`. 64-bit integers decode as
 * numbers, or with `longs: 'string'` as decimal strings (encode takes either).
 */
export function legacyProtoCodec<T>(typeName: string, options: { longs?: 'number' | 'string' } = {}): Codec<T> {
  const decodeAs = options.longs === 'string' ? exactLongs : conversion;
  let type: protobuf.Type | undefined;
  const resolveType = (): protobuf.Type => {
    type ??= protoRoot().lookupType(typeName);
    return type;
  };
  return {
    typeName,
    encode(value: T): Uint8Array {
      const t = resolveType();
      let message: protobuf.Message;
      try {
        message = t.fromObject(value as Record<string, unknown>);
      } catch (cause) {
        throw new MalformedPayloadError(`${typeName}: cannot encode`, { cause });
      }
      const problem = t.verify(message);
      if (problem !== null) throw new MalformedPayloadError(`${typeName}: ${problem}`);
      return t.encode(message).finish();
    },
    decode(bytes: Uint8Array): T {
      const t = resolveType();
      try {
        return t.toObject(t.decode(bytes), decodeAs) as T;
      } catch (cause) {
        throw new MalformedPayloadError(`payload is not a valid ${typeName}`, { cause });
      }
    },
  };
}
