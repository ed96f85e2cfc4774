import type { VersionName } from '@safe/chunks';
import type { Name } from '@safe/core';
import { protoCodec } from '@safe/core';
import { GetBranchRequestSchema, GetVersionsRequestSchema, VersionsReplySchema } from '@safe/proto/messages';

/** Limits a new SDV is created with; 0 (or absent) takes the network's default (SDV_LIMITS). */
export interface SdvLimits {
  readonly maxVersions?: number;
  readonly maxBranches?: number;
}

/** The client's versioned-data payloads (proto safe.v1): indexes are full uint64, decimal strings (Version.index is [jstype = JS_STRING]). */
export const versionCodecs = {
  getVersions: protoCodec(GetVersionsRequestSchema),
  getBranch: protoCodec(GetBranchRequestSchema),
  versions: protoCodec(VersionsReplySchema),
};

export function versionsOf(payload: Uint8Array): VersionName[] {
  return versionCodecs.versions.decode(payload).versions.map((v) => ({ index: BigInt(v.index), id: new Uint8Array(v.id) as Name }));
}
