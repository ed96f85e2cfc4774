import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { InvalidNameError, NAME_BYTES, type Name, SafeError, toHex } from '@safe/core';

/**
 * A file's data map: the chunks of the file, names and sizes, in order, stored as one more chunk
 * whose name IS the file's name.
 *
 * Data map (UTF-8 JSON, one chunk):
 *   {"format":"safe.data-map","version":1,"level":0,"size":<bytes>,"chunks":[{"name":"<128 hex>","size":<bytes>},…]}
 * At level 0 the chunks, in order, are the file's bytes and `size` is the file's size. A map that
 * does not fit in one chunk is itself stored as a file: the level n+1 map lists the chunks of the
 * serialised level n map (and `size` is that map's length), until one map fits in a chunk. The
 * empty file's map lists no chunks: no chunk is ever empty.
 */
export const DATA_MAP_FORMAT = 'safe.data-map';
export const DATA_MAP_VERSION = 1;
/** Deepest nesting a reader follows: 8 levels of 1 MiB maps name more bytes than exist. */
const MAX_LEVELS = 8;

export interface ChunkRef {
  readonly name: Name;
  readonly size: number;
}

export interface DataMap {
  readonly level: number;
  readonly size: number;
  readonly chunks: readonly ChunkRef[];
}

/** A file's name given as text: 128 hex characters. */
export function parseFileName(text: string): Name {
  const trimmed = text.trim();
  if (trimmed.length !== NAME_BYTES * 2 || !/^[0-9a-fA-F]+$/.test(trimmed)) {
    const shown = trimmed.length > 20 ? `${trimmed.slice(0, 20)}…` : trimmed;
    throw new InvalidNameError(`invalid name: must be ${NAME_BYTES * 2} hex characters, got ${trimmed.length} (${JSON.stringify(shown)})`);
  }
  return new Uint8Array(Buffer.from(trimmed, 'hex')) as Name;
}

/** The name is a chunk, but not a data map: it names no file. */
export class NotAFileError extends SafeError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}

export function encodeDataMap(map: DataMap): Uint8Array {
  const json = {
    format: DATA_MAP_FORMAT,
    version: DATA_MAP_VERSION,
    level: map.level,
    size: map.size,
    chunks: map.chunks.map((c) => ({ name: toHex(c.name), size: c.size })),
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses and checks a data map; `what` names it in errors. */
export function decodeDataMap(bytes: Uint8Array, what = 'chunk'): DataMap {
  const notAMap = (why: string) => new NotAFileError(`not a file: ${what} is not a data map (${why})`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw notAMap('not JSON');
  }
  if (typeof value !== 'object' || value === null) throw notAMap('not a JSON object');
  const o = value as Record<string, unknown>;
  if (o.format !== DATA_MAP_FORMAT) throw notAMap('no data-map format tag');
  if (o.version !== DATA_MAP_VERSION) throw notAMap(`version ${JSON.stringify(o.version)}, this client reads version ${DATA_MAP_VERSION}`);
  if (!isCount(o.level) || o.level > MAX_LEVELS) throw notAMap('bad level');
  if (!isCount(o.size)) throw notAMap('bad size');
  if (!Array.isArray(o.chunks)) throw notAMap('no chunk list');
  const chunks: ChunkRef[] = [];
  let total = 0;
  for (const entry of o.chunks as unknown[]) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || !isCount(e.size) || e.size === 0 || e.size > MAX_CHUNK_BYTES) {
      throw notAMap(`bad chunk entry ${chunks.length}`);
    }
    let name: Name;
    try {
      name = parseFileName(e.name);
    } catch {
      throw notAMap(`bad chunk name in entry ${chunks.length}`);
    }
    chunks.push({ name, size: e.size });
    total += e.size;
  }
  if (total !== o.size) throw notAMap(`its chunks add up to ${total} bytes, it says ${o.size}`);
  if (o.level > 0 && chunks.length === 0) throw notAMap('an upper level lists no chunks');
  return { level: o.level, size: o.size, chunks };
}
