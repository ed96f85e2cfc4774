import type { ChunkCopy, LossReason, PutContext, WireOrigin } from '@safe/chunks';
import { protoCodec, registerProtoFile } from '@safe/core';

registerProtoFile('safe/v1/data_manager.proto');
registerProtoFile('safe/v1/pmid_manager.proto');
registerProtoFile('safe/v1/pmid_node.proto');
registerProtoFile('safe/v1/maid_manager.proto');

export interface ChunkRef {
  name: Uint8Array;
  copy: ChunkCopy;
}
/** A Put's fields; the chunk itself travels as the message's content (Incoming.content, Outbound.content). */
export interface PutPayload extends ChunkRef {
  context: PutContext | null;
}
export interface HolderAnswer extends ChunkRef {
  pmid: Uint8Array;
  stored: boolean;
  error: string;
  context: PutContext | null;
  size: number;
}
export interface GetResponse extends ChunkRef {
  content: Uint8Array;
  error: string;
}

/** A Put from the MaidManagers; `unique` for Put<Unique>. */
export interface DataPut extends PutPayload {
  unique: boolean;
}
export const putCodec = protoCodec<DataPut>('safe.v1.data_manager.Put');
export const deleteCodec = protoCodec<ChunkRef>('safe.v1.data_manager.Delete');
export const putResponseCodec = protoCodec<HolderAnswer>('safe.v1.data_manager.PutResponse');
export const getResponseCodec = protoCodec<GetResponse>('safe.v1.data_manager.GetResponse');
export const getRequestCodec = protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.GetRequest');
export const getReplyCodec = protoCodec<{ content: Uint8Array }>('safe.v1.GetReply');

export interface CreateRecord extends ChunkRef {
  size: number;
  holders: Uint8Array[];
  context: PutContext | null;
  createdBy: number;
}
export interface HolderResult extends ChunkRef {
  pmid: Uint8Array;
  stored: boolean;
  context: PutContext | null;
  size: number;
}
export const createRecordCodec = protoCodec<CreateRecord>('safe.v1.data_manager.CreateRecord');
export const addSubscriberCodec = protoCodec<ChunkRef & { context: PutContext | null }>('safe.v1.data_manager.AddSubscriber');
export const removeSubscriberCodec = protoCodec<ChunkRef>('safe.v1.data_manager.RemoveSubscriber');
export const holderResultCodec = protoCodec<HolderResult>('safe.v1.data_manager.HolderResult');
/**
 * A holder no longer has its copy: its PmidManagers report it lost (HolderLost), or the copy
 * group found it corrupt (HolderCorrupt, LoseHolder); `reason` says why (LOST when left out).
 */
export type HolderLoss = ChunkRef & { pmid: Uint8Array; reason?: LossReason };
export const holderLossCodec = protoCodec<HolderLoss>('safe.v1.data_manager.HolderLost');
export interface IntegrityAnswer extends ChunkRef {
  nonce: Uint8Array;
  held: boolean;
  digest: Uint8Array;
}
export const integrityAnswerCodec = protoCodec<IntegrityAnswer>('safe.v1.data_manager.IntegrityAnswer');

/** Payloads of the personas this one sends to. */
export const pmidPutCodec = protoCodec<PutPayload>('safe.v1.pmid_manager.Put');
export const pmidDeleteCodec = protoCodec<ChunkRef>('safe.v1.pmid_manager.Delete');
export const nodeGetCodec = protoCodec<ChunkRef>('safe.v1.pmid_node.Get');
export const nodeIntegrityCheckCodec = protoCodec<ChunkRef & { nonce: Uint8Array }>('safe.v1.pmid_node.IntegrityCheck');
export const pmidLoseCodec = protoCodec<ChunkRef>('safe.v1.pmid_manager.Lose');
export const maidPutResponseCodec = protoCodec<{
  name: Uint8Array;
  copy: ChunkCopy;
  client: Uint8Array;
  origin: WireOrigin | null;
  stored: boolean;
  error: string;
  cost: number;
  exists: boolean;
}>('safe.v1.maid_manager.PutResponse');
