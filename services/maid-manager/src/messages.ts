import { type ClientReplyValue, type Fields, protoCodec, sender } from '@safe/core';
import {
  CreateAccountSchema as CreateAccountActionSchema,
  RecordDeleteSchema,
  RecordHealthSchema,
  type RecordPut as RecordPutMessage,
  RecordPutSchema,
  RegisterVaultSchema,
} from '@safe/proto/maid_manager';
import { type AccountInfo as AccountInfoMessage, AccountInfoSchema, DeleteReplySchema, PutReplySchema } from '@safe/proto/messages';

// What this persona receives is declared once in @safe/messages (toMaidManager), payloads included.

// ---- replies to the client (messages.proto) ----
export type AccountInfo = Fields<AccountInfoMessage>;
export const accountInfoCodec = protoCodec(AccountInfoSchema);
export const putReplyCodec = protoCodec(PutReplySchema);
export const deleteReplyCodec = protoCodec(DeleteReplySchema);

// ---- synced actions ----
export const createAccountActionCodec = protoCodec(CreateAccountActionSchema);
export const registerVaultActionCodec = protoCodec(RegisterVaultSchema);
export const recordHealthCodec = protoCodec(RecordHealthSchema);
export type RecordPut = Fields<RecordPutMessage>;
export const recordPutCodec = protoCodec(RecordPutSchema);
export const recordDeleteCodec = protoCodec(RecordDeleteSchema);

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('maid-manager');
export type { ClientReplyValue };
