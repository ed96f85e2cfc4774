import { createHash } from 'node:crypto';
import { type Envelope as EnvelopeMessage, EnvelopeSchema, Authority as WireAuthority, Scope as WireScope } from '@safe/proto/envelope';
import { contentDigest } from './content.js';
import { BadSignatureError, ContentMismatchError, MalformedEnvelopeError } from './errors.js';
import { type Identity, nameForPublicKey, PUBLIC_KEY_BYTES, verifySignature } from './identity.js';
import { NAME_BYTES, type Name, nameEquals, toHex } from './name.js';
import { type Fields, protoCodec } from './proto.js';

export interface Address {
  readonly persona: string;
  readonly nae: Name;
}

/** How the source speaks: as a close group (K signed copies) or as one authenticated entity. */
export type Authority = 'group' | 'single';
/** Who receives: every member of the close group of the NAE, or the one node named by it. */
export type Scope = 'close-group' | 'node';

/** What a sender decides; everything the message id covers. */
export interface MessageContent {
  readonly type: string;
  readonly source: Address;
  readonly authority: Authority;
  readonly destination: Address;
  readonly scope: Scope;
  readonly payload: Uint8Array;
  /** Id of the message this one answers; empty when it answers nothing. */
  readonly correlation: Uint8Array;
  /**
   * The entry node that holds a client call open, if any. Set by the entry after the client
   * signed, so it is routing data like `trace`: not covered by the id, and a retry through
   * another entry is still the same message to the firewall.
   */
  readonly replyTo?: Address;
  /**
   * SHA-512 of the message's bulk content (a chunk), when it has one: the id covers the digest,
   * not the content, so the K copies agree on the content while it travels on one copy only.
   */
  readonly contentDigest?: Uint8Array;
  /**
   * A client's request: when the client signed it (ms since the epoch). The id covers it, so a
   * request is good only within the network's window around that time (SPEC terms: docs/replay.md).
   */
  readonly issuedAt?: number;
}

/** One signed copy of a message. */
export interface Envelope extends MessageContent {
  /** The bulk content named by `contentDigest`, on the copy that carries it; not signed (the digest is). */
  readonly content?: Uint8Array;
  readonly id: Uint8Array;
  readonly sender: Name;
  readonly senderPublicKey: Uint8Array;
  readonly signature: Uint8Array;
  /** W3C trace context; not covered by id or signature (every hop adds its own). */
  readonly trace: Readonly<Record<string, string>>;
}

const ID_DOMAIN = new TextEncoder().encode('safe.v1.envelope');
const SIGNATURE_DOMAIN = new TextEncoder().encode('safe.v1.signature');
const EMPTY = new Uint8Array(0);

function lengthPrefixed(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += 4 + p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const p of parts) {
    view.setUint32(offset, p.length);
    out.set(p, offset + 4);
    offset += 4 + p.length;
  }
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** The fields the id covers, in their fixed order: the same list for the canonical bytes and the id. */
function canonicalParts(c: MessageContent): Uint8Array[] {
  return [
    ID_DOMAIN,
    utf8(c.type),
    utf8(c.source.persona),
    c.source.nae,
    utf8(c.authority),
    utf8(c.destination.persona),
    c.destination.nae,
    utf8(c.scope),
    c.payload,
    c.correlation,
    c.contentDigest ?? EMPTY,
    c.issuedAt === undefined ? EMPTY : uint64(c.issuedAt),
  ];
}

function uint64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** Canonical bytes of the content: length-prefixed fields in a fixed order, independent of protobuf. */
export function canonicalContent(c: MessageContent): Uint8Array {
  return lengthPrefixed(canonicalParts(c));
}

/**
 * The id the K copies of one group message share: SHA-512 of the canonical content. Hashed field
 * by field rather than over canonicalContent(): same bytes, without copying the payload. Bulk
 * content is covered through its digest, so no copy's id hashes the content again.
 */
