import { type Codec, type Fields, protoCodec, sender } from '@safe/core';
import { toPmidNode } from '@safe/messages';
import { type Lost, LostSchema, OfferSchema, PutResponseSchema } from '@safe/proto/pmid_manager';
import type { Put, SendAccount } from '@safe/proto/pmid_node';

/** A Put's fields (proto safe.v1.pmid_node.Put); the chunk itself travels as the message's content. */
export type PutPayload = Fields<Put>;
/** A chunk copy: its name and which of its copy groups. */
export type ChunkRef = Pick<PutPayload, 'name' | 'copy'>;
export type SendAccountBatch = Fields<SendAccount>;

/** What this persona receives: the rows of the message table (@safe/messages), their codecs here by name. */
export const putCodec = toPmidNode.put.payload;
export const deleteCodec = toPmidNode.delete.payload;
export const getCodec = toPmidNode.get.payload;
export const integrityCheckCodec = toPmidNode.integrityCheck.payload;
export const sendAccountCodec = toPmidNode.sendAccount.payload;

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('pmid-node');
/** Answers, in the receiving persona's own payload types. */
export const putResponseCodec = protoCodec(PutResponseSchema);
export const offerCodec = protoCodec(OfferSchema);
/**
 * `reason` is left out for LOST, as nodes built before it was added sent it: the same report, the
 * same bytes (the codec writes a field that is given, even at its default).
 */
export const lostCodec: Codec<Omit<Fields<Lost>, 'reason'> & Partial<Pick<Fields<Lost>, 'reason'>>> = protoCodec(LostSchema);
