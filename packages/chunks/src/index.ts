import {
  type Address,
  type ClientOrigin,
  ContentMismatchError,
  contentDigest,
  type Fields,
  InvalidNameError,
  type Name,
  nameEquals,
  parseName,
  sha512,
} from '@safe/core';
import { ChunkCopy, LossReason, type Origin, type PutContext as PutContextMessage } from '@safe/proto/messages';

/** Largest chunk the network stores: 1 MiB (a file is split into chunks of at most this size). */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/**
 * The three copy groups of one immutable chunk (seeds 001, 004): ImmutableData at name =
 * hash(content), ImmutableDataBackup at hash(name), ImmutableDataSacrificial at hash(hash(name)).
 * Each group is a separate DataManager close group keeping its own copies.
 */
export { ChunkCopy };
export const CHUNK_COPIES: readonly ChunkCopy[] = [ChunkCopy.PRIMARY, ChunkCopy.BACKUP, ChunkCopy.SACRIFICIAL];
/** Primary and backup MUST be stored; sacrificial copies are only attempted. */
export const MUST_STORE_COPIES: readonly ChunkCopy[] = [ChunkCopy.PRIMARY, ChunkCopy.BACKUP];

/** A copy by its proto name (PRIMARY, BACKUP, SACRIFICIAL): in keys, file names and messages, as before the generated enum. */
export function copyName(copy: ChunkCopy): keyof typeof ChunkCopy {
  const name = ChunkCopy[copy] as keyof typeof ChunkCopy | undefined;
  if (name === undefined) throw new InvalidNameError(`copy ${copy} is not PRIMARY, BACKUP or SACRIFICIAL`);
  return name;
}

export function copyIndex(copy: ChunkCopy): number {
  return CHUNK_COPIES.indexOf(copy);
}

/** The NAE of a copy group: the chunk name hashed once per level. */
export function copyGroupName(name: Name, copy: ChunkCopy): Name {
  let nae: Uint8Array = name;
  for (let i = 0; i < copyIndex(copy); i++) nae = sha512(nae);
  return nae as Name;
}

/**
 * Why a holder no longer has a copy (proto safe.v1.LossReason): missing on the node's rejoin,
 * held corrupt, or a sacrificial copy deleted to make room for a must-store one (SPEC.md 3.3).
 */
export { LossReason };

/** A loss reason by its proto name (LOST, CORRUPT, DELETED_FOR_ROOM). */
export function lossReasonName(reason: LossReason): keyof typeof LossReason {
  return (LossReason[reason] as keyof typeof LossReason | undefined) ?? 'LOST';
}

export function isMustStore(copy: ChunkCopy): boolean {
  return MUST_STORE_COPIES.includes(copy);
}

/** Checks that content is a valid immutable chunk named `name`: self-validating, within the size limit. */
export function checkChunk(name: Uint8Array, content: Uint8Array, maxBytes = MAX_CHUNK_BYTES): Name {
  const checked = parseName(name, 'chunk name');
  if (content.length === 0) throw new InvalidNameError('a chunk holds at least one byte');
  if (content.length > maxBytes) {
    throw new InvalidNameError(`chunk is ${content.length} bytes, more than the limit of ${maxBytes}`);
  }
  // The digest the runtime checked the content against on its way in: no second hash.
  if (!nameEquals(contentDigest(content), checked)) throw new ContentMismatchError('chunk content does not hash to its name');
  return checked;
}

/** Origin as it travels in payloads (proto safe.v1.Origin). */
export type WireOrigin = Fields<Origin>;

export function toWireOrigin(origin: ClientOrigin): WireOrigin {
  return { request: origin.request, replyPersona: origin.replyTo.persona, replyNode: origin.replyTo.nae };
}

export function fromWireOrigin(wire: WireOrigin | null | undefined): ClientOrigin | undefined {
  if (!wire || wire.request.length === 0 || wire.replyNode.length === 0) return undefined;
  const replyTo: Address = { persona: wire.replyPersona, nae: parseName(wire.replyNode, 'origin reply node') };
  return { request: wire.request, replyTo };
}

/** What the DataManager gets back when a store completes (proto safe.v1.PutContext). */
export type PutContext = Fields<PutContextMessage>;
export * from './mpid.js';
export * from './versions.js';
