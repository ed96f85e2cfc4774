import { type Codec, type Fields, protoCodec, sender } from '@safe/core';
import {
  AddSubscriberSchema,
  type CreateRecord as CreateRecordMessage,
  CreateRecordSchema,
  DeleteSchema,
  type GetResponse as GetResponseMessage,
  GetResponseSchema,
  type HolderLost,
  HolderLostSchema,
  type HolderResult as HolderResultMessage,
  HolderResultSchema,
  type IntegrityAnswer as IntegrityAnswerMessage,
  IntegrityAnswerSchema,
  type Put,
  type PutResponse,
  PutResponseSchema,
  PutSchema,
  RemoveSubscriberSchema,
} from '@safe/proto/data_manager';
import { GetReplySchema, GetRequestSchema } from '@safe/proto/messages';
import { DeleteSchema as PmidDeleteSchema, LoseSchema as PmidLoseSchema, PutSchema as PmidPutSchema } from '@safe/proto/pmid_manager';

/** A Put from the MaidManagers; `unique` for Put<Unique>. The chunk travels as the message's content. */
export type DataPut = Fields<Put>;
/** A chunk copy: its name and which of its copy groups. */
export type ChunkRef = Pick<DataPut, 'name' | 'copy'>;
/** A Put's fields as the PmidManagers take them. */
export type PutPayload = Pick<DataPut, 'name' | 'copy' | 'context'>;
export type HolderAnswer = Fields<PutResponse>;
export type GetResponse = Fields<GetResponseMessage>;

export const putCodec = protoCodec(PutSchema);
export const deleteCodec = protoCodec(DeleteSchema);
export const putResponseCodec = protoCodec(PutResponseSchema);
export const getResponseCodec = protoCodec(GetResponseSchema);
export const getRequestCodec = protoCodec(GetRequestSchema);
export const getReplyCodec = protoCodec(GetReplySchema);

export type CreateRecord = Fields<CreateRecordMessage>;
export type HolderResult = Fields<HolderResultMessage>;
export const createRecordCodec = protoCodec(CreateRecordSchema);
export const addSubscriberCodec = protoCodec(AddSubscriberSchema);
export const removeSubscriberCodec = protoCodec(RemoveSubscriberSchema);
export const holderResultCodec = protoCodec(HolderResultSchema);
/**
 * A holder no longer has its copy: its PmidManagers report it lost (HolderLost), or the copy
 * group found it corrupt (HolderCorrupt, LoseHolder); `reason` says why (LOST when left out).
 */
export type HolderLoss = Omit<Fields<HolderLost>, 'reason'> & Partial<Pick<Fields<HolderLost>, 'reason'>>;
export const holderLossCodec: Codec<HolderLoss> = protoCodec(HolderLostSchema);
export type IntegrityAnswer = Fields<IntegrityAnswerMessage>;
export const integrityAnswerCodec = protoCodec(IntegrityAnswerSchema);

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('data-manager');
/** Payloads of the personas this one sends to (not in the table yet). */
export const pmidPutCodec = protoCodec(PmidPutSchema);
export const pmidDeleteCodec = protoCodec(PmidDeleteSchema);
export const pmidLoseCodec = protoCodec(PmidLoseSchema);
