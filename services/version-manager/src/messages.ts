import { type Fields, protoCodec, sender } from '@safe/core';
import { VersionsReplySchema } from '@safe/proto/messages';
import {
  ApplyDeleteBranchTillForkSchema,
  ApplyPutVersionSchema,
  type DeleteBranchTillFork as DeleteBranchTillForkMessage,
  type PutVersion as PutVersionMessage,
  type SdvRecord as SdvRecordMessage,
  SdvRecordSchema,
} from '@safe/proto/version_manager';

// Version indexes are full uint64: decimal strings (Version.index is [jstype = JS_STRING]).

// What this persona receives is declared once in @safe/messages (toVersionManager), payloads included.

// ---- replies to the client (messages.proto) ----
export const versionsReplyCodec = protoCodec(VersionsReplySchema);

// ---- the MaidManagers' requests, as the agreed actions and the answers carry them ----
export type PutVersion = Fields<PutVersionMessage>;
export type DeleteBranchTillFork = Fields<DeleteBranchTillForkMessage>;

// ---- synced actions: the request as agreed, and the id of the message whose answer it is (Uf) ----
export const applyPutVersionCodec = protoCodec(ApplyPutVersionSchema);
export const applyDeleteBranchCodec = protoCodec(ApplyDeleteBranchTillForkSchema);

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('version-manager');

// ---- the record (store and account transfer) ----
export type SdvRecord = Fields<SdvRecordMessage>;
export const sdvRecordCodec = protoCodec(SdvRecordSchema);
