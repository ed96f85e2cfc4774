import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's proto/ folder: the gRPC edge loads its services from it (@grpc/proto-loader).
 * The payload codecs use the code generated from it (@safe/proto), not the files.
 */
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
