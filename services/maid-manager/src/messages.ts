import { type ClientReplyValue, type Codec, type Fields, protoCodec, sender } from '@safe/core';
import {
  CreateAccountSchema as CreateAccountActionSchema,
  type PmidHealth as PmidHealthMessage,
  PmidHealthSchema,
  type PutResponse,
  PutResponseSchema,
  RecordDeleteSchema,
  RecordHealthSchema,
  type RecordPut as RecordPutMessage,
  RecordPutSchema,
  RegisterVaultSchema,
  type VersionResult as VersionResultMessage,
  VersionResultSchema,
} from '@safe/proto/maid_manager';
import {
  type AccountInfo as AccountInfoMessage,
  AccountInfoSchema,
  CreateAccountSchema,
  type DeleteBranchTillForkRequest,
  DeleteBranchTillForkRequestSchema,
  DeleteReplySchema,
  DeleteRequestSchema,
  GetAccountSchema,
  PutReplySchema,
  type PutRequest as PutRequestMessage,
  PutRequestSchema,
  type PutVersionRequest as PutVersionRequestMessage,
  PutVersionRequestSchema,
  VaultRegistrationSchema,
} from '@safe/proto/messages';
import { DeleteBranchTillForkSchema, PutVersionSchema } from '@safe/proto/version_manager';

// ---- from the client (messages.proto) ----
export const createAccountCodec = protoCodec(CreateAccountSchema);
export const vaultRegistrationCodec = protoCodec(VaultRegistrationSchema);
/** A client's Put: the chunk travels as the message's content, its digest being the chunk's name. */
export type PutRequest = Fields<PutRequestMessage>;
export const putRequestCodec = protoCodec(PutRequestSchema);
export const deleteRequestCodec = protoCodec(DeleteRequestSchema);
export const getAccountCodec = protoCodec(GetAccountSchema);
export type AccountInfo = Fields<AccountInfoMessage>;
export const accountInfoCodec = protoCodec(AccountInfoSchema);
export const putReplyCodec = protoCodec(PutReplySchema);
export const deleteReplyCodec = protoCodec(DeleteReplySchema);

// ---- from other personas ----
export type DataPutResponse = Fields<PutResponse>;
export const putResponseCodec = protoCodec(PutResponseSchema);
/** A PmidNode's health from its PmidManagers (`rank` is theirs; the MaidManagers read the counts). */
export type PmidHealth = Fields<PmidHealthMessage>;
export const pmidHealthCodec = protoCodec(PmidHealthSchema);

// ---- synced actions ----
export const createAccountActionCodec = protoCodec(CreateAccountActionSchema);
export const registerVaultActionCodec = protoCodec(RegisterVaultSchema);
export const recordHealthCodec = protoCodec(RecordHealthSchema);
export type RecordPut = Fields<RecordPutMessage>;
export const recordPutCodec = protoCodec(RecordPutSchema);
export const recordDeleteCodec = protoCodec(RecordDeleteSchema);

// ---- to other personas ----
/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('maid-manager');

// ---- versioned data: client → MaidManager → VersionManager → MaidManager → client ----
// Version indexes are full uint64: decimal strings (Version.index is [jstype = JS_STRING]).
export type PutVersionRequest = Fields<PutVersionRequestMessage>;
export const putVersionRequestCodec = protoCodec(PutVersionRequestSchema);
export type DeleteBranchRequest = Fields<DeleteBranchTillForkRequest>;
export const deleteBranchRequestCodec = protoCodec(DeleteBranchTillForkRequestSchema);
export const versionPutCodec = protoCodec(PutVersionSchema);
export const versionDeleteCodec = protoCodec(DeleteBranchTillForkSchema);
/** `reply` left out or null: the VersionManagers' answer is not in yet (see handlers/versions.ts). */
export type VersionResult = Fields<VersionResultMessage>;
export const versionResultCodec: Codec<VersionResult> = protoCodec(VersionResultSchema);
export type { ClientReplyValue };