export function messageId(c: MessageContent): Uint8Array {
  const hash = createHash('sha512');
  const prefix = new DataView(new ArrayBuffer(4));
  for (const part of canonicalParts(c)) {
    prefix.setUint32(0, part.length);
    hash.update(new Uint8Array(prefix.buffer));
    hash.update(part);
  }
  return new Uint8Array(hash.digest());
}

/**
 * Checks the content a copy carries against the digest its id covers (hashed once per content
 * object: see contentDigest). A copy without content passes: its content comes with another copy.
 */
export function checkContent(envelope: Envelope): void {
  if (envelope.content === undefined) return;
  const digest = envelope.contentDigest;
  if (digest === undefined || digest.length !== NAME_BYTES) {
    throw new MalformedEnvelopeError(`${envelope.type} carries content but no 64-byte content digest`);
  }
  if (!nameEquals(contentDigest(envelope.content), digest)) {
    throw new ContentMismatchError(`${envelope.type} from ${toHex(envelope.sender).slice(0, 8)}: content does not match its digest`);
  }
}

function signedBytes(id: Uint8Array, sender: Uint8Array): Uint8Array {
  return lengthPrefixed([SIGNATURE_DOMAIN, id, sender]);
}

/** Makes this node's signed copy of a message. */
export function sealEnvelope(content: MessageContent, identity: Identity, trace: Record<string, string> = {}): Envelope {
  const id = messageId(content);
  return {
    ...content,
    id,
    sender: identity.name,
    senderPublicKey: identity.publicKey,
    signature: identity.sign(signedBytes(id, identity.name)),
    trace,
  };
}

/**
 * A client's signed request (a MaidNode speaks for its own name, to a close group). Its bulk
 * content, if any, travels as the envelope's content under its digest, which the id covers.
 */
export function sealClientRequest(
  identity: Identity,
  type: string,
  destination: Address,
  payload: Uint8Array,
  content?: Uint8Array,
  issuedAt = Date.now(),
): Envelope {
  const sealed = sealEnvelope(
    {
      type,
      source: { persona: 'client', nae: identity.name },
      authority: 'single',
      destination,
      scope: 'close-group',
      payload,
      correlation: EMPTY,
      ...(content ? { contentDigest: contentDigest(content) } : {}),
      issuedAt,
    },
    identity,
  );
  return content ? { ...sealed, content } : sealed;
}

/**
 * Checks what a copy claims about itself: its id is the hash of its content (so a copy whose
 * content differs cannot count toward another copy's id), its sender is the hash of the key it
 * carries, and the signature is that key's. Throws a typed error; never changes state.
 */
export function verifyEnvelope(envelope: Envelope): void {
  if (verified.has(envelope)) return;
  if (!nameEquals(messageId(envelope), envelope.id)) {
    throw new MalformedEnvelopeError(`message ${toHex(envelope.id).slice(0, 16)}: id does not match its content`);
  }
  if (!nameEquals(nameForPublicKey(envelope.senderPublicKey), envelope.sender)) {
    throw new BadSignatureError('sender name is not the hash of the sender public key');
  }
  if (!verifySignature(envelope.senderPublicKey, signedBytes(envelope.id, envelope.sender), envelope.signature)) {
    throw new BadSignatureError(`bad signature on ${envelope.type} from ${toHex(envelope.sender).slice(0, 8)}`);
  }
  verified.add(envelope);
}

/**
 * Envelopes already verified, by object: a copy is an immutable value, and the in-process bus
 * hands one object to every recipient (and the entry, the accumulator and sync all check it), so
 * each object is hashed and its signature checked once. A copy off the wire is a new object.
 */
const verified = new WeakSet<Envelope>();

// ---- wire format (proto/safe/v1/envelope.proto) ----

