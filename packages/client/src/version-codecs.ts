import type { VersionName, WireVersion } from '@safe/chunks';
import type { Name } from '@safe/core';
import { protoCodec } from '@safe/core';

/** Limits a new SDV is created with; 0 (or absent) takes the network's default (SDV_LIMITS). */
export interface SdvLimits {
  readonly maxVersions?: number;
  readonly maxBranches?: number;
}

/** The client's versioned-data payloads (proto safe.v1): indexes are full uint64, decoded as strings. */
export const versionCodecs = {
  putVersion: protoCodec<{
    dataName: Uint8Array;
    type: number;
    old: WireVersion | null;
    newVersion: WireVersion;
    maxVersions: number;
    maxBranches: number;
    nonce: Uint8Array;
  }>('safe.v1.PutVersionRequest', { longs: 'string' }),
  deleteBranch: protoCodec<{ dataName: Uint8Array; type: number; tip: WireVersion; nonce: Uint8Array }>(
    'safe.v1.DeleteBranchTillForkRequest',
    { longs: 'string' },
  ),
  getVersions: protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.GetVersionsRequest', { longs: 'string' }),
  getBranch: protoCodec<{ name: Uint8Array; tip: WireVersion; nonce: Uint8Array }>('safe.v1.GetBranchRequest', { longs: 'string' }),
  versions: protoCodec<{ versions: WireVersion[] }>('safe.v1.VersionsReply', { longs: 'string' }),
};

export function versionsOf(payload: Uint8Array): VersionName[] {
  return versionCodecs.versions.decode(payload).versions.map((v) => ({ index: BigInt(v.index), id: new Uint8Array(v.id) as Name }));
}
