import { type Fields, InvalidNameError, type Name, parseName, sha512 } from '@safe/core';
import type { Version } from '@safe/proto/messages';

/**
 * Versioned data as the client, the MaidManager and the VersionManager share it (SPEC.md 3.6): a
 * StructuredDataVersions (SDV) is named by its data name, its type and its owner's id, and holds
 * versions `(index, id)`.
 */

/** A version as it travels (proto safe.v1.Version; the uint64 index as a decimal string, so no bit is lost). */
export type WireVersion = Fields<Version>;

/** A version: index an unsigned 64-bit count, id the 64-byte name of the version's content. */
export interface VersionName {
  readonly index: bigint;
  readonly id: Name;
}

export const MAX_VERSION_INDEX = 2n ** 64n - 1n;

/** The type of data a client keeps as versions of its files (the `safe version` commands). */
export const VERSIONED_FILE_TYPE = 0;

/** What a new SDV may be created with, and what it gets when the client names no limit (SPEC.md 3.6, README). */
export const SDV_LIMITS = {
  maxVersions: { default: 100, min: 1, max: 256 },
  maxBranches: { default: 10, min: 1, max: 32 },
} as const;

/** The SDV's name (its NAE): hash(data name ‖ type ‖ owner). An owner cannot name another owner's SDV. */
export function sdvName(dataName: Uint8Array, type: number, owner: Uint8Array): Name {
  const typeBytes = new Uint8Array(4);
  new DataView(typeBytes.buffer).setUint32(0, type);
  return sha512(parseName(dataName, 'data name'), typeBytes, parseName(owner, 'owner')) as Name;
}

/** A wire version, checked: a uint64 index and a 64-byte id. */
export function fromWireVersion(wire: WireVersion | null | undefined, what = 'version'): VersionName {
  if (wire === null || wire === undefined) throw new InvalidNameError(`${what} is missing`);
  if (!/^\d{1,20}$/.test(wire.index) || BigInt(wire.index) > MAX_VERSION_INDEX) {
    throw new InvalidNameError(`${what} index ${JSON.stringify(wire.index)} is not an unsigned 64-bit count`);
  }
  return { index: BigInt(wire.index), id: parseName(wire.id, `${what} id`) };
}

export function toWireVersion(version: VersionName): WireVersion {
  return { index: version.index.toString(), id: version.id };
}

/** `INDEX ID` (ID in hex): how the CLI prints a version and how errors name one. */
export function formatVersion(version: VersionName): string {
  return `${version.index} ${Buffer.from(version.id).toString('hex')}`;
}

/** A limit the client asked for, or the default for 0 (none asked); out of range is refused. */
export function sdvLimit(which: keyof typeof SDV_LIMITS, asked: number): number {
  const { default: fallback, min, max } = SDV_LIMITS[which];
  if (asked === 0) return fallback;
  if (!Number.isInteger(asked) || asked < min || asked > max) {
    throw new InvalidNameError(`${which} must be from ${min} to ${max}, not ${asked}`);
  }
  return asked;
}

/** The data name of a client's KEY (any text): its SHA-512. With the owner's id it names the SDV. */
export function keyDataName(key: string): Name {
  return sha512(new TextEncoder().encode(key)) as Name;
}