interface WireAddress {
  persona?: string;
  nae?: Uint8Array;
}
interface WireEnvelope {
  id?: Uint8Array;
  type?: string;
  source?: WireAddress | null;
  authority?: number;
  destination?: WireAddress | null;
  scope?: number;
  payload?: Uint8Array;
  correlation?: Uint8Array;
  replyTo?: WireAddress | null;
  sender?: Uint8Array;
  senderPublicKey?: Uint8Array;
  signature?: Uint8Array;
  trace?: Record<string, string>;
  contentDigest?: Uint8Array;
  content?: Uint8Array;
  issuedAt?: number | bigint | { toNumber(): number } | string;
}

// The id covers authority and scope by these names (canonicalParts), the wire by the enums' numbers.
const AUTHORITY = { group: WireAuthority.GROUP, single: WireAuthority.SINGLE } as const;
const SCOPE = { 'close-group': WireScope.CLOSE_GROUP, node: WireScope.NODE } as const;

const envelopeCodec = protoCodec(EnvelopeSchema);

/** An envelope as its message (proto/safe/v1/envelope.proto) holds it. */
export function toWire(e: Envelope): Fields<EnvelopeMessage> {
  return {
    id: e.id,
    type: e.type,
    source: { persona: e.source.persona, nae: e.source.nae },
    authority: AUTHORITY[e.authority],
    destination: { persona: e.destination.persona, nae: e.destination.nae },
    scope: SCOPE[e.scope],
    payload: e.payload,
    correlation: e.correlation,
    replyTo: e.replyTo ? { persona: e.replyTo.persona, nae: e.replyTo.nae } : null,
    sender: e.sender,
    senderPublicKey: e.senderPublicKey,
    signature: e.signature,
    trace: { ...e.trace },
    contentDigest: e.contentDigest ?? EMPTY,
    content: e.content ?? EMPTY,
    issuedAt: e.issuedAt ?? 0,
  };
}

