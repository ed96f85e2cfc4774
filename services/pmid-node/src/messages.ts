import { type Fields, sender } from '@safe/core';
import { toPmidNode } from '@safe/messages';
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
