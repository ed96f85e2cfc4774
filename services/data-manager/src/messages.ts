import { type Codec, type Fields, protoCodec, sender } from '@safe/core';
import {
  AddSubscriberSchema,
  type CreateRecord as CreateRecordMessage,
  CreateRecordSchema,
  type Delete,
  type GetResponse as GetResponseMessage,
  type HolderLost,
  HolderLostSchema,
  type HolderResult as HolderResultMessage,
  HolderResultSchema,
  type IntegrityAnswer as IntegrityAnswerMessage,
  RemoveSubscriberSchema,
} from '@safe/proto/data_manager';

// What this persona receives is its rows of the message table (@safe/messages, toDataManager).

/** A chunk copy: its name and which of its copy groups. */
export type ChunkRef = Fields<Delete>;
/** A holder's answer to a Get, with the chunk it carried as the message's content (empty with an error). */
export type GetResponse = Fields<GetResponseMessage> & { readonly content: Uint8Array };

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

/** What this persona sends: rows of the message table (@safe/messages) it is declared a sender of. */
export const send = sender('data-manager');
