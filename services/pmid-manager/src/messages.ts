import type { ChunkCopy, LossReason, PutContext, WireOrigin } from '@safe/chunks';
import { protoCodec, registerProtoFile } from '@safe/core';
import type { PmidAccountRecord } from './records.js';

registerProtoFile('safe/v1/pmid_manager.proto');
registerProtoFile('safe/v1/pmid_node.proto');
registerProtoFile('safe/v1/data_manager.proto');
registerProtoFile('safe/v1/maid_manager.proto');

/** A Put's fields; the chunk itself travels as the message's content. */
export interface PutPayload {
  name: Uint8Array;
  copy: ChunkCopy;
  context: PutContext | null;
}
export interface ChunkRef {
  name: Uint8Array;
  copy: ChunkCopy;
}
export interface NodePutResponse {
  name: Uint8Array;
  copy: ChunkCopy;
  stored: boolean;
  error: string;
  size: number;
  context: PutContext | null;
}
export interface GetPmidHealth {
  pmid: Uint8Array;
  client: Uint8Array;
  origin: WireOrigin | null;
}

export const putCodec = protoCodec<PutPayload>('safe.v1.pmid_manager.Put');
export const deleteCodec = protoCodec<ChunkRef>('safe.v1.pmid_manager.Delete');
export const putResponseCodec = protoCodec<NodePutResponse>('safe.v1.pmid_manager.PutResponse');
export const getPmidHealthCodec = protoCodec<GetPmidHealth>('safe.v1.pmid_manager.GetPmidHealth');
export const offerCodec = protoCodec<{ capacity: number }>('safe.v1.pmid_manager.Offer');

export const recordStoredCodec = protoCodec<{
  pmid: Uint8Array;
  name: Uint8Array;
  copy: ChunkCopy;
  size: number;
  context: PutContext | null;
}>('safe.v1.pmid_manager.RecordStored');
export const loseCodec = protoCodec<ChunkRef>('safe.v1.pmid_manager.Lose');
/** A PmidNode's report; `reason` LOST when an older node leaves it out. */
export interface NodeLost extends ChunkRef {
  reason: LossReason;
}
export const lostCodec = protoCodec<NodeLost>('safe.v1.pmid_manager.Lost');
export interface RecordLost extends NodeLost {
  pmid: Uint8Array;
  /** The id of the node's Lost report (empty from an older sender). */
  report?: Uint8Array;
}
export const recordLostCodec = protoCodec<RecordLost>('safe.v1.pmid_manager.RecordLost');
export interface RecordDeleted {
  pmid: Uint8Array;
  name: Uint8Array;
  copy: ChunkCopy;
  lost: boolean;
}
export const recordDeletedCodec = protoCodec<RecordDeleted>('safe.v1.pmid_manager.RecordDeleted');
export const recordOfferCodec = protoCodec<{ pmid: Uint8Array; capacity: number }>('safe.v1.pmid_manager.RecordOffer');
export const addVaultClientCodec = protoCodec<{ pmid: Uint8Array; client: Uint8Array }>('safe.v1.pmid_manager.AddVaultClient');

/** Payloads of the personas this one sends to. */
export const nodePutCodec = protoCodec<PutPayload>('safe.v1.pmid_node.Put');
export const nodeDeleteCodec = protoCodec<ChunkRef>('safe.v1.pmid_node.Delete');
export interface SendAccountBatch {
  round: Uint8Array;
  batch: number;
  batches: number;
  chunks: PmidAccountRecord['chunks'];
}
export const nodeSendAccountCodec = protoCodec<SendAccountBatch>('safe.v1.pmid_node.SendAccount');
export const holderLostCodec = protoCodec<RecordLost>('safe.v1.data_manager.HolderLost');
export const dataPutResponseCodec = protoCodec<{
  name: Uint8Array;
  copy: ChunkCopy;
  pmid: Uint8Array;
  stored: boolean;
  error: string;
  context: PutContext | null;
  size: number;
}>('safe.v1.data_manager.PutResponse');
export const pmidHealthCodec = protoCodec<{
  pmid: Uint8Array;
  offered: number;
  stored: number;
  lost: number;
  client: Uint8Array;
  origin: WireOrigin | null;
  rank: number;
}>('safe.v1.maid_manager.PmidHealth');
