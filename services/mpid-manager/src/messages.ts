import type { WireOrigin } from '@safe/chunks';
import { type ClientReplyValue, protoCodec, registerProtoFile } from '@safe/core';

registerProtoFile('safe/v1/mpid_manager.proto');

// Send times are uint64 milliseconds: decoded as numbers (exact up to 2^53, far past any clock).
const p = (type: string) => `safe.v1.mpid_manager.${type}`;

export interface MessageKey {
  sender: Uint8Array;
  id: Uint8Array;
}

/** A message as the recipient's MpidManagers hold it and the recipient's node receives it. */
export interface HeldMessage {
  sender: Uint8Array;
  from: string;
  id: Uint8Array;
  sentAt: number;
  body: Uint8Array;
}

/** One MPID's account: its owner, its key and its lists (sorted). */
export interface MpidAccount {
  name: string;
  publicKey: Uint8Array;
  owner: Uint8Array;
  white: string[];
  black: string[];
}

// ---- from the client (MpidNode) ----
export const createMpidCodec = protoCodec<{ name: string; publicKey: Uint8Array; signature: Uint8Array }>(p('CreateMpid'));
export const sendMessageCodec = protoCodec<{ from: Uint8Array; to: string; id: Uint8Array; body: Uint8Array; sentAt: number }>(
  p('SendMessage'),
);
export const getMessagesCodec = protoCodec<{ mpid: Uint8Array; nonce: Uint8Array }>(p('GetMessages'));
export const acknowledgeCodec = protoCodec<{ mpid: Uint8Array; keys: MessageKey[] }>(p('Acknowledge'));
export const listChangeCodec = protoCodec<{ mpid: Uint8Array; entry: string }>(p('ListChange'));
export const listRequestCodec = protoCodec<{ mpid: Uint8Array; nonce: Uint8Array }>(p('ListRequest'));

// ---- replies to the client ----
export const mpidInfoCodec = protoCodec<{ name: string; mpid: Uint8Array }>(p('MpidInfo'));
export const inboxCodec = protoCodec<{ messages: HeldMessage[]; more: number }>(p('Inbox'));
export const listsCodec = protoCodec<{ white: string[]; black: string[] }>(p('Lists'));

// ---- between MpidManager groups ----
export interface MessagePayload {
  recipient: Uint8Array;
  message: HeldMessage | null;
  origin: WireOrigin | null;
}
export const messageCodec = protoCodec<MessagePayload>(p('Message'));
export const messageResultCodec = protoCodec<{ recipient: Uint8Array; origin: WireOrigin | null; reply: ClientReplyValue | null }>(
  p('MessageResult'),
);

// ---- actions ----
export const applyRegisterCodec = protoCodec<{ account: MpidAccount | null; origin: WireOrigin | null }>(p('ApplyRegister'));
export interface ListChange {
  mpid: Uint8Array;
  black: boolean;
  add: boolean;
  entry: string;
  origin: WireOrigin | null;
}
export const applyListChangeCodec = protoCodec<ListChange>(p('ApplyListChange'));
export const applyAcknowledgeCodec = protoCodec<{ mpid: Uint8Array; keys: MessageKey[]; origin: WireOrigin | null }>(p('ApplyAcknowledge'));
export const holdMessageCodec = protoCodec<{
  recipient: Uint8Array;
  message: HeldMessage | null;
  origin: WireOrigin | null;
  answers: Uint8Array;
}>(p('HoldMessage'));

// ---- records ----
export const mpidAccountCodec = protoCodec<MpidAccount>(p('MpidAccount'));
export const heldMessageCodec = protoCodec<HeldMessage>(p('HeldMessage'));