/** A uint64 as a decoder hands it over (a number, a bigint, a Long, or a string), as a safe integer; 0 when absent. */
function wireTime(value: WireEnvelope['issuedAt'], field: string): number {
  const n = typeof value === 'object' && value !== null ? value.toNumber() : Number(value ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw new MalformedEnvelopeError(`${field} is not a time in ms`);
  return n;
}

export function encodeEnvelope(e: Envelope): Uint8Array {
  return envelopeCodec.encode(toWire(e));
}

function bytesField(value: Uint8Array | undefined, field: string, length?: number): Uint8Array {
  const bytes = value instanceof Uint8Array ? new Uint8Array(value) : EMPTY;
  if (length !== undefined && bytes.length !== length) {
    throw new MalformedEnvelopeError(`${field} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

function address(value: WireAddress | null | undefined, field: string): Address {
  if (!value?.persona) throw new MalformedEnvelopeError(`${field} is missing`);
  const persona = identifier(value.persona, `${field}.persona`, ENVELOPE_LIMITS.personaChars);
  return { persona, nae: bytesField(value.nae, `${field}.nae`, NAME_BYTES) as Name };
}

/**
 * What one envelope may hold: every field is bounded, so a request that overreaches is refused
 * naming the field, before anything hashes, stores or echoes it. Message types and persona
 * names are short identifiers; a payload is at most what the group bus carries in one record
 * (8 MiB: an account transfer batch is the largest); a trace context is W3C's (traceparent,
 * tracestate: 512 characters).
 */
export const ENVELOPE_LIMITS = {
  typeChars: 64,
  personaChars: 32,
  payloadBytes: 8 * 1024 * 1024,
  /** A message id or a sync key. */
  correlationBytes: NAME_BYTES,
  signatureBytes: 64,
  traceEntries: 8,
  traceKeyChars: 64,
  traceValueChars: 512,
} as const;

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9.-]*$/;

function identifier(value: string, field: string, most: number): string {
  if (value.length > most) throw new MalformedEnvelopeError(`${field} is ${value.length} characters, at most ${most}`);
  if (!IDENTIFIER.test(value))
    throw new MalformedEnvelopeError(`${field} must start with a letter and hold only letters, digits, dots and dashes`);
  return value;
}

function bounded(bytes: Uint8Array, field: string, most: number): Uint8Array {
  if (bytes.length > most) throw new MalformedEnvelopeError(`${field} is ${bytes.length} bytes, at most ${most}`);
  return bytes;
}

function traceContext(trace: Record<string, string> | undefined): Record<string, string> {
  const entries = Object.entries(trace ?? {});
  const { traceEntries, traceKeyChars, traceValueChars } = ENVELOPE_LIMITS;
  if (entries.length > traceEntries) throw new MalformedEnvelopeError(`trace has ${entries.length} entries, at most ${traceEntries}`);
  for (const [key, value] of entries) {
    if (key.length > traceKeyChars) throw new MalformedEnvelopeError(`a trace key is ${key.length} characters, at most ${traceKeyChars}`);
    if (value.length > traceValueChars) {
      throw new MalformedEnvelopeError(`trace ${key.slice(0, traceKeyChars)} is ${value.length} characters, at most ${traceValueChars}`);
    }
  }
  return Object.fromEntries(entries);
}

/** Checks shape and field sizes of a decoded or client-built envelope; throws MalformedEnvelopeError. */
export function fromWire(w: WireEnvelope): Envelope {
  if (!w.type) throw new MalformedEnvelopeError('type is missing');
  const type = identifier(w.type, 'type', ENVELOPE_LIMITS.typeChars);
  const authority = w.authority === AUTHORITY.group ? 'group' : w.authority === AUTHORITY.single ? 'single' : undefined;
  if (authority === undefined) throw new MalformedEnvelopeError(`authority ${w.authority ?? 0} is not GROUP or SINGLE`);
  const scope = w.scope === SCOPE['close-group'] ? 'close-group' : w.scope === SCOPE.node ? 'node' : undefined;
  if (scope === undefined) throw new MalformedEnvelopeError(`scope ${w.scope ?? 0} is not CLOSE_GROUP or NODE`);
  const replyTo = w.replyTo?.persona ? address(w.replyTo, 'reply_to') : undefined;
  const digest = bytesField(w.contentDigest, 'content_digest');
  if (digest.length !== 0 && digest.length !== NAME_BYTES) {
    throw new MalformedEnvelopeError(`content_digest must be 64 bytes or empty, got ${digest.length}`);
  }
  // proto3 cannot tell empty bytes from none: a copy with no content carries none.
  // A view of the decoded record, not a copy: content is never changed in place.
  const content = w.content instanceof Uint8Array ? w.content : EMPTY;
  if (content.length > 0 && digest.length === 0) throw new MalformedEnvelopeError('content without a content_digest');
  const issuedAt = wireTime(w.issuedAt, 'issued_at');
  return {
    id: bytesField(w.id, 'id', NAME_BYTES),
    type,
    source: address(w.source, 'source'),
    authority,
    destination: address(w.destination, 'destination'),
    scope,
    payload: bounded(bytesField(w.payload, 'payload'), 'payload', ENVELOPE_LIMITS.payloadBytes),
    correlation: bounded(bytesField(w.correlation, 'correlation'), 'correlation', ENVELOPE_LIMITS.correlationBytes),
    ...(replyTo ? { replyTo } : {}),
    sender: bytesField(w.sender, 'sender', NAME_BYTES) as Name,
    senderPublicKey: bytesField(w.senderPublicKey, 'sender_public_key', PUBLIC_KEY_BYTES),
    signature: bounded(bytesField(w.signature, 'signature'), 'signature', ENVELOPE_LIMITS.signatureBytes),
    trace: traceContext(w.trace),
    ...(digest.length > 0 ? { contentDigest: digest } : {}),
    ...(content.length > 0 ? { content } : {}),
    ...(issuedAt > 0 ? { issuedAt } : {}),
  };
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let wire: WireEnvelope;
  try {
    wire = envelopeCodec.decode(bytes);
  } catch (cause) {
    throw new MalformedEnvelopeError('bytes do not decode as a safe.v1.Envelope', { cause });
  }
  return fromWire(wire);
}

export function idHex(e: { id: Uint8Array }): string {
  return toHex(e.id);
}
