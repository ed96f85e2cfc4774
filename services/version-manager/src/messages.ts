import type { WireOrigin, WireVersion } from '@safe/chunks';
import { type ClientReplyValue, protoCodec, registerProtoFile } from '@safe/core';

registerProtoFile('safe/v1/version_manager.proto');
registerProtoFile('safe/v1/maid_manager.proto');

// Version indexes are full uint64: every codec carrying one decodes 64-bit fields as strings.
const exact = { longs: 'string' } as const;

// ---- from the client (messages.proto) ----
export const getVersionsCodec = protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.GetVersionsRequest', exact);
export const getBranchCodec = protoCodec<{ name: Uint8Array; tip: WireVersion | null; nonce: Uint8Array }>(
  'safe.v1.GetBranchRequest',
  exact,
);
export const versionsReplyCodec = protoCodec<{ versions: WireVersion[] }>('safe.v1.VersionsReply', exact);

// ---- from the MaidManager ----
export interface PutVersion {
  dataName: Uint8Array;
  type: number;
  owner: Uint8Array;
  old: WireVersion | null;
  newVersion: WireVersion | null;
  maxVersions: number;
  maxBranches: number;
  origin: WireOrigin | null;
}
export const putVersionCodec = protoCodec<PutVersion>('safe.v1.version_manager.PutVersion', exact);
export interface DeleteBranchTillFork {
  dataName: Uint8Array;
  type: number;
  owner: Uint8Array;
  tip: WireVersion | null;
  origin: WireOrigin | null;
}
export const deleteBranchCodec = protoCodec<DeleteBranchTillFork>('safe.v1.version_manager.DeleteBranchTillFork', exact);

// ---- synced actions: the request as agreed, and the id of the message whose answer it is (Uf) ----
export const applyPutVersionCodec = protoCodec<{ request: PutVersion | null; answers: Uint8Array }>(
  'safe.v1.version_manager.ApplyPutVersion',
  exact,
);
export const applyDeleteBranchCodec = protoCodec<{ request: DeleteBranchTillFork | null; answers: Uint8Array }>(
  'safe.v1.version_manager.ApplyDeleteBranchTillFork',
  exact,
);

// ---- to the MaidManager ----
export const versionResultCodec = protoCodec<{ dataName: Uint8Array; type: number; origin: WireOrigin | null; reply: ClientReplyValue }>(
  'safe.v1.maid_manager.VersionResult',
);

// ---- the record (store and account transfer) ----
export interface SdvRecord {
  dataName: Uint8Array;
  type: number;
  owner: Uint8Array;
  maxVersions: number;
  maxBranches: number;
  versions: { version: WireVersion | null; parent: WireVersion | null }[];
}
export const sdvRecordCodec = protoCodec<SdvRecord>('safe.v1.version_manager.SdvRecord', exact);
