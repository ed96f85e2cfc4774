import { type Fields, protoCodec, sender } from '@safe/core';
import {
  ApplyAcknowledgeSchema,
  type ApplyListChange,
  ApplyListChangeSchema,
  ApplyRegisterSchema,
  type HeldMessage as HeldMessageMessage,
  HeldMessageSchema,
  HoldMessageSchema,
  InboxSchema,
  ListsSchema,
  type MessageKey as MessageKeyMessage,
  type MpidAccount as MpidAccountMessage,
  MpidAccountSchema,
  MpidInfoSchema,
} from '@safe/proto/mpid_manager';

// Send times are uint64 milliseconds: decoded as numbers (exact up to 2^53, far past any clock).

export type MessageKey = Fields<MessageKeyMessage>;
/** A message as the recipient's MpidManagers hold it and the recipient's node receives it. */
export type HeldMessage = Fields<HeldMessageMessage>;
/** One MPID's account: its owner, its key and its lists (sorted). */
export type MpidAccount = Fields<MpidAccountMessage>;

// What this persona receives is declared once in @safe/messages (toMpidManager), payloads included.

// ---- replies to the client ----
export const mpidInfoCodec = protoCodec(MpidInfoSchema);
export const inboxCodec = protoCodec(InboxSchema);
export const listsCodec = protoCodec(ListsSchema);

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('mpid-manager');

// ---- actions ----
export const applyRegisterCodec = protoCodec(ApplyRegisterSchema);
export type ListChange = Fields<ApplyListChange>;
export const applyListChangeCodec = protoCodec(ApplyListChangeSchema);
export const applyAcknowledgeCodec = protoCodec(ApplyAcknowledgeSchema);
export const holdMessageCodec = protoCodec(HoldMessageSchema);

// ---- records ----
export const mpidAccountCodec = protoCodec(MpidAccountSchema);
export const heldMessageCodec = protoCodec(HeldMessageSchema);
