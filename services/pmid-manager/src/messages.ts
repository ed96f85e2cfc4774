import { type Fields, protoCodec, sender } from '@safe/core';
import { toPmidNode } from '@safe/messages';
import { PutResponseSchema as DataPutResponseSchema, HolderLostSchema } from '@safe/proto/data_manager';
import {
  AddVaultClientSchema,
  type Lost,
  type Put,
  type RecordDeleted as RecordDeletedMessage,
  RecordDeletedSchema,
  type RecordLost as RecordLostMessage,
  RecordLostSchema,
  RecordOfferSchema,
  type RecordStored as RecordStoredMessage,
  RecordStoredSchema,
} from '@safe/proto/pmid_manager';
import type { SendAccount } from '@safe/proto/pmid_node';

// What this persona receives is its rows of the message table (@safe/messages, toPmidManager).

/** A Put's fields; the chunk itself travels as the message's content. */
export type PutPayload = Fields<Put>;
/** A chunk copy: its name and which of its copy groups. */
export type ChunkRef = Pick<PutPayload, 'name' | 'copy'>;

export type RecordStored = Fields<RecordStoredMessage>;
export const recordStoredCodec = protoCodec(RecordStoredSchema);
/** A PmidNode's report; `reason` LOST when an older node leaves it out. */
export type NodeLost = Fields<Lost>;
/** `report`: the id of the node's Lost report (empty from an older sender). */
export type RecordLost = Fields<RecordLostMessage>;
export const recordLostCodec = protoCodec(RecordLostSchema);
export type RecordDeleted = Fields<RecordDeletedMessage>;
export const recordDeletedCodec = protoCodec(RecordDeletedSchema);
export const recordOfferCodec = protoCodec(RecordOfferSchema);
export const addVaultClientCodec = protoCodec(AddVaultClientSchema);

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('pmid-manager');
/** Payloads of the personas this one sends to. */
export type SendAccountBatch = Fields<SendAccount>;
export const nodeSendAccountCodec = toPmidNode.sendAccount.payload;
export const holderLostCodec = protoCodec(HolderLostSchema);
export const dataPutResponseCodec = protoCodec(DataPutResponseSchema);
