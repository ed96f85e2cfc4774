import type { Message } from 'kafkajs';

/** A record's key and value bytes: what `safe_bus_published_bytes_total` and `safe_bus_consumed_bytes_total` count. */
export function recordBytes(message: { readonly key?: Buffer | string | null; readonly value: Buffer | string | null }): number {
  const size = (part: Buffer | string | null | undefined) =>
    part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  return size(message.key) + size(message.value);
}

/** The bytes a copy puts in a record batch, near enough: key, value and headers. */
export function messageBytes(message: Message): number {
  let bytes = (message.key?.length ?? 0) + (message.value?.length ?? 0);
  for (const [name, value] of Object.entries(message.headers ?? {})) bytes += name.length + String(value ?? '').length;
  return bytes;
}
