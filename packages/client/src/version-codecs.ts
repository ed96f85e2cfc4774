import type { VersionName } from '@safe/chunks';
import type { Name } from '@safe/core';
import { protoCodec } from '@safe/core';
import { VersionsReplySchema } from '@safe/proto/messages';

/** Limits a new SDV is created with; 0 (or absent) takes the network's default (SDV_LIMITS). */
export interface SdvLimits {
  readonly maxVersions?: number;
  readonly maxBranches?: number;
}

/**
 * The answer to a versioned-data request (the requests are rows of @safe/messages): indexes are
 * full uint64, decimal strings (Version.index is [jstype = JS_STRING]).
 */
export const versionCodecs = {
  versions: protoCodec(VersionsReplySchema),
};

export function versionsOf(payload: Uint8Array): VersionName[] {
  return versionCodecs.versions.decode(payload).versions.map((v) => ({ index: BigInt(v.index), id: new Uint8Array(v.id) as Name }));
}
