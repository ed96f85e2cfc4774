import { type Fields, protoCodec } from '@safe/core';
import { VersionResultSchema } from '@safe/proto/maid_manager';
import { GetBranchRequestSchema, GetVersionsRequestSchema, VersionsReplySchema } from '@safe/proto/messages';
import {
  ApplyDeleteBranchTillForkSchema,
  ApplyPutVersionSchema,
  type DeleteBranchTillFork as DeleteBranchTillForkMessage,
  DeleteBranchTillForkSchema,
  type PutVersion as PutVersionMessage,
  PutVersionSchema,
  type SdvRecord as SdvRecordMessage,
  SdvRecordSchema,
} from '@safe/proto/version_manager';

// Version indexes are full uint64: decimal strings (Version.index is [jstype = JS_STRING]).

// ---- from the client (messages.proto) ----
export const getVersionsCodec = protoCodec(GetVersionsRequestSchema);
export const getBranchCodec = protoCodec(GetBranchRequestSchema);
export const versionsReplyCodec = protoCodec(VersionsReplySchema);

// ---- from the MaidManager ----
export type PutVersion = Fields<PutVersionMessage>;
export const putVersionCodec = protoCodec(PutVersionSchema);
export type DeleteBranchTillFork = Fields<DeleteBranchTillForkMessage>;
export const deleteBranchCodec = protoCodec(DeleteBranchTillForkSchema);

// ---- synced actions: the request as agreed, and the id of the message whose answer it is (Uf) ----
export const applyPutVersionCodec = protoCodec(ApplyPutVersionSchema);
export const applyDeleteBranchCodec = protoCodec(ApplyDeleteBranchTillForkSchema);

// ---- to the MaidManager ----
export const versionResultCodec = protoCodec(VersionResultSchema);

// ---- the record (store and account transfer) ----
export type SdvRecord = Fields<SdvRecordMessage>;
export const sdvRecordCodec = protoCodec(SdvRecordSchema);
