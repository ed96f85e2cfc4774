import type { ChunkCopy, WireOrigin, WireVersion } from '@safe/chunks';
import { type ClientReplyValue, protoCodec, registerProtoFile, type VaultRegistration } from '@safe/core';

registerProtoFile('safe/v1/maid_manager.proto');
registerProtoFile('safe/v1/data_manager.proto');
registerProtoFile('safe/v1/pmid_manager.proto');
registerProtoFile('safe/v1/version_manager.proto');

// ---- from the client (messages.proto) ----
export const createAccountCodec = protoCodec<Record<string, never>>('safe.v1.CreateAccount');
export const vaultRegistrationCodec = protoCodec<VaultRegistration>('safe.v1.VaultRegistration');
/** A client's Put: the chunk travels as the message's content, its digest being the chunk's name. */
export interface PutRequest {
  name: Uint8Array;
  nonce: Uint8Array;
}
export const putRequestCodec = protoCodec<PutRequest>('safe.v1.PutRequest');
export const deleteRequestCodec = protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.DeleteRequest');
export const getAccountCodec = protoCodec<{ nonce: Uint8Array }>('safe.v1.GetAccount');
export interface AccountInfo {
  stored: number;
  available: number;
  vaults: Uint8Array[];
  chunks: number;
}
export const accountInfoCodec = protoCodec<AccountInfo>('safe.v1.AccountInfo');
export const putReplyCodec = protoCodec<{ name: Uint8Array; cost: number }>('safe.v1.PutReply');
export const deleteReplyCodec = protoCodec<{ held: boolean }>('safe.v1.DeleteReply');

// ---- from other personas ----
export interface DataPutResponse {
  name: Uint8Array;
  copy: ChunkCopy;
  client: Uint8Array;
  origin: WireOrigin | null;
  stored: boolean;
  error: string;
  cost: number;
  exists: boolean;
}
export const putResponseCodec = protoCodec<DataPutResponse>('safe.v1.maid_manager.PutResponse');
export interface PmidHealth {
  pmid: Uint8Array;
  offered: number;
  stored: number;
  lost: number;
  client: Uint8Array;
  origin: WireOrigin | null;
}
export const pmidHealthCodec = protoCodec<PmidHealth>('safe.v1.maid_manager.PmidHealth');

// ---- synced actions ----
export const createAccountActionCodec = protoCodec<{ client: Uint8Array; publicKey: Uint8Array; origin: WireOrigin | null }>(
  'safe.v1.maid_manager.CreateAccount',
);
export const registerVaultActionCodec = protoCodec<{ client: Uint8Array; pmid: Uint8Array; origin: WireOrigin | null }>(
  'safe.v1.maid_manager.RegisterVault',
);
export const recordHealthCodec = protoCodec<{ client: Uint8Array; pmid: Uint8Array; offered: number; origin: WireOrigin | null }>(
  'safe.v1.maid_manager.RecordHealth',
);
export interface RecordPut {
  client: Uint8Array;
  name: Uint8Array;
  copy: ChunkCopy;
  cost: number;
  stored: boolean;
  error: string;
  origin: WireOrigin | null;
  exists: boolean;
}
export const recordPutCodec = protoCodec<RecordPut>('safe.v1.maid_manager.RecordPut');
export const recordDeleteCodec = protoCodec<{ client: Uint8Array; name: Uint8Array; origin: WireOrigin | null }>(
  'safe.v1.maid_manager.RecordDelete',
);

// ---- to other personas ----
export const dataPutCodec = protoCodec<{
  name: Uint8Array;
  copy: ChunkCopy;
  context: { client: Uint8Array; origin: WireOrigin | null } | null;
  unique: boolean;
}>('safe.v1.data_manager.Put');
export const dataDeleteCodec = protoCodec<{ name: Uint8Array; copy: ChunkCopy }>('safe.v1.data_manager.Delete');
export const getPmidHealthCodec = protoCodec<{ pmid: Uint8Array; client: Uint8Array; origin: WireOrigin | null }>(
  'safe.v1.pmid_manager.GetPmidHealth',
);

// ---- versioned data: client → MaidManager → VersionManager → MaidManager → client ----
// Version indexes are full uint64: these codecs decode 64-bit fields as strings.
export interface PutVersionRequest {
  dataName: Uint8Array;
  type: number;
  old: WireVersion | null;
  newVersion: WireVersion | null;
  maxVersions: number;
  maxBranches: number;
  nonce: Uint8Array;
}
export const putVersionRequestCodec = protoCodec<PutVersionRequest>('safe.v1.PutVersionRequest', { longs: 'string' });
export interface DeleteBranchRequest {
  dataName: Uint8Array;
  type: number;
  tip: WireVersion | null;
  nonce: Uint8Array;
}
export const deleteBranchRequestCodec = protoCodec<DeleteBranchRequest>('safe.v1.DeleteBranchTillForkRequest', { longs: 'string' });
export const versionPutCodec = protoCodec<Omit<PutVersionRequest, 'nonce'> & { owner: Uint8Array; origin: WireOrigin | null }>(
  'safe.v1.version_manager.PutVersion',
  { longs: 'string' },
);
export const versionDeleteCodec = protoCodec<Omit<DeleteBranchRequest, 'nonce'> & { owner: Uint8Array; origin: WireOrigin | null }>(
  'safe.v1.version_manager.DeleteBranchTillFork',
  { longs: 'string' },
);
export interface VersionResult {
  dataName: Uint8Array;
  type: number;
  origin: WireOrigin | null;
  reply: ClientReplyValue | null;
}
export const versionResultCodec = protoCodec<VersionResult>('safe.v1.maid_manager.VersionResult');
