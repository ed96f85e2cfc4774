import type { ChunkCopy, LossReason, PutContext } from '@safe/chunks';
import { protoCodec, registerProtoFile } from '@safe/core';

registerProtoFile('safe/v1/pmid_node.proto');
registerProtoFile('safe/v1/pmid_manager.proto');
registerProtoFile('safe/v1/data_manager.proto');

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

export const putCodec = protoCodec<PutPayload>('safe.v1.pmid_node.Put');
export const deleteCodec = protoCodec<ChunkRef>('safe.v1.pmid_node.Delete');
export const getCodec = protoCodec<ChunkRef>('safe.v1.pmid_node.Get');
export const integrityCheckCodec = protoCodec<ChunkRef & { nonce: Uint8Array }>('safe.v1.pmid_node.IntegrityCheck');
export interface SendAccountBatch {
  round: Uint8Array;
  batch: number;
  batches: number;
  chunks: { name: Uint8Array; copy: ChunkCopy; size: number }[];
}
export const sendAccountCodec = protoCodec<SendAccountBatch>('safe.v1.pmid_node.SendAccount');

/** Answers, in the receiving persona's own payload types. */
export const putResponseCodec = protoCodec<{
  name: Uint8Array;
  copy: ChunkCopy;
  stored: boolean;
  error: string;
  size: number;
  context: PutContext | null;
}>('safe.v1.pmid_manager.PutResponse');
export const offerCodec = protoCodec<{ capacity: number }>('safe.v1.pmid_manager.Offer');
export const lostCodec = protoCodec<ChunkRef & { reason?: LossReason }>('safe.v1.pmid_manager.Lost');
export const getResponseCodec = protoCodec<{ name: Uint8Array; copy: ChunkCopy; content: Uint8Array; error: string }>(
  'safe.v1.data_manager.GetResponse',
);
export const integrityAnswerCodec = protoCodec<{ name: Uint8Array; copy: ChunkCopy; nonce: Uint8Array; held: boolean; digest: Uint8Array }>(
  'safe.v1.data_manager.IntegrityAnswer',
);
