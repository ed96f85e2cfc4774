import { type Fields, protoCodec } from '@safe/core';
import {
  AcknowledgeSchema,
  ApplyAcknowledgeSchema,
  type ApplyListChange,
  ApplyListChangeSchema,
  ApplyRegisterSchema,
  CreateMpidSchema,
  GetMessagesSchema,
  type HeldMessage as HeldMessageMessage,
  HeldMessageSchema,
  HoldMessageSchema,
  InboxSchema,
  ListChangeSchema,
  ListRequestSchema,
  ListsSchema,
  type Message,
  type MessageKey as MessageKeyMessage,
  MessageResultSchema,
  MessageSchema,
  type MpidAccount as MpidAccountMessage,
  MpidAccountSchema,
  MpidInfoSchema,
  SendMessageSchema,
} from '@safe/proto/mpid_manager';

// Send times are uint64 milliseconds: decoded as numbers (exact up to 2^53, far past any clock).

export type MessageKey = Fields<MessageKeyMessage>;
/** A message as the recipient's MpidManagers hold it and the recipient's node receives it. */
export type HeldMessage = Fields<HeldMessageMessage>;
/** One MPID's account: its owner, its key and its lists (sorted). */
export type MpidAccount = Fields<MpidAccountMessage>;

// ---- from the client (MpidNode) ----
export const createMpidCodec = protoCodec(CreateMpidSchema);
export const sendMessageCodec = protoCodec(SendMessageSchema);
export const getMessagesCodec = protoCodec(GetMessagesSchema);
export const acknowledgeCodec = protoCodec(AcknowledgeSchema);
export const listChangeCodec = protoCodec(ListChangeSchema);
export const listRequestCodec = protoCodec(ListRequestSchema);

// ---- replies to the client ----
export const mpidInfoCodec = protoCodec(MpidInfoSchema);
export const inboxCodec = protoCodec(InboxSchema);
export const listsCodec = protoCodec(ListsSchema);

// ---- between MpidManager groups ----
export type MessagePayload = Fields<Message>;
export const messageCodec = protoCodec(MessageSchema);
export const messageResultCodec = protoCodec(MessageResultSchema);

// ---- actions ----
export const applyRegisterCodec = protoCodec(ApplyRegisterSchema);
export type ListChange = Fields<ApplyListChange>;
export const applyListChangeCodec = protoCodec(ApplyListChangeSchema);
export const applyAcknowledgeCodec = protoCodec(ApplyAcknowledgeSchema);
export const holdMessageCodec = protoCodec(HoldMessageSchema);

// ---- records ----
export const mpidAccountCodec = protoCodec(MpidAccountSchema);
export const heldMessageCodec = protoCodec(HeldMessageSchema);
