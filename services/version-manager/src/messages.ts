import { type Fields, protoCodec, sender } from '@safe/core';
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

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('version-manager');

// ---- the record (store and account transfer) ----
export type SdvRecord = Fields<SdvRecordMessage>;
export const sdvRecordCodec = protoCodec(SdvRecordSchema);
